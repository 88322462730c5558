"""Encode/decode time of an MLIC++ configuration at fixed sizes, with real bitstreams.

Configurations without trained weights get random weights calibrated to realistic latents
(``mlic.evaluate.bench.nontrivial_model``). Each size runs in its own process, so peak memory is
that size's own.

    python benchmarks/codec_speed.py                          # official configuration, 512×768, CPU
    python benchmarks/codec_speed.py --device cuda --size 512x768 2160x3840 --precision fp32 bf16
"""
import argparse
import itertools
import json

import torch

from mlic.evaluate.bench import measure, nontrivial_model, parse_size

# The official code on this 2-core CPU, quiet machine, float32 (issue #2).
OFFICIAL_CPU_512x768 = {"encode_s": 3.2, "decode_s": 4.0}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", default="mlicpp-official")
    p.add_argument("--size", nargs="+", default=["512x768"])
    p.add_argument("--device", default="cpu")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--threads", type=int)
    p.add_argument("--precision", nargs="+", default=["fp32"], choices=["fp32", "bf16"], help="of g_a/g_s; several run side by side")
    p.add_argument("--json")
    a = p.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    model = nontrivial_model(a.model, a.device)
    dev = torch.cuda.get_device_name() if a.device.startswith("cuda") else f"CPU, {torch.get_num_threads()} threads"
    print(f"model {a.model}, {dev}, torch {torch.__version__}, best of {a.repeat}")
    rows = []
    for s, prec in itertools.product(a.size, a.precision):
        model.transform_precision = prec
        h, w = parse_size(s)
        row = measure(model, h, w, a.device, a.repeat, warmup=True)
        row["precision"] = prec
        rows.append(row)
        line = f"{h}×{w} {prec}: encode {row['encode_s']:.3f} s, decode {row['decode_s']:.3f} s, {row['bpp']:.3f} bpp"
        if "peak_gpu_mib" in row:
            line += f", peak GPU memory {row['peak_gpu_mib']:.0f} MiB"
        if a.device == "cpu" and (h, w) == (512, 768) and a.model == "mlicpp-official":
            line += (f"  | vs official code (3.2 s / 4.0 s): encode ×{OFFICIAL_CPU_512x768['encode_s'] / row['encode_s']:.2f}, "
                     f"decode ×{OFFICIAL_CPU_512x768['decode_s'] / row['decode_s']:.2f} faster")  # fmt: skip
        print(line, flush=True)
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"model": a.model, "device": dev, "rows": rows}, f, indent=2)


if __name__ == "__main__":
    main()
