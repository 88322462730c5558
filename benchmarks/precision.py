"""fp32 against bf16 transforms (g_a, g_s), side by side in one run: time, bits, PSNR, latents.

    python benchmarks/precision.py [--model mlicpp-small] [--size 512x768] [--repeat 3]

The symbol path (h_s, contexts, parameter nets, LRP) is float32 in both; a file written with either
precision decodes with either.
"""
import argparse
import time
import torch

from mlic.evaluate.bench import bpp_psnr, bundled_photo, nontrivial_model


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", default="mlicpp-small")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--quality", type=float, default=4.0)
    a = p.parse_args()
    model = nontrivial_model(a.model)
    rgb, x = bundled_photo()
    q = a.quality if model.config.num_rates else None
    print(f"model {a.model}, {x.shape[3]}×{x.shape[2]}, {torch.get_num_threads()} threads, bf16 supported by oneDNN: "
          f"{torch.ops.mkldnn._is_mkldnn_bf16_supported()}")  # fmt: skip
    res = {}
    for prec in ("fp32", "bf16", "fp32", "bf16"):  # interleaved, so drift of the machine hits both
        model.transform_precision = prec
        enc_t, dec_t = [], []
        for _ in range(a.repeat):
            t0 = time.perf_counter()
            enc = model.compress(x, q)
            t1 = time.perf_counter()
            dec = model.decompress(enc["strings"], enc["shape"], q)
            t2 = time.perf_counter()
            enc_t.append(t1 - t0)
            dec_t.append(t2 - t1)
        bpp, psnr = bpp_psnr(enc, dec, rgb)
        r = res.setdefault(prec, {"enc": [], "dec": [], "bpp": bpp, "psnr": psnr, "enc_obj": enc})
        r["enc"] += enc_t
        r["dec"] += dec_t
    for prec, r in res.items():
        print(f"{prec}: encode {min(r['enc']):.3f} s, decode {min(r['dec']):.3f} s, {r['bpp']:.4f} bpp, PSNR {r['psnr']:.3f} dB")
    f, b = res["fp32"], res["bf16"]
    print(f"bf16 vs fp32: encode ×{min(f['enc']) / min(b['enc']):.2f}, decode ×{min(f['dec']) / min(b['dec']):.2f} faster; "
          f"ΔPSNR {b['psnr'] - f['psnr']:+.3f} dB, Δbpp {100 * (b['bpp'] / f['bpp'] - 1):+.2f} %")  # fmt: skip
    # Cross-decoding: a bf16-encoded file decodes with the fp32 decoder to the same latents.
    enc = b["enc_obj"]
    model.transform_precision = "fp32"
    cross = model.decompress(enc["strings"], enc["shape"], q, checksums=enc["checksums"])
    print("bf16-encoded file decoded by the fp32 path: latents identical =", torch.equal(cross["y_hat"], enc["y_hat"]))


if __name__ == "__main__":
    main()
