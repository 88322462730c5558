"""The ``mlic`` command line. Argument parsing and exit codes only; the work is done by the library."""
from __future__ import annotations

import argparse
import io
import json
import os
import signal
import sys
import threading
import time
import traceback
import warnings
from pathlib import Path

from . import __version__
from .errors import MlicError

IMAGE_FORMATS = {".png": "PNG", ".tif": "TIFF", ".tiff": "TIFF", ".bmp": "BMP", ".ppm": "PPM", ".pgm": "PPM", ".pnm": "PPM", ".webp": "WEBP"}


class CliError(Exception):
    pass


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", help="registered model name or weight file (default: the shipped model)")
    p.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    p.add_argument("--threads", type=int, help="CPU threads")
    p.add_argument("--max-pixels", type=int, default=None, help="refuse images larger than this many pixels")
    p.add_argument("--max-tile-pixels", type=int, default=None,
                   help="refuse tiles larger than this many pixels (bounds memory; default 4096×4096)")
    p.add_argument("--precision", choices=["auto", "fp32", "bf16"],
                   help="precision of g_a/g_s: auto (default) = bf16 where the CPU/GPU has it natively, fp32 = float32 "
                        "(the reference arithmetic; files stay compatible either way)")
    p.add_argument("--debug", action="store_true", help="show tracebacks")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="mlic", description="MLIC++ learned image compression.")
    p.add_argument("--version", action="version", version=f"mlic {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    e = sub.add_parser("encode", help="compress images to .mlic files")
    e.add_argument("inputs", nargs="+", help="image files, or - for standard input")
    e.add_argument("-o", "--output", help="output file (one input), folder (several), or - for standard output")
    e.add_argument("-q", "--quality", type=float, help="quality 1 (smallest) up to the model's number of levels (8 for mlicpp-small; `mlic models` lists them); "
                   "real values interpolate (default: the level trained for λ=0.013, 6 for mlicpp-small)")
    e.add_argument("--tile-size", type=int, default=None, help="tile size in pixels, a multiple of 64 (default 1024)")
    e.add_argument("--refine", type=int, default=0, metavar="STEPS",
                   help="search for cheaper latents for STEPS steps (slow: about 3 s per step for a 768×512 image on 2 CPU cores; "
                        "40 steps saved 3.7 %%, 80 steps 6.3 %% of the bits at equal PSNR on validation images; the decoder is unchanged). Default 0")
    e.add_argument("-f", "--force", action="store_true", help="overwrite existing outputs")
    _common(e)

    d = sub.add_parser("decode", help="decompress .mlic files to images")
    d.add_argument("inputs", nargs="+", help=".mlic files, or - for standard input")
    d.add_argument("-o", "--output", help="output file (one input), folder (several), or - for standard output (PNG)")
    d.add_argument("-f", "--force", action="store_true", help="overwrite existing outputs")
    _common(d)

    i = sub.add_parser("info", help="show the header, model, dimensions, bpp and records of a .mlic file")
    i.add_argument("inputs", nargs="+")
    i.add_argument("--json", action="store_true", help="print JSON")
    i.add_argument("--debug", action="store_true")
    i.add_argument("--max-pixels", type=int, default=None)

    m = sub.add_parser("models", help="list registered models")
    m.add_argument("--debug", action="store_true")

    demo = sub.add_parser("demo", help="encode and decode the bundled sample image, print size, bpp and PSNR")
    demo.add_argument("-q", "--quality", type=float)
    _common(demo)

    ev = sub.add_parser("eval", help="rate–distortion evaluation against classical codecs with real files")
    ev.add_argument("dataset", help="folder of images (recursive)")
    ev.add_argument("-o", "--output", default="eval-results", help="output folder (JSON per codec, per-image CSV, cache)")
    ev.add_argument("--codecs", default="mlic,jpeg,webp,avif,heic,jxl,jpeg2000,vvc", help="comma-separated codec names")
    ev.add_argument("--qualities", action="append", default=[], metavar="CODEC=Q1,Q2,...", help="override a codec's quality grid")
    ev.add_argument("--workers", type=int, default=1, help="processes for the classical codecs")
    ev.add_argument("--limit", type=int, help="use only the first N images")
    ev.add_argument("--plot", action="store_true", help="also write rd.png")
    ev.add_argument("--refine", type=int, default=0, metavar="STEPS", help="encode mlic files with latent refinement (see mlic encode --refine)")
    _common(ev)

    bd = sub.add_parser("bdrate", help="BD-rate and BD-PSNR of a result JSON against an anchor JSON")
    bd.add_argument("test")
    bd.add_argument("anchor")
    bd.add_argument("--metric", default="psnr-rgb")
    bd.add_argument("--method", default="akima", choices=["akima", "pchip", "cubic"])
    bd.add_argument("--debug", action="store_true")

    pl = sub.add_parser("plot", help="plot RD curves of result JSONs")
    pl.add_argument("results", nargs="+")
    pl.add_argument("-o", "--output", required=True, help="PNG or SVG file")
    pl.add_argument("--reference", action="append", default=[], help="bundled reference curve (see --list-references) or JSON")
    pl.add_argument("--title")
    pl.add_argument("--debug", action="store_true")

    be = sub.add_parser("bench", help="encode/decode time and peak memory against resolution")
    be.add_argument("--sizes", default="256,512,1024,2048,4096", help="square sizes in pixels")
    be.add_argument("--repeat", type=int, default=1)
    be.add_argument("-o", "--output", default="bench-results", help="output folder (bench.json, bench.png)")
    _common(be)

    t = sub.add_parser("train", help="train a model (see docs/training.md)", add_help=False)
    t.add_argument("rest", nargs=argparse.REMAINDER)
    return p


def _setup(args) -> None:
    if getattr(args, "threads", None):
        import torch

        torch.set_num_threads(args.threads)
    if getattr(args, "device", "cpu").startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise CliError("--device cuda asked for, but no CUDA device is available")


def _limits(args) -> dict:
    kw = {"max_pixels": args.max_pixels} if getattr(args, "max_pixels", None) else {}
    if getattr(args, "max_tile_pixels", None):
        kw["max_tile_pixels"] = args.max_tile_pixels
    if getattr(args, "precision", None):
        kw["precision"] = args.precision
    return kw


def _read_input(name: str):
    return sys.stdin.buffer.read() if name == "-" else name


def _write(target: str, data: bytes, force: bool) -> None:
    from ._io import atomic_write_bytes

    if target == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    else:
        atomic_write_bytes(target, data, force=force)


def _targets(inputs: list[str], output: str | None, suffix: str) -> list[str]:
    if len(inputs) == 1:
        if output:
            return [output]
        if inputs[0] == "-":
            return ["-"]
        return [str(Path(inputs[0]).with_suffix(suffix))]
    if output == "-":
        raise CliError("several inputs cannot all go to standard output")
    if "-" in inputs:
        raise CliError("standard input (-) can only be used alone")
    if output:
        Path(output).mkdir(parents=True, exist_ok=True)
        names = [str(Path(output) / (Path(i).stem + suffix)) for i in inputs]
    else:
        names = [str(Path(i).with_suffix(suffix)) for i in inputs]
    if len(set(names)) != len(names):
        raise CliError("several inputs would write the same output name; use distinct names")
    return names


def _progress(items, enabled: bool, desc: str):
    from ._progress import progress_bar

    return progress_bar(items, desc=desc, disable=not enabled or len(items) < 2, dynamic_ncols=True)


def _run_batch(args, jobs, desc: str, work) -> int:
    failures = 0
    for src, dst in _progress(jobs, True, desc):
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                work(src, dst)
            for w in caught:
                print(f"mlic: note: {src}: {w.message}", file=sys.stderr)
        except (MlicError, CliError, OSError, ValueError) as exc:
            if _signal_received.is_set():  # an interrupt in disguise (see _interrupt): stop the batch
                raise KeyboardInterrupt from exc
            failures += 1
            if args.debug:
                traceback.print_exc()
            print(f"mlic: error: {src}: {_message(exc)}", file=sys.stderr)
    return 1 if failures else 0


def _message(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror and not isinstance(exc, MlicError):
        return f"{exc.strerror}" + (f": {exc.filename}" if exc.filename else "")
    return str(exc) or type(exc).__name__


def _check_target(src: str, dst: str, force: bool) -> None:
    """Never overwrite without --force, and never the input itself."""
    if dst == "-" or not os.path.exists(dst):
        return
    if not force:
        raise CliError(f"{dst} exists (use --force to overwrite)")
    if src != "-" and os.path.samefile(src, dst):
        raise CliError("output would overwrite the input")


def cmd_encode(args) -> int:
    from .codec import encode_image

    kw = _limits(args)
    if args.tile_size:
        kw["tile_size"] = args.tile_size
    targets = _targets(args.inputs, args.output, ".mlic")

    def work(src, dst):
        _check_target(src, dst, args.force)
        data = encode_image(_read_input(src), args.quality, args.model, device=args.device,
                            refine_steps=args.refine, progress=args.refine > 0, **kw)
        _write(dst, data, args.force)

    if args.refine < 0:
        raise CliError(f"--refine takes a number of steps ≥ 0, got {args.refine}")
    return _run_batch(args, list(zip(args.inputs, targets)), "encode", work)


def cmd_decode(args) -> int:
    from .codec import decode_image

    kw = _limits(args)
    targets = _targets(args.inputs, args.output, ".png")

    def work(src, dst):
        ext = Path(dst).suffix.lower() if dst != "-" else ".png"
        if ext not in IMAGE_FORMATS:
            raise CliError(f"unsupported output format {ext!r} (use one of {', '.join(sorted(IMAGE_FORMATS))})")
        _check_target(src, dst, args.force)
        im = decode_image(_read_input(src), args.model, device=args.device, **kw)
        buf = io.BytesIO()
        save_kw = {"icc_profile": im.info["icc_profile"]} if im.info.get("icc_profile") and IMAGE_FORMATS[ext] in ("PNG", "TIFF", "WEBP") else {}
        if IMAGE_FORMATS[ext] == "WEBP":
            save_kw["lossless"] = True
        im.save(buf, format=IMAGE_FORMATS[ext], **save_kw)
        _write(dst, buf.getvalue(), args.force)

    return _run_batch(args, list(zip(args.inputs, targets)), "decode", work)


def cmd_info(args) -> int:
    from .codec import read_info

    status = 0
    for src in args.inputs:
        try:
            info = read_info(_read_input(src), **_limits(args))
        except MlicError as exc:
            print(f"mlic: error: {src}: {exc}", file=sys.stderr)
            status = 1
            continue
        if args.json:
            print(json.dumps(info | {"file": src}, indent=2))
            continue
        print(f"{src}: .mlic {info['format_version']}, {info['width']}×{info['height']} {info['mode']} {info['bit_depth']}-bit")
        q = "fixed rate" if info["quality"] is None else f"quality {info['quality']:g}"
        print(f"  model {info['model']} (id {info['model_id']}), {q}")
        print(f"  {info['file_bytes']:,} bytes, {info['bpp']:.4f} bpp; {info['tiles']} tile(s) of {info['tile_size']} px, padding {info['pad_mode']}")
        if info["icc_profile_bytes"]:
            print(f"  ICC profile: {info['icc_profile_bytes']:,} bytes")
        # Format 3.0 stores framed records, 1.x/2.x PNG-style chunks; the JSON key stays "chunks" for both.
        print("  records:" if int(info["format_version"].split(".")[0]) >= 3 else "  chunks:")
        for c in info["chunks"]:
            print(f"    {c['type']}  offset {c['offset']:>10,}  length {c['length']:>10,}")
    return status


def cmd_models(args) -> int:
    from .models.registry import _REGISTRY, DEFAULT_MODEL, _packaged

    for name in sorted(_REGISTRY):
        spec = _REGISTRY[name]
        installed = "random init" if spec.weights is None else ("installed" if _packaged(spec.weights) else "weights missing")
        star = "*" if name == DEFAULT_MODEL else " "
        cfg = spec.config
        rates = f"q 1–{cfg.num_rates} (default {cfg.default_quality:g})" if cfg.num_rates else "fixed rate"
        print(f"{star} {name:18s} {installed:15s} {rates:20s} {spec.description}")
    return 0


def cmd_demo(args) -> int:
    from importlib import resources

    import numpy as np
    from PIL import Image

    from .codec import decode_image, encode_image, read_info
    from .evaluate.metrics import psnr_8bit

    sample = Path(str(resources.files("mlic") / "samples" / "flower.png"))
    t0 = time.perf_counter()
    data = encode_image(sample, args.quality, args.model, device=args.device, **_limits(args))
    t1 = time.perf_counter()
    out = decode_image(data, args.model, device=args.device, **_limits(args))
    t2 = time.perf_counter()
    psnr = psnr_8bit(np.asarray(Image.open(sample).convert("RGB")), np.asarray(out.convert("RGB")))
    info = read_info(data)
    print(f"sample   {sample.name} ({info['width']}×{info['height']}, {sample.stat().st_size:,} bytes PNG)")
    print(f"model    {info['model']}, quality {info['quality']}")
    print(f"encoded  {info['file_bytes']:,} bytes = {info['bpp']:.4f} bpp")
    print(f"PSNR     {psnr:.2f} dB (RGB)")
    print(f"time     encode {t1 - t0:.2f} s, decode {t2 - t1:.2f} s (first call includes loading the model)")
    return 0


def cmd_eval(args) -> int:
    from .evaluate.runner import evaluate, format_bd_table

    qualities = {}
    for item in args.qualities:
        name, _, values = item.partition("=")
        if not values:
            raise CliError(f"--qualities expects CODEC=Q1,Q2,..., got {item!r}")
        qualities[name] = [float(v) if name in ("mlic", "jxl") else int(float(v)) for v in values.split(",")]
    codecs = [c.strip() for c in args.codecs.split(",") if c.strip()]
    res = evaluate(args.dataset, args.output, codecs, qualities, args.model, args.workers, args.device, args.limit,
                   precision=args.precision or "auto", refine_steps=args.refine)
    if res["summary"]["bd"]:  # empty when no anchor codec was evaluated: nothing to compare
        print(format_bd_table(res["summary"]["bd"]))
    if args.plot:
        from .evaluate.plot import plot_rd

        plot_rd([str(Path(args.output) / f"{c}.json") for c in res["curves"]], Path(args.output) / "rd.png")
    print(f"results in {args.output}/")
    return 0


def cmd_bdrate(args) -> int:
    from .evaluate.bdrate import bd_metrics
    from .evaluate.results import load_curve

    r = bd_metrics(load_curve(args.test), load_curve(args.anchor), args.metric, args.method)
    print(f"BD-rate {r['bd_rate']:+.2f} %   BD-PSNR {r['bd_psnr']:+.3f} dB   ({args.metric}, {r['method']} interpolation, "
          f"overlap {r['overlap'][0]:.2f}–{r['overlap'][1]:.2f})" if r.get("overlap") else f"curves do not overlap: {r.get('note')}")  # fmt: skip
    return 0


def cmd_plot(args) -> int:
    from .evaluate.plot import plot_rd

    print(plot_rd(args.results, args.output, args.reference, args.title))
    return 0


def cmd_bench(args) -> int:
    from .evaluate.bench import run_bench

    sizes = [int(s) for s in args.sizes.split(",")]
    run_bench(args.model, sizes, args.output, args.device, args.repeat, args.threads, args.precision or "fp32")
    return 0


COMMANDS = {"eval": cmd_eval, "bdrate": cmd_bdrate, "plot": cmd_plot, "bench": cmd_bench, "encode": cmd_encode, "decode": cmd_decode, "info": cmd_info, "models": cmd_models, "demo": cmd_demo}


_signal_received = threading.Event()


def _interrupt(signum, frame):
    # SIGTERM (kill, timeouts, service managers) takes the same clean path as Ctrl-C: temporary
    # outputs are removed and nothing partial is left behind. The signal is recorded as well as
    # raised because a KeyboardInterrupt raised while torch's C++ code runs can surface as an
    # unrelated error (ValueError "could not determine the shape of object type
    # 'torch.storage.UntypedStorage'" while loading a model), which must not pass for a bad input.
    _signal_received.set()
    raise KeyboardInterrupt


# Commands that load a model and code images. In their process `import torch` leaves ~180,000 objects
# that the garbage collector would scan in full once, ~0.1 s, while the first image is coded; frozen,
# they are skipped (benchmarks/model_load.py measures it). Only for the short-lived command-line
# process: a library call does not change its caller's collector.
_CODING_COMMANDS = {"encode", "decode", "demo"}


def _freeze_imported_objects() -> None:
    import gc

    from . import codec  # noqa: F401  (imports torch and the model code first)

    gc.freeze()


def main(argv=None, short_lived: bool = False) -> int:
    """Run the `mlic` command line. ``short_lived``: this process ends with the command (the console
    script), so it may tune process-wide settings such as the garbage collector."""
    argv = list(sys.argv[1:] if argv is None else argv)
    _signal_received.clear()
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, _interrupt)
        signal.signal(signal.SIGTERM, _interrupt)
    args = None
    try:
        if argv[:1] == ["train"]:  # its own parser (shared with python -m mlic.train and torchrun)
            from .train.loop import main as train_main

            return train_main(argv[1:])
        args = build_parser().parse_args(argv)
        _setup(args)
        if short_lived and args.command in _CODING_COMMANDS:
            _freeze_imported_objects()
        return COMMANDS[args.command](args)
    except KeyboardInterrupt:  # Ctrl-C; under train only the second one, which aborts without saving
        print("mlic: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if _signal_received.is_set():  # an interrupt in disguise, whatever its type (see _interrupt)
            print("mlic: interrupted", file=sys.stderr)
            return 130
        if not isinstance(exc, (MlicError, CliError, OSError, ValueError)):
            raise
        if getattr(args, "debug", False):
            traceback.print_exc()
        print(f"mlic: error: {_message(exc)}", file=sys.stderr)
        return 1


def entry() -> None:
    sys.exit(main(short_lived=True))
