"""Channels-last against plain-layout float32 transforms on CPU, side by side in one run.

    python benchmarks/transform_layout.py [--model mlicpp-small] [--repeat 3] [--rounds 2]

Times g_a and g_s alone and a whole encode + decode of the bundled 768×512 photo
(``model.compress``/``decompress``, real bitstreams) with ``channels_last_transforms`` on and off,
interleaved round by round so drift of the machine hits both; best of ``repeat`` per round. The
symbol path is the same in both; the files decode either way.
"""
import argparse
import time
import torch

from mlic.evaluate.bench import bpp_psnr, bundled_photo, nontrivial_model


def best(fn, repeat):
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", default="mlicpp-small")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--rounds", type=int, default=2)
    a = p.parse_args()
    model = nontrivial_model(a.model)
    rgb, x = bundled_photo()
    q = model.config.default_quality if model.config.num_rates else None
    flags = " ".join(f for f in ("avx2", "avx512f", "avx512_bf16", "amx_bf16") if f in open("/proc/cpuinfo").read().split())
    print(f"model {a.model}, {x.shape[3]}×{x.shape[2]}, {torch.get_num_threads()} threads, torch {torch.__version__}, "
          f"CPU flags: {flags}")  # fmt: skip
    rows = {}
    with torch.no_grad():
        enc = model.compress(x, q)
        y_hat = enc["y_hat"]
        for _ in range(a.rounds):
            for layout in (False, True):
                model.channels_last_transforms = layout
                model.compress(x, q)  # warm-up: oneDNN primitives, the channels-last copies
                r = rows.setdefault(layout, {"g_a": [], "g_s": [], "encode": [], "decode": []})
                r["g_a"].append(best(lambda: model._transform(model.g_a, x), a.repeat))
                r["g_s"].append(best(lambda: model._transform(model.g_s, y_hat), a.repeat))
                r["encode"].append(best(lambda: model.compress(x, q), a.repeat))
                e = model.compress(x, q)
                r["decode"].append(best(lambda: model.decompress(e["strings"], e["shape"], q), a.repeat))
        quality = {}
        for layout in (False, True):
            model.channels_last_transforms = layout
            e = model.compress(x, q)
            quality[layout] = (*bpp_psnr(e, model.decompress(e["strings"], e["shape"], q), rgb), e)
        # A file written with one layout decodes with the other to the same latents.
        model.channels_last_transforms = False
        e = quality[True][2]
        cross = model.decompress(e["strings"], e["shape"], q, checksums=e["checksums"])
        del model.channels_last_transforms
    plain, cl = rows[False], rows[True]
    for part in ("g_a", "g_s", "encode", "decode"):
        print(f"{part:7s} plain {min(plain[part]):.3f} s   channels-last {min(cl[part]):.3f} s   "
              f"×{min(plain[part]) / min(cl[part]):.2f}   (per round: plain {', '.join(f'{t:.3f}' for t in plain[part])}; "
              f"channels-last {', '.join(f'{t:.3f}' for t in cl[part])})")  # fmt: skip
    total_plain = min(plain["encode"]) + min(plain["decode"])
    total_cl = min(cl["encode"]) + min(cl["decode"])
    (bpp_p, psnr_p, _), (bpp_c, psnr_c, _) = quality[False], quality[True]
    print(f"quality {q}: plain {bpp_p:.4f} bpp {psnr_p:.3f} dB, channels-last {bpp_c:.4f} bpp {psnr_c:.3f} dB "
          f"(Δbpp {100 * (bpp_c / bpp_p - 1):+.2f} %, ΔPSNR {psnr_c - psnr_p:+.4f} dB); channels-last file decoded by the plain "
          f"path: latents identical = {torch.equal(cross['y_hat'], e['y_hat'])}")  # fmt: skip
    print(f"encode + decode: plain {total_plain:.3f} s, channels-last {total_cl:.3f} s, ×{total_plain / total_cl:.2f}")


if __name__ == "__main__":
    main()
