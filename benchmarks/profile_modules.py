"""Where one encode and one decode spend their time, per module (forward hooks).

    python benchmarks/profile_modules.py [--model mlicpp-official] [--size 512x768] [--precision bf16]

Modules: g_a, g_s, h_a, h_s and, summed over slices, each network of MEM++ (local/channel/inter/intra
context, parameter nets, LRP). Everything but g_a/g_s is the float32 symbol path.
"""
import argparse
import collections
import time


from mlic.evaluate.bench import nontrivial_model, parse_size, smooth_input


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", default="mlicpp-official")
    p.add_argument("--size", default="512x768")
    p.add_argument("--precision", default="fp32")
    a = p.parse_args()
    model = nontrivial_model(a.model)
    model.transform_precision = a.precision
    totals = collections.defaultdict(float)
    started = {}

    def timed(key):
        def pre(mod, inp):
            started[key] = time.perf_counter()

        def post(mod, inp, out):
            totals[key] += time.perf_counter() - started[key]

        return pre, post

    for name, mod in model.named_modules():
        parts = name.split(".")
        if name in ("g_a", "g_s", "h_a", "h_s") or (len(parts) == 3 and parts[0] == "slices"):
            key = name if parts[0] != "slices" else "slices.*." + parts[2]
            pre, post = timed(key)
            mod.register_forward_pre_hook(pre)
            mod.register_forward_hook(post)
    # g_a/g_s in bf16 run as cached copies (no hooks): their time is what the rest leaves.
    x = smooth_input(*parse_size(a.size))
    q = 4.0 if model.variable_rate else None
    enc = model.compress(x, q)  # warm-up
    for label, run in (("encode", lambda: model.compress(x, q)), ("decode", lambda: model.decompress(enc["strings"], enc["shape"], q))):
        totals.clear()
        t = time.perf_counter()
        run()
        total = time.perf_counter() - t
        print(f"{label} {total:.3f} s ({a.model}, {a.size}, transforms {a.precision})")
        for key, v in sorted(totals.items(), key=lambda kv: -kv[1]):
            print(f"  {key:28s} {v:6.3f} s {100 * v / total:5.1f} %")
        print(f"  {'rest (incl. bf16 transforms)':28s} {total - sum(totals.values()):6.3f} s")


if __name__ == "__main__":
    main()
