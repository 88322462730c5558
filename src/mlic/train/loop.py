"""The training loop: one process, or many under ``torchrun`` (DistributedDataParallel).

Only rank 0 writes (checkpoints, logs, exported weights). Checkpoints are written atomically and
hold everything needed to continue bit-exactly: model, both optimizers, step, RNG states (and, with
``--ema``, the moving average of the weights).
"""
from __future__ import annotations

import argparse
import csv
import io
import json
import math
import os
import random
import signal
import sys
import threading
import time
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from torch.utils.data import DataLoader

from .._io import atomic_write_bytes
from .._progress import progress_bar
from ..models import RATE_LAMBDAS, MLICConfig, MLICPlusPlus
from ..models.mlicpp import STRIDE
from ..models.rates import resample_log_linear
from ..models.registry import _REGISTRY, load_model, save_weights
from .data import CropDataset, EvalDataset, StepBatchSampler, count_smaller_than
from .loss import RateDistortionLoss, bits_per_pixel

MSSSIM_LAMBDAS = (2.4, 4.58, 8.73, 16.64, 31.73, 60.5)


def training_lambdas(config: MLICConfig, metric: str) -> torch.Tensor:
    """λ of each quality level for ``metric``: the config's MSE λ, or for MS-SSIM the official
    MS-SSIM λ of the same rate (log-linear between the official pairs, exact at them)."""
    mse = config.lambdas()
    if metric != "ms-ssim":
        return torch.tensor(mse)
    pairs = torch.tensor(MSSSIM_LAMBDAS).log().view(-1, 1)
    return resample_log_linear(pairs, list(RATE_LAMBDAS), list(mse)).exp().view(-1)


def draw_qualities(num_rates: int, batch: int, weights: list[float] | None = None) -> torch.Tensor:
    """Quality indexes (0-based) for one batch: uniform over the levels, or in proportion to ``weights``
    (one non-negative weight per level), e.g. to give the high rates, where the small model's transforms
    fall short, more of the training. The uniform draw stays ``torch.randint``, so runs and checkpoints
    made before weights existed resume bit-exactly."""
    if weights is None:
        return torch.randint(0, num_rates, (batch,))
    return torch.multinomial(quality_distribution(num_rates, weights), batch, replacement=True)


def quality_distribution(num_rates: int, weights) -> torch.Tensor:
    """``weights`` checked (one finite, non-negative weight per level, not all zero) and normalised."""
    w = torch.as_tensor(weights, dtype=torch.float64)
    if w.shape != (num_rates,) or not bool(torch.isfinite(w).all()) or bool((w < 0).any()) or float(w.sum()) <= 0:
        raise ValueError(f"quality weights must be {num_rates} finite non-negative numbers, not all zero (got {list(weights)})")
    return w / w.sum()


def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    p = parser or argparse.ArgumentParser(prog="mlic train", description="Train an MLIC++ model.")
    p.add_argument("--data", nargs="+", required=True, help="folders of training images (recursive)")
    p.add_argument("--val", nargs="*", default=[], help="folders of validation images")
    p.add_argument("--out", default="runs/train", help="output folder (checkpoints, logs, weights)")
    p.add_argument("--model", default="mlicpp-small", help="registered configuration name or a JSON config file")
    p.add_argument("--init", help="start from these weights: a registered model (e.g. mlicpp-small, the shipped weights), a .safetensors file written by mlic, "
                   "or a run's checkpoint.pt, whose Adam moments then come along too (a new run: step, schedule and data order start afresh)")
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    p.add_argument("--metric", choices=["mse", "ms-ssim"], default="mse")
    p.add_argument("--lmbda", type=float, help="fixed λ (fixed-rate models)")
    p.add_argument("--quality-weights", type=float, nargs="+", help="variable-rate models: how often each quality level is drawn, one weight per level (default: uniform)")
    p.add_argument("--steps", type=int, default=100_000)
    p.add_argument("--time-limit", type=float, help="stop after this many seconds; the LR schedule follows elapsed time")
    p.add_argument("--batch-size", type=int, default=8, help="per process")
    p.add_argument("--patch-size", type=int, default=256)
    p.add_argument("--max-short-side", type=int, default=512, help="downscale training photos to at most this short side")
    p.add_argument("--cache", action="store_true", help="keep decoded training images in memory")
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--aux-lr", type=float, default=1e-3)
    p.add_argument("--warmup-steps", type=int, default=1000)
    p.add_argument("--milestones", type=float, nargs="*", default=[0.8, 0.93], help="fractions of training where LR drops ×0.1")
    p.add_argument("--clip", type=float, default=1.0, help="gradient clipping max norm (0 = off)")
    p.add_argument("--ema", type=float, metavar="DECAY",
                   help="also keep an exponential moving average of the weights, updated after every step with this decay "
                        "(e.g. 0.999: about the last 1,000 steps), validated beside the weights and exported as model-ema.safetensors")
    p.add_argument("--amp", action="store_true", help="bfloat16 autocast: on CUDA, and on CPUs that compute bf16 natively (AVX512-BF16/AMX)")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--save-every", type=int, default=1000)
    p.add_argument("--val-every", type=int, default=2000)
    p.add_argument("--val-limit", type=int, default=8, help="validation images per pass")
    p.add_argument("--seed", type=int, default=1984)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--threads", type=int, help="CPU threads per process")
    p.add_argument("--check-replicas", action="store_true", help="(DDP) verify at the end that all ranks hold identical weights")
    return p


def _warn_about_small_images(files, patch: int, share: float = 0.1) -> None:
    """Say so when many photos are smaller than a crop: they are upscaled first, so training would see
    blurred content that real images do not have (e.g. --patch-size 384 on ImageNet-sized photos:
    74 % of the 1,080 training photos in ../shared/data/train, median short side 375 pixels)."""
    small, seen = count_smaller_than(files, patch)
    if seen and small > share * seen:
        print(f"mlic train: warning: {small} of {seen} training images{' looked at' if seen < len(files) else ''} have a short "
              f"side under the {patch}-pixel patch; they are upscaled before cropping, which blurs them. "
              "Use a smaller --patch-size or larger photos.", file=sys.stderr)


def _read_checkpoint(path: Path, device) -> dict:
    """A checkpoint written by this trainer, or a clear error naming the file."""
    if not path.is_file():
        raise SystemExit(f"no checkpoint at {path}")
    try:
        ckpt = torch.load(path, map_location=device, weights_only=False)
    except Exception as e:  # truncated or foreign file: say which, not a pickle traceback
        raise SystemExit(f"{path} is not a readable mlic training checkpoint ({type(e).__name__}: {e})") from None
    missing = [k for k in ("model", "optimizer", "aux_optimizer", "config") if not isinstance(ckpt, dict) or k not in ckpt]
    if missing:
        raise SystemExit(f"{path} is not an mlic training checkpoint (missing {', '.join(missing)})")
    return ckpt


def _config(name: str) -> MLICConfig:
    if name in _REGISTRY:
        return _REGISTRY[name].config
    return MLICConfig.from_dict(json.loads(Path(name).read_text()))


def _atomic_torch_save(obj, path: Path) -> None:
    buf = io.BytesIO()
    torch.save(obj, buf)
    atomic_write_bytes(path, buf.getvalue(), force=True)


def lr_factor(progress: float, step: int, warmup: int, milestones) -> float:
    f = min(1.0, (step + 1) / warmup) if warmup else 1.0
    return f * 0.1 ** sum(progress >= m for m in milestones)


def _rng_state():
    return {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None}  # fmt: skip


def _set_rng_state(s):
    random.setstate(s["python"])
    np.random.set_state(s["numpy"])
    torch.set_rng_state(s["torch"])
    if s.get("cuda") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(s["cuda"])


class GracefulStop:
    """The first Ctrl-C / SIGTERM lets the current step finish; the run then saves its checkpoint and
    weights and ends, so ``--resume`` loses nothing. A second signal aborts at once.

    Stopping between steps, not inside one, matters: an optimiser step cut half-way would leave a
    checkpoint that no uninterrupted run could have produced.
    """

    def __init__(self, announce: bool = True):
        self.requested = False
        self.announce = announce
        self._previous = {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        if self.announce:
            print(f"\nmlic train: {signal.Signals(signum).name}: saving after this step (send it again to abort)", file=sys.stderr)

    def __exit__(self, *exc):
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()


class Trainer:
    def __init__(self, args):
        self.args = args
        # Checked before anything slow is loaded: a bad patch size would otherwise fail at the first step.
        if args.patch_size <= 0 or args.patch_size % STRIDE:
            raise SystemExit(f"--patch-size must be a positive multiple of {STRIDE} (got {args.patch_size})")
        if args.max_short_side and args.max_short_side < args.patch_size:
            raise SystemExit(f"--max-short-side {args.max_short_side} is smaller than --patch-size {args.patch_size}: every crop would be upscaled")
        if args.ema is not None and not 0 < args.ema < 1:
            raise SystemExit(f"--ema is a decay between 0 and 1, e.g. 0.999 (got {args.ema})")
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        if self.world > 1 and not dist.is_initialized():
            dist.init_process_group("nccl" if args.device.startswith("cuda") else "gloo")
        self.device = torch.device(f"cuda:{local_rank}" if args.device == "cuda" or (args.device.startswith("cuda") and self.world > 1) else args.device)
        if self.device.type == "cuda":
            torch.cuda.set_device(self.device)
        if args.threads:
            torch.set_num_threads(args.threads)
        seed = args.seed + self.rank
        random.seed(seed), np.random.seed(seed), torch.manual_seed(seed)
        self.out = Path(args.out)
        if self.rank == 0:
            self.out.mkdir(parents=True, exist_ok=True)
        config = _config(args.model)
        init_checkpoint = None
        if args.init and args.init.endswith(".pt"):
            # A previous run's checkpoint: its weights and, below, its Adam moments. Only those: step, elapsed
            # time and RNG stay this run's own, so it gets a fresh schedule but needs no warm-up for its moments.
            init_checkpoint = _read_checkpoint(Path(args.init), self.device)
            config = MLICConfig.from_dict(init_checkpoint["config"])
            self.model = MLICPlusPlus(config).to(self.device)
            self.model.load_state_dict(init_checkpoint["model"])
            self.model.train()
        elif args.init:
            # A registered name (e.g. the shipped "mlicpp-small") or a weight file written by mlic.
            self.model = load_model(args.init).train().to(self.device)
            config = self.model.config
        else:
            torch.manual_seed(args.seed)  # identical initial weights on every rank
            self.model = MLICPlusPlus(config).to(self.device)
        if config.num_rates == 0 and args.lmbda is None:
            raise SystemExit("a fixed-rate model needs --lmbda")
        self.lambdas = training_lambdas(config, args.metric) if config.num_rates else None
        self.quality_probs = None  # uniform
        if getattr(args, "quality_weights", None) is not None:
            if not config.num_rates:
                raise SystemExit("--quality-weights needs a variable-rate model")
            try:
                self.quality_probs = quality_distribution(config.num_rates, args.quality_weights)
            except ValueError as e:
                raise SystemExit(str(e)) from None
        main_params = [p for n, p in self.model.named_parameters() if not n.endswith("quantiles")]
        aux_params = [p for n, p in self.model.named_parameters() if n.endswith("quantiles")]
        self.optimizer = torch.optim.Adam(main_params, lr=args.lr)
        self.aux_optimizer = torch.optim.Adam(aux_params, lr=args.aux_lr)
        if init_checkpoint is not None:
            self.optimizer.load_state_dict(init_checkpoint["optimizer"])
            self.aux_optimizer.load_state_dict(init_checkpoint["aux_optimizer"])
            for opt, lr in ((self.optimizer, args.lr), (self.aux_optimizer, args.aux_lr)):
                for group in opt.param_groups:  # load_state_dict brought the old run's (decayed) rates
                    group["lr"] = lr
            del init_checkpoint
        self.criterion = RateDistortionLoss(args.metric)
        self.step = 0
        self.elapsed = 0.0
        # Rank 0 alone averages: it alone validates, saves and exports, and every rank holds the same weights.
        self.ema = None
        if args.ema is not None and self.rank == 0:
            self.ema = AveragedModel(self.model, multi_avg_fn=get_ema_multi_avg_fn(args.ema), use_buffers=False).eval()
        if args.resume and (self.out / "checkpoint.pt").exists():
            self._load(self.out / "checkpoint.pt")
        self.net = DistributedDataParallel(self.model, device_ids=[self.device.index] if self.device.type == "cuda" else None) if self.world > 1 else self.model
        self.dataset = CropDataset(args.data, args.patch_size, args.max_short_side, cache=args.cache)
        if self.rank == 0:
            _warn_about_small_images(self.dataset.files, args.patch_size)
        self.val = EvalDataset(args.val, args.val_limit) if args.val else None

    # -- checkpoints ---------------------------------------------------------------------------
    def _state(self):
        return {"step": self.step, "elapsed": self.elapsed, "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                "aux_optimizer": self.aux_optimizer.state_dict(), "config": self.model.config.to_dict(), "rng": _rng_state(),
                "args": vars(self.args)} | ({"ema": self.ema.state_dict()} if self.ema is not None else {})  # fmt: skip

    def _load(self, path: Path):
        ckpt = _read_checkpoint(path, self.device)
        self.model.load_state_dict(ckpt["model"])
        self.optimizer.load_state_dict(ckpt["optimizer"])
        self.aux_optimizer.load_state_dict(ckpt["aux_optimizer"])
        self.step, self.elapsed = ckpt["step"], ckpt.get("elapsed", 0.0)
        _set_rng_state(ckpt["rng"])
        if self.ema is not None:
            if "ema" in ckpt:
                self.ema.load_state_dict(ckpt["ema"])
            else:  # the run so far kept none: the average starts at the resumed weights
                self.ema.module.load_state_dict(self.model.state_dict())
                print(f"note: {path} holds no moving average; --ema starts from its weights at step {self.step}", file=sys.stderr)

    def save(self):
        if self.rank != 0:
            return
        _atomic_torch_save(self._state(), self.out / "checkpoint.pt")

    def export(self, name="model") -> str:
        """Write ``name``.safetensors; returns its SHA-256."""
        was_training = self.model.training
        self.model.eval()
        sha = save_weights(self.model, self.out / f"{name}.safetensors", name, extra={"steps": self.step})
        self.model.train(was_training)
        return sha

    def export_ema(self, name="model-ema") -> str:
        """Write the moving average (``--ema``) as ``name``.safetensors; returns its SHA-256."""
        return save_weights(self.ema.module, self.out / f"{name}.safetensors", name, extra={"steps": self.step, "ema_decay": self.args.ema})

    # -- one step ------------------------------------------------------------------------------
    def _qualities(self, batch: int):
        n = self.model.config.num_rates
        if n == 0:
            return None, torch.full((batch,), float(self.args.lmbda))
        q = draw_qualities(n, batch, self.quality_probs)
        return (q + 1).float().to(self.device), self.lambdas[q]

    def train_step(self, x: torch.Tensor) -> dict:
        x = x.to(self.device, non_blocking=True)
        quality, lmbda = self._qualities(x.shape[0])
        progress = self._progress()
        for group in self.optimizer.param_groups:
            group["lr"] = self.args.lr * lr_factor(progress, self.step, self.args.warmup_steps, self.args.milestones)
        self.optimizer.zero_grad(set_to_none=True)
        self.aux_optimizer.zero_grad(set_to_none=True)
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.args.amp):
            out = self.net(x, quality) if quality is not None else self.net(x)
        losses = self.criterion(out, x, lmbda.to(self.device))
        losses["loss"].backward()
        if self.args.clip:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.args.clip)
        self.optimizer.step()
        aux = self.model.aux_loss()
        aux.backward()
        self.aux_optimizer.step()
        if self.ema is not None:
            self.ema.update_parameters(self.model)
        self.step += 1
        return {k: float(v.detach()) for k, v in losses.items()} | {"aux": float(aux.detach()), "lr": self.optimizer.param_groups[0]["lr"]}

    def _progress(self) -> float:
        if self.args.time_limit:
            return min(1.0, self.elapsed / self.args.time_limit)
        return self.step / max(1, self.args.steps)

    @torch.no_grad()
    def validate(self, model: MLICPlusPlus | None = None) -> dict:
        """Estimated bpp (likelihoods) and PSNR per quality on the validation images, of ``model``
        (default: the weights being trained)."""
        from ..codec.image import pad_to_multiple

        model = model if model is not None else self.model
        was_training = model.training
        model.eval()
        n = max(model.config.num_rates, 1)
        res = {}
        for qi in range(n):
            bpp = psnr = 0.0
            for img in self.val:
                x = img.unsqueeze(0).to(self.device)
                xp = pad_to_multiple(x)
                out = model(xp, qi + 1) if model.config.num_rates else model(xp)
                x_hat = out["x_hat"][..., : x.shape[2], : x.shape[3]].clamp(0, 1)
                bpp += float(bits_per_pixel(out["likelihoods"], x.shape[2] * x.shape[3]))
                psnr += float(-10 * torch.log10((x_hat - x).pow(2).mean()))
            res[f"q{qi + 1}_bpp"], res[f"q{qi + 1}_psnr"] = bpp / len(self.val), psnr / len(self.val)
        model.train(was_training)
        return res

    def run(self):
        args = self.args
        log_path = self.out / "log.csv"
        writer = None
        if self.rank == 0:
            try:
                from torch.utils.tensorboard import SummaryWriter

                writer = SummaryWriter(self.out / "tb", purge_step=self.step + 1 if self.step else None)
            except Exception:  # tensorboard is optional
                writer = None
        if self.rank == 0 and self.step:
            # A run stopped after its last checkpoint logged steps that it will now train again.
            for path in (log_path, self.out / "val.csv", self.out / "val-ema.csv"):
                _drop_rows_after(path, self.step)
        bar = progress_bar(total=args.steps, initial=self.step, disable=self.rank != 0, desc="train", dynamic_ncols=True)
        start = time.monotonic() - self.elapsed
        sampler = StepBatchSampler(len(self.dataset), args.batch_size, args.seed, self.step, self.rank, self.world)
        # Own generator: creating the loader must not consume the global RNG (resume stays bit-exact).
        loader = DataLoader(self.dataset, batch_sampler=sampler, num_workers=args.workers, pin_memory=self.device.type == "cuda",
                            generator=torch.Generator().manual_seed(args.seed))
        stop = GracefulStop(announce=self.rank == 0)
        with stop:  # also around saving: a signal there must not cut the checkpoint short
            if self.step < args.steps and not (args.time_limit and self.elapsed >= args.time_limit):
                for x in loader:
                    stats = self.train_step(x)
                    self.elapsed = time.monotonic() - start
                    bar.update(1)
                    bar.set_postfix(loss=f"{stats['loss']:.3f}", bpp=f"{stats['bpp']:.3f}", mse=f"{stats['mse']:.2e}", refresh=False)
                    if self.rank == 0 and (self.step % 50 == 0 or self.step == 1):
                        self._log(log_path, stats, writer)
                    if self.step % args.save_every == 0:
                        self.save()
                    if self.val is not None and self.rank == 0 and self.step % args.val_every == 0:
                        self._log(self.out / "val.csv", {"lr": stats["lr"]} | self.validate(), writer)
                        if self.ema is not None:
                            self._log(self.out / "val-ema.csv", self.validate(self.ema.module), writer, tag_prefix="ema/")
                    if self._all_ranks_agree_to_stop(stop.requested):
                        break
                    if self.step >= args.steps or (args.time_limit and self.elapsed >= args.time_limit):
                        break
            interrupted = stop.requested  # a signal while saving below changes nothing: the run is complete
            bar.close()
            self.save()
            if args.check_replicas and self.world > 1:
                self._check_replicas()
            if self.rank == 0:
                sha = self.export()
                final = {"step": self.step, "elapsed_s": round(self.elapsed, 1), "weights_sha256": sha, "interrupted": interrupted}
                if self.ema is not None:
                    final["ema_weights_sha256"] = self.export_ema()
                if self.val is not None and not interrupted:
                    final |= self.validate()
                    if self.ema is not None:
                        final["ema"] = self.validate(self.ema.module)
                atomic_write_bytes(self.out / "final.json", json.dumps(final, indent=2).encode(), force=True)
                print(json.dumps(final))
            if self.world > 1:
                dist.barrier()
                dist.destroy_process_group()
        return interrupted

    def _all_ranks_agree_to_stop(self, requested: bool) -> bool:
        # Under DDP every rank must leave the loop after the same step, or the others would wait
        # forever in the next all-reduce; a one-element all-reduce per step is negligible.
        if self.world == 1:
            return requested
        flag = torch.tensor([float(requested)], device=self.device)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        return bool(flag.item())

    def _check_replicas(self):
        import hashlib

        h = hashlib.sha256()
        for k, v in sorted(self.model.state_dict().items()):
            h.update(v.detach().cpu().contiguous().view(torch.uint8).numpy().tobytes() if v.numel() else b"")
        mine = h.hexdigest()
        gathered = [None] * self.world
        dist.all_gather_object(gathered, mine)
        if self.rank == 0:
            (self.out / "replicas.json").write_text(json.dumps({"world_size": self.world, "weights_sha256": gathered}, indent=2))

    def _log(self, path: Path, stats: dict, writer, tag_prefix: str = ""):
        row = {"step": self.step, "elapsed_s": round(self.elapsed, 2)} | stats
        new = not path.exists()
        with path.open("a", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(row))
            if new:
                w.writeheader()
            w.writerow(row)
        if writer is not None:
            for k, v in stats.items():
                if isinstance(v, float) and math.isfinite(v):
                    writer.add_scalar(tag_prefix + k, v, self.step)


def _drop_rows_after(path: Path, step: int) -> None:
    """Rewrite the CSV log at ``path`` without its rows for steps after ``step``."""
    if not path.exists():
        return
    with path.open(newline="") as f:
        rows = list(csv.reader(f))
    kept = rows[:1] + [r for r in rows[1:] if int(r[0]) <= step]
    if len(kept) < len(rows):
        buf = io.StringIO(newline="")
        csv.writer(buf).writerows(kept)
        atomic_write_bytes(path, buf.getvalue().encode(), force=True)


def main(argv=None) -> int:
    """Exit status: 0 when training ran its course, 130 when a signal stopped it (after saving)."""
    args = build_parser().parse_args(argv)
    return 130 if Trainer(args).run() else 0
