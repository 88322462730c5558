"""What a fresh `mlic encode`/`decode`/`demo` process pays before and after the start-up work was trimmed.

    python benchmarks/model_load.py [--rounds 6] [--model mlicpp-small]

Each measurement is a fresh process doing what `mlic demo` does: load the model, encode the bundled
768×512 photo at the default quality (`mlic.encode_image`), decode it (`mlic.decode_image`). Modes:

* ``before``: the model drawn with random initial weights before the file overwrites them, the
  garbage collector left alone (the code before models/construction.py);
* ``skip-init``: construction without the random initialisation (what a library caller gets);
* ``cli``: that, plus ``gc.freeze()`` after the imports, as the `mlic` command does.

The modes alternate round by round (order reversed every other round) so the machine's drift hits all
of them; medians are printed, with the number of full (generation-2) garbage collections each process ran
during load + encode + decode, and every run must decode to the same pixels.
"""
import argparse
import contextlib
import hashlib
import json
import statistics
import subprocess
import sys
import time

MODES = ("before", "skip-init", "cli")


def child(mode: str, model_name: str) -> None:
    import gc
    from importlib import resources

    import mlic.models.registry as registry
    from mlic.codec import api

    if mode == "before":
        registry.skip_parameter_init = contextlib.nullcontext
    if mode == "cli":
        gc.freeze()
    full_collections = []  # generation-2 collections during load + encode + decode
    gc.callbacks.append(lambda phase, info: full_collections.append(1) if phase == "stop" and info["generation"] == 2 else None)
    sample = resources.files("mlic") / "samples" / "flower.png"
    t0 = time.perf_counter()
    api.get_model(model_name)
    t1 = time.perf_counter()
    data = api.encode_image(sample, 6.0, model_name)
    t2 = time.perf_counter()
    image = api.decode_image(data, model_name)
    t3 = time.perf_counter()
    digest = hashlib.sha256(image.tobytes()).hexdigest()
    print(json.dumps({"load": t1 - t0, "encode": t2 - t1, "decode": t3 - t2, "full_gc": len(full_collections),
                      "digest": digest}))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--rounds", type=int, default=6)
    p.add_argument("--model", default="mlicpp-small")
    p.add_argument("--child", choices=MODES, help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.child:
        return child(a.child, a.model)
    runs = {m: [] for m in MODES}
    for r in range(a.rounds):
        for mode in MODES if r % 2 == 0 else MODES[::-1]:
            out = subprocess.run([sys.executable, __file__, "--child", mode, "--model", a.model], check=True,
                                 capture_output=True, text=True).stdout
            runs[mode].append(json.loads(out.strip().splitlines()[-1]))
    digests = {m["digest"] for rs in runs.values() for m in rs}
    print(f"{a.model}, {a.rounds} fresh processes per mode, alternating; medians (min–max) in seconds")
    print("| mode | load | first encode | first decode | load + encode + decode | full GCs |\n|---|---|---|---|---|---|")
    med = {}
    for mode, rs in runs.items():
        cols = []
        for key in ("load", "encode", "decode", "total"):
            vals = [m["load"] + m["encode"] + m["decode"] if key == "total" else m[key] for m in rs]
            med[mode, key] = statistics.median(vals)
            cols.append(f"{med[mode, key]:.3f} ({min(vals):.2f}–{max(vals):.2f})")
        cols.append("/".join(str(m["full_gc"]) for m in rs))
        print(f"| {mode} | " + " | ".join(cols) + " |")
    for mode in MODES[1:]:
        print(f"{mode} against before: load ×{med['before', 'load'] / med[mode, 'load']:.2f}, load + encode + decode "
              f"×{med['before', 'total'] / med[mode, 'total']:.2f} ({med['before', 'total'] - med[mode, 'total']:+.3f} s)")
    print("decoded images identical in all runs:", len(digests) == 1)
    if len(digests) != 1:
        sys.exit(1)


if __name__ == "__main__":
    main()
