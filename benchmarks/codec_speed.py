"""Encode/decode time and peak memory of an MLIC++ configuration, with real bitstreams.

Weights follow the official fixture recipe in spirit: random init, then the last layers of g_a and of
the parameter nets are scaled so latents and means are non-trivial (the coder then does real work).

    python benchmarks/codec_speed.py --model mlicpp-official --size 512x768 --repeat 2
    python benchmarks/codec_speed.py --device cuda --size 512x768 2048x2048
"""
import argparse
import json
import resource
import time

import torch

from mlic.models import MLICConfig, MLICPlusPlus
from mlic.models.registry import _REGISTRY, load_model


def nontrivial_model(name: str, device) -> MLICPlusPlus:
    spec = _REGISTRY.get(name)
    if spec is not None and spec.weights is None:
        torch.manual_seed(0)
        model = MLICPlusPlus(spec.config)
        with torch.no_grad():
            last = model.g_a[-1]
            last.weight.mul_(40.0)
            last.bias.mul_(40.0)
            for s in model.slices:
                for net in (s.params_anchor, s.params_nonanchor):
                    net[-1].weight.mul_(20.0)
        model.update(force=True)
        return model.to(device).eval()
    return load_model(name, device=device)


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def measure(model, size, device, repeat: int, quality):
    h, w = size
    torch.manual_seed(1)
    x = torch.rand(1, 3, h, w, device=device)
    q = quality if model.config.num_rates else None
    times = {"encode_s": [], "decode_s": []}
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    for _ in range(repeat + 1):  # first round warms up
        _sync(device)
        t0 = time.perf_counter()
        enc = model.compress(x, q)
        _sync(device)
        t1 = time.perf_counter()
        dec = model.decompress(enc["strings"], enc["shape"], q)
        _sync(device)
        t2 = time.perf_counter()
        times["encode_s"].append(t1 - t0)
        times["decode_s"].append(t2 - t1)
    assert torch.equal(dec["y_hat"], enc["y_hat"]), "decoded latents differ from the encoder's"
    nbytes = sum(len(s[0]) for s in enc["strings"])
    row = {"size": f"{h}x{w}", "bpp": round(nbytes * 8 / (h * w), 4), "encode_s": round(min(times["encode_s"][1:]), 3),
           "decode_s": round(min(times["decode_s"][1:]), 3)}  # fmt: skip
    if device.type == "cuda":
        row["peak_gpu_mib"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    row["peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    return row


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", default="mlicpp-official")
    p.add_argument("--size", nargs="+", default=["512x768"])
    p.add_argument("--device", default="cpu")
    p.add_argument("--repeat", type=int, default=2)
    p.add_argument("--quality", type=float, default=4.0)
    p.add_argument("--threads", type=int)
    p.add_argument("--json")
    a = p.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    device = torch.device(a.device)
    model = nontrivial_model(a.model, device)
    rows = []
    print(f"model {a.model}, device {device} ({torch.cuda.get_device_name() if device.type == 'cuda' else f'{torch.get_num_threads()} threads'}), torch {torch.__version__}")
    for s in a.size:
        h, w = (int(v) for v in s.lower().split("x"))
        with torch.no_grad():
            row = measure(model, (h, w), device, a.repeat, a.quality)
        rows.append(row)
        print(json.dumps(row), flush=True)
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"model": a.model, "device": str(device), "rows": rows}, f, indent=2)


if __name__ == "__main__":
    main()
