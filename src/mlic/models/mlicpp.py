"""MLIC++ (Jiang et al., "Linear Complexity Multi-Reference Entropy Modeling for Learned Image Compression").

    x ──g_a──▶ y ──h_a──▶ z ──[factorized prior]──▶ ẑ ──h_s──▶ hyper (σ_h | μ_h)
                                                                    │
    y ── 10 slices ─▶ MEM++: per slice, anchors then non-anchors ◀──┘
         contexts: channel (earlier slices), local (5×5 masked window attention on anchors),
                   global inter (linear attention over earlier slices),
                   global intra (previous slice's anchor↔non-anchor correlation applied to current anchors)
         LRP refines ŷ after each half
    ŷ ──g_s──▶ x̂

One slice loop (``_run_slices``) serves training, evaluation, compression and decompression; only the
"quantize this half" step differs. Encoder and decoder therefore compute the same means and scales by
construction, and ``decompress(compress(x))`` equals the eval-mode forward bit for bit.
"""
from __future__ import annotations

import contextlib
import copy
import functools
import weakref
from typing import Callable

import numpy as np
import torch
from torch import nn

from ..entropy import EntropyBottleneck, GaussianConditional, StreamDecoder, StreamEncoder, ste_round
from ..entropy.reconcile import CheckedDecoder, symbol_checksum
from ..layers import (
    LinearGlobalInterContext,
    LinearGlobalIntraContext,
    LocalContext,
    ResidualBlock,
    ResidualBlockUpsample,
    ResidualBlockWithStride,
    ckbd_anchor,
    ckbd_nonanchor,
    conv1x1,
    conv3x3,
    squeeze_anchor,
    squeeze_nonanchor,
    subpel_conv3x3,
)
from ..layers.checkerboard import ANCHOR, MASK, NONANCHOR, SQUEEZE, UNSQUEEZE
from ..layers.strips import run_in_strips
from .config import MLICConfig
from .refine import lambda_for, refine_latents
from .region import coded_region


#: Intra-op threads of the symbol path on CPU. Part of the file format's contract: encoder and decoder
#: must use the same number (changing it can desynchronize old files, which the checksums then report).
SYMBOL_PATH_THREADS = 2


@contextlib.contextmanager
def symbol_path_numerics(device: torch.device):
    """Fix the arithmetic of the part that decides coded symbols (h_s, contexts, parameter nets, LRP):
    on CPU a fixed number of threads, whatever the machine or the user's ``--threads``; on CUDA no TF32.

    PyTorch's CPU convolutions split their reductions by thread count, so the same input gives results
    that differ in the last bits between 1, 2 or 16 threads — enough to flip a rounding or a table index
    and desynchronize the decoder (we measured exactly that: a file encoded with one thread failed its
    checksum when decoded with two). With the same fixed count on both sides, a file decodes on the
    machine that made it (whatever its cores or ``--threads``) with no reconciliation at all. Another
    CPU or a GPU still rounds differently in the last bits; index reconciliation
    (:mod:`mlic.entropy.reconcile`) absorbs that. Two threads rather than one: on this project's
    2-core machines the pinning then costs nothing (one thread cost +30 % on the official model).
    """
    if device.type == "cuda":
        # TF32 (on by default for cuDNN convolutions) rounds inputs to 10 mantissa bits (relative error
        # ~1e-3), far beyond the 1e-4 in ln σ that index reconciliation tolerates. Plain fp32 there.
        saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
        torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
        try:
            yield
        finally:
            torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved
        return
    if device.type != "cpu":
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(SYMBOL_PATH_THREADS)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def fast_precision(device) -> str:
    """"bf16" where the hardware computes bfloat16 natively, else "fp32" (emulated bf16 can be slower).

    GPU: ``torch.cuda.is_bf16_supported()``. CPU: the AVX512-BF16 or AMX-BF16 instructions, read from
    /proc/cpuinfo (oneDNN's own check also accepts plain AVX-512, where bf16 is emulated); other
    systems keep fp32.
    """
    device = torch.device(device)
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    if device.type == "cpu":
        return "bf16" if _cpu_has_native_bf16() else "fp32"
    return "fp32"


@functools.lru_cache(maxsize=1)
def _cpu_has_native_bf16() -> bool:
    try:
        with open("/proc/cpuinfo") as f:
            flags = set(f.read().split())
    except OSError:
        return False
    try:
        onednn = bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        onednn = False
    return onednn and bool(flags & {"avx512_bf16", "amx_bf16"})


#: Spatial size of the model's input must be a multiple of this.
STRIDE = 64
#: Downsampling factor of g_a (pixels per latent row/column).
STRIDE_Y = 16


def analysis_transform(N: int, M: int) -> nn.Sequential:
    return nn.Sequential(
        ResidualBlockWithStride(3, N, 2), ResidualBlock(N, N),
        ResidualBlockWithStride(N, N, 2), ResidualBlock(N, N),
        ResidualBlockWithStride(N, N, 2), ResidualBlock(N, N),
        conv3x3(N, M, 2),
    )  # fmt: skip


def synthesis_transform(N: int, M: int, variant: str = "current") -> nn.Sequential:
    head = [ResidualBlock(M, M), ResidualBlockUpsample(M, N)] if variant == "current" else [ResidualBlock(M, N), ResidualBlockUpsample(N, N)]
    return nn.Sequential(
        *head, ResidualBlock(N, N),
        ResidualBlockUpsample(N, N), ResidualBlock(N, N),
        ResidualBlockUpsample(N, N), ResidualBlock(N, N),
        subpel_conv3x3(N, 3, 2),
    )  # fmt: skip


def hyper_analysis(N: int, M: int) -> nn.Sequential:
    return nn.Sequential(
        conv3x3(M, N), nn.GELU(), conv3x3(N, N), nn.GELU(), conv3x3(N, N, 2), nn.GELU(),
        conv3x3(N, N), nn.GELU(), conv3x3(N, N, 2),
    )  # fmt: skip


def hyper_synthesis(N: int, M: int) -> nn.Sequential:
    return nn.Sequential(
        conv3x3(N, M), nn.GELU(), subpel_conv3x3(M, M, 2), nn.GELU(),
        conv3x3(M, M * 3 // 2), nn.GELU(), subpel_conv3x3(M * 3 // 2, M * 3 // 2, 2), nn.GELU(),
        conv3x3(M * 3 // 2, M * 2),
    )  # fmt: skip


def pointwise_mlp(widths: list[int]) -> nn.Sequential:
    """1x1 convs with GELU between them (the entropy-parameter networks)."""
    layers: list[nn.Module] = []
    for a, b in zip(widths[:-1], widths[1:]):
        layers += [conv1x1(a, b), nn.GELU()]
    return nn.Sequential(*layers[:-1])


def conv3x3_stack(widths: list[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for a, b in zip(widths[:-1], widths[1:]):
        layers += [conv3x3(a, b), nn.GELU()]
    return nn.Sequential(*layers[:-1])


class LatentResidualPrediction(nn.Module):
    """Predicts the quantization residual of a slice; output bounded to ±0.5 by 0.5·tanh."""

    def __init__(self, widths: list[int]):
        super().__init__()
        self.layers = conv3x3_stack(widths)

    def forward(self, x):
        return 0.5 * torch.tanh(self.layers(x))


class SliceContext(nn.Module):
    """Every network that serves slice ``index`` of MEM++."""

    def __init__(self, config: MLICConfig, index: int):
        super().__init__()
        C, M = config.slice_channels, config.M
        ctx = 2 * C  # width of every context feature (64 in the official model)
        self.index = index
        self.local_context = LocalContext(C, config.window, config.local_heads, out_dim=ctx)
        if index:
            cw = config.channel_widths
            self.channel_context = conv3x3_stack([C * index, cw[0], cw[1], cw[1]])
            self.inter_context = LinearGlobalInterContext(C * index, out_dim=ctx, hidden=4 * C)
            self.intra_context = LinearGlobalIntraContext(C, config.intra_heads, out_dim=ctx, hidden=4 * C)
            anchor_in = 2 * M + ctx + cw[1]
            nonanchor_in = 2 * M + 3 * ctx + cw[1]
        else:
            self.channel_context = self.inter_context = self.intra_context = None
            anchor_in, nonanchor_in = 2 * M, 2 * M + ctx
        ew = list(config.entropy_widths)
        self.params_anchor = pointwise_mlp([anchor_in, *ew, 2 * C])
        self.params_nonanchor = pointwise_mlp([nonanchor_in, *ew, 2 * C])
        lrp_in = M + C * (index + 1)
        if config.variant == "current":
            lrp_widths = [lrp_in, *config.lrp_widths, C]
        else:  # 2023 checkpoints: widths shrink linearly from the input width to C
            d = abs(C - lrp_in)
            lrp_widths = [lrp_in, lrp_in - d // 4, lrp_in - d // 2, lrp_in - 3 * d // 4, C]
        self.lrp_anchor = LatentResidualPrediction(lrp_widths)
        self.lrp_nonanchor = LatentResidualPrediction(lrp_widths)


# step(slice_index, half, scales, means) -> quantized half on the full grid (zeros on the other half);
# scales and means arrive squeezed to that half (B×C×H×W/2).
QuantizeStep = Callable[[int, str, torch.Tensor, torch.Tensor], torch.Tensor]


#: Inference copies of transforms (see ``MLICPlusPlus._inference_copy``), keyed weakly by the module
#: they copy: they live as long as it does and are never deep-copied, pickled or saved with a model.
_INFERENCE_COPIES: weakref.WeakKeyDictionary[nn.Module, dict] = weakref.WeakKeyDictionary()


class MLICPlusPlus(nn.Module):
    """The MLIC++ codec with CompressAI's API: ``forward``, ``compress``, ``decompress``, ``update``, ``aux_loss``."""

    def __init__(self, config: MLICConfig | None = None, **overrides):
        super().__init__()
        config = config or MLICConfig(**overrides)
        self.config = config
        N, M = config.N, config.M
        self.g_a = analysis_transform(N, M)
        self.g_s = synthesis_transform(N, M, config.variant)
        self.h_a = hyper_analysis(N, M)
        self.h_s = hyper_synthesis(N, M)
        self.entropy_bottleneck = EntropyBottleneck(N)
        self.gaussian_conditional = GaussianConditional()
        self.slices = nn.ModuleList(SliceContext(config, i) for i in range(config.num_slices))
        if config.num_rates:
            # Variable rate: one learned per-channel gain (and inverse gain) per quality level, applied
            # to y before quantization and undone before g_s. Initialised so that a lower quality
            # means a coarser effective quantization step, as λ^-1/2 suggests.
            lambdas = torch.tensor(config.lambdas())
            init = (lambdas / lambdas.max()).sqrt().log().view(-1, 1).expand(-1, M).clone()
            self.log_gain = nn.Parameter(init)
            self.log_inv_gain = nn.Parameter(-init.clone())
        else:
            self.log_gain = self.log_inv_gain = None

    # -- variable rate -------------------------------------------------------------------------
    @property
    def variable_rate(self) -> bool:
        return self.config.num_rates > 0

    def _gains(self, quality, batch: int, device) -> tuple[torch.Tensor, torch.Tensor] | None:
        """Per-item (gain, inverse gain) of shape B×M×1×1 for quality in [1, num_rates] (real-valued).

        Between two levels the gains are interpolated geometrically (linearly in log space).
        """
        if not self.variable_rate:
            if quality is not None:
                raise ValueError("this model has a fixed rate; it takes no quality")
            return None
        if quality is None:
            raise ValueError(f"this variable-rate model needs a quality in [1, {self.config.num_rates}]")
        q = torch.as_tensor(quality, dtype=torch.float32, device=device).reshape(-1).expand(batch) - 1
        top = self.config.num_rates - 1
        if bool(((q < 0) | (q > top)).any()):
            raise ValueError(f"quality must lie in [1, {top + 1}]")
        lo = q.floor().long().clamp(0, top)
        hi = (lo + 1).clamp(max=top)
        t = (q - lo.float()).view(-1, 1)
        log_g = self.log_gain[lo] * (1 - t) + self.log_gain[hi] * t
        log_ig = self.log_inv_gain[lo] * (1 - t) + self.log_inv_gain[hi] * t
        return log_g.exp()[..., None, None], log_ig.exp()[..., None, None]

    #: Precision of g_a and g_s in eval mode: "fp32" (the reference arithmetic) or "bf16" (see
    #: :func:`fast_precision` for what the high-level API picks by default). Neither
    #: transform decides a probability, so bf16 keeps every bitstream decodable by an fp32 decoder
    #: and vice versa; it only changes which (valid) latents the encoder picks and the last bits of x̂.
    transform_precision: str = "fp32"

    #: Eval mode on CPU: run float32 g_a/g_s from a channels-last copy (encode + decode ×1.08–1.29 faster
    #: on a 2-core AVX2 CPU; equal to the plain modules up to float32 rounding). False runs the modules as they are.
    channels_last_transforms: bool = True

    #: Eval-mode strip processing of the transforms (bounded memory on large inputs): strip height and
    #: halo, in input rows. The halos exceed the receptive fields (g_a ≈ ±60 px, g_s ≈ ±6 latent rows).
    g_a_strips: tuple[int, int] = (512, 128)
    g_s_strips: tuple[int, int] = (32, 8)

    def _transform(self, net: nn.Module, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            return net(x)
        strip, halo = self.g_a_strips if net is self.g_a else self.g_s_strips
        ratio = 1 / STRIDE_Y if net is self.g_a else STRIDE_Y
        if self.transform_precision == "bf16":
            return run_in_strips(self._inference_copy(net, torch.bfloat16), x.to(torch.bfloat16), strip, halo, ratio).float().contiguous()
        if x.device.type == "cpu" and self.channels_last_transforms:
            return run_in_strips(self._inference_copy(net), x, strip, halo, ratio).contiguous()
        return run_in_strips(net, x, strip, halo, ratio)

    def _inference_copy(self, net: nn.Module, dtype: torch.dtype | None = None) -> nn.Module:
        """A channels-last copy of ``net`` (in ``dtype``, or its own), reused while its weights stay the same.

        Channels-last weights and activations let oneDNN skip the layout reorders it otherwise does on
        every call. bf16 (official configuration, 512×768, side by side): g_a 1.21 s with plain bf16
        weights, 0.89 s channels-last; g_s 1.44 → 1.24 s; autocast, which re-casts every weight on
        every call, 1.01 s. float32 on a 2-core AVX2 CPU (shipped model, 768×512, four runs of
        ``benchmarks/transform_layout.py``): g_a ×1.14–1.54, g_s ×1.10–1.30 faster. The result
        differs from the plain-layout one in the last bits only (other summation order); neither
        transform decides a probability. The copy is not a submodule (not in the state dict); it is
        rebuilt whenever a parameter or buffer of ``net`` changes (``_version``).
        """
        cache = _INFERENCE_COPIES.setdefault(net, {})
        key = tuple((t.data_ptr(), t._version, t.device) for t in [*net.parameters(), *net.buffers()])
        hit = cache.get(dtype)
        if hit is None or hit[0] != key:
            fast = copy.deepcopy(net).to(memory_format=torch.channels_last).eval()
            fast = fast.to(dtype) if dtype is not None else fast
            hit = cache[dtype] = (key, fast)
        return hit[1]

    def _analysis(self, x, quality):
        y = self._transform(self.g_a, x)
        gains = self._gains(quality, x.shape[0], x.device)
        return (y * gains[0], gains) if gains is not None else (y, None)

    def _synthesis(self, y_hat, gains):
        return self._transform(self.g_s, y_hat * gains[1] if gains is not None else y_hat)

    # -- shared slice loop ---------------------------------------------------------------------
    def _run_slices(self, hyper: torch.Tensor, step: QuantizeStep) -> torch.Tensor:
        """The MEM++ loop. Entropy parameters are computed only on the checkerboard half they serve
        (the parameter nets are pointwise and the local context is per position, so this is the same
        function at half the cost); ``step`` receives them squeezed (B×C×H×W/2)."""
        M = self.config.M
        hyper_means = hyper[:, M:]
        hyper_half = {ANCHOR: squeeze_anchor(hyper), NONANCHOR: squeeze_nonanchor(hyper)}
        decoded: list[torch.Tensor] = []
        for i, s in enumerate(self.slices):
            if i:
                previous = torch.cat(decoded, 1)
                inter = s.inter_context(previous)
                channel = s.channel_context(previous)
                both = torch.cat([inter, channel], 1)
                shared = {h: SQUEEZE[h](both) for h in (ANCHOR, NONANCHOR)}
                params = s.params_anchor(torch.cat([shared[ANCHOR], hyper_half[ANCHOR]], 1))
            else:
                params = s.params_anchor(hyper_half[ANCHOR])
            scales, means = params.chunk(2, 1)
            y_anchor = step(i, ANCHOR, scales, means)
            y_anchor = y_anchor + ckbd_anchor(s.lrp_anchor(torch.cat([hyper_means, *decoded, y_anchor], 1)))
            local = s.local_context(y_anchor, only=NONANCHOR)
            if i:
                intra = squeeze_nonanchor(s.intra_context(decoded[-1], y_anchor))
                params = s.params_nonanchor(torch.cat([local, intra, shared[NONANCHOR], hyper_half[NONANCHOR]], 1))
            else:
                params = s.params_nonanchor(torch.cat([local, hyper_half[NONANCHOR]], 1))
            scales, means = params.chunk(2, 1)
            y_slice = y_anchor + step(i, NONANCHOR, scales, means)
            y_slice = y_slice + ckbd_nonanchor(s.lrp_nonanchor(torch.cat([hyper_means, *decoded, y_slice], 1)))
            decoded.append(y_slice)
        return torch.cat(decoded, 1)

    def _hyper(self, z_hat: torch.Tensor) -> torch.Tensor:
        return self.h_s(z_hat.to(self.h_s[0].weight.dtype))  # z symbols arrive as float32

    @staticmethod
    def _check_size(x: torch.Tensor) -> None:
        if x.dim() != 4 or x.shape[1] != 3:
            raise ValueError(f"expected a B×3×H×W tensor, got shape {tuple(x.shape)}")
        h, w = x.shape[-2:]
        if h % STRIDE or w % STRIDE or h == 0 or w == 0:
            raise ValueError(f"height and width must be positive multiples of {STRIDE} (got {h}×{w}); pad the image first")

    # -- training / evaluation -----------------------------------------------------------------
    def forward(self, x: torch.Tensor, quality=None) -> dict:
        """Returns ``{"x_hat", "likelihoods": {"y", "z"}}``.

        Training uses the official mixed quantization: noisy values for the likelihoods,
        straight-through rounding for everything the decoder sees. In eval mode everything is rounded.
        """
        self._check_size(x)
        y, gains = self._analysis(x, quality)
        z = self.h_a(y)
        _, z_likelihoods = self.entropy_bottleneck(z)
        medians = self.entropy_bottleneck.medians().view(1, -1, 1, 1)
        z_hat = ste_round(z - medians) + medians
        # In eval mode, compute exactly what compress/decompress compute (see symbol_path_numerics).
        def symbol_ctx():
            return symbol_path_numerics(x.device) if not self.training else contextlib.nullcontext()

        with symbol_ctx():
            hyper = self._hyper(z_hat)
        C = self.config.slice_channels
        y_slices = y.split(C, 1)
        slice_scales: list[list[torch.Tensor]] = [[] for _ in y_slices]
        slice_means: list[list[torch.Tensor]] = [[] for _ in y_slices]

        def step(i, half, scales, means):
            y_half, means_half = MASK[half](y_slices[i]), UNSQUEEZE[half](means)
            slice_scales[i].append(UNSQUEEZE[half](scales))
            slice_means[i].append(means_half)
            return ste_round(y_half - means_half) + means_half

        with symbol_ctx():
            y_hat = self._run_slices(hyper, step)
        likelihoods = []
        for i, y_i in enumerate(y_slices):
            _, lik = self.gaussian_conditional(y_i, sum(slice_scales[i]), sum(slice_means[i]))
            likelihoods.append(lik)
        x_hat = self._synthesis(y_hat, gains)
        return {"x_hat": x_hat, "likelihoods": {"y": torch.cat(likelihoods, 1), "z": z_likelihoods}}

    def aux_loss(self) -> torch.Tensor:
        return self.entropy_bottleneck.aux_loss()

    def update(self, force: bool = False) -> bool:
        """Build the integer probability tables (stored as buffers, so they travel with the weights)."""
        a = self.entropy_bottleneck.update(force=force)
        b = self.gaussian_conditional.update(force=force)
        return a or b

    # -- real bitstreams -----------------------------------------------------------------------
    @torch.no_grad()
    def compress(self, x: torch.Tensor, quality=None, *, refine_steps: int = 0, refine_progress=None, valid_size=None) -> dict:
        """Entropy-code a batch. Returns ``{"strings": [y_strings, z_strings], "shape": (zh, zw)}``,
        one byte string per image in each list.

        ``refine_steps`` > 0 searches, per image, for latents that code it at a lower rate–distortion
        cost than g_a's (:mod:`mlic.models.refine`; variable-rate models only): a slower encoder, the
        same decoder. The result then also holds ``"refined"`` (the cost estimates before and after).
        ``valid_size`` (height, width): where ``x`` is a padded image, its real size. The latent
        positions that cover only padding are then not coded (both sides set them to their predicted
        mean; :mod:`mlic.models.region`), and refinement spends nothing on the padding; pass the
        same ``valid_size`` to :meth:`decompress`.
        """
        self._check_size(x)
        batch = x.shape[0]
        y, gains = self._analysis(x, quality)
        z = self.h_a(y)
        refined = None
        if refine_steps:
            refined = refine_latents(self, x, y, z, gains, lambda_for(self, quality), refine_steps, progress=refine_progress, valid_size=valid_size)
            y, z = refined.y, refined.z
        eb = self.entropy_bottleneck
        z_symbols = eb.symbols(z)
        z_strings = _encode_per_item(z_symbols, _channel_indexes(z_symbols), eb.tables())
        with symbol_path_numerics(x.device):
            hyper = self._hyper(eb.dequantize(z_symbols))
        y_slices = y.split(self.config.slice_channels, 1)
        gc = self.gaussian_conditional
        tables = gc.tables()
        encoders = [StreamEncoder() for _ in range(batch)]
        # One CRC per checkerboard half: [slice 0 anchors, slice 0 non-anchors, slice 1 anchors, …].
        checksums = [[0] * (2 * self.config.num_slices) for _ in range(batch)]
        coded = _coded_halves(y, valid_size)

        def step(i, half, scales_sq, means_sq):
            y_sq = SQUEEZE[half](y_slices[i])
            symbols = torch.round(y_sq - means_sq)
            indexes = gc.build_indexes(scales_sq)
            if coded is not None:  # positions of padding only: not coded, ŷ = μ on both sides
                symbols = torch.where(coded[half][0], symbols, torch.zeros_like(symbols))
            sym_np = symbols.to(torch.int64).cpu().numpy()
            idx_np = indexes.cpu().numpy()
            for b, enc in enumerate(encoders):
                sym_b, idx_b = (sym_np[b], idx_np[b]) if coded is None else (sym_np[b][:, coded[half][1]], idx_np[b][:, coded[half][1]])
                enc.encode(sym_b, idx_b, tables)
                checksums[b][2 * i + (half == NONANCHOR)] = symbol_checksum(sym_b, idx_b)
            return UNSQUEEZE[half](symbols + means_sq)

        with symbol_path_numerics(x.device):
            y_hat = self._run_slices(hyper, step)
        y_strings = [enc.flush() for enc in encoders]
        out = {"strings": [y_strings, z_strings], "shape": tuple(z.shape[-2:]), "y_hat": y_hat, "checksums": checksums}
        if refined is not None:
            out["refined"] = refined
        return out

    @torch.no_grad()
    def decompress(self, strings, shape, quality=None, checksums=None, valid_size=None) -> dict:
        """Inverse of :meth:`compress`. Returns ``{"x_hat", "y_hat", "reconciled", "reconcile_tries"}`` (x̂
        not clamped, like the official model).

        With ``checksums`` (from :meth:`compress`: one per checkerboard half), each half is verified as
        soon as it is decoded; a half whose table indexes this machine's arithmetic decided differently
        from the encoder's is re-decoded with the few uncertain indexes flipped
        (:mod:`mlic.entropy.reconcile`; ``reconciled`` counts such halves), and anything else raises
        :class:`~mlic.errors.DesyncError` instead of silently producing garbage. Format-1.0 callers pass
        one checksum per slice (verified at the end of each slice, no reconciliation). ``valid_size``:
        the one given to :meth:`compress` (None for files of formats before 3.0, which code every position).
        """
        y_strings, z_strings = strings
        if len(y_strings) != len(z_strings):
            raise ValueError("y and z string lists differ in length")
        zh, zw = int(shape[0]), int(shape[1])
        eb = self.entropy_bottleneck
        device = eb.quantiles.device
        batch = len(z_strings)
        z_indexes = np.broadcast_to(np.arange(self.config.N)[:, None, None], (self.config.N, zh, zw))
        z_symbols = np.stack([StreamDecoder(s).decode(z_indexes, eb.tables()) for s in z_strings]).reshape(batch, self.config.N, zh, zw)
        with symbol_path_numerics(device):
            hyper = self._hyper(eb.dequantize(torch.from_numpy(z_symbols).to(device)))
        gc = self.gaussian_conditional
        tables = gc.tables()
        decoders = [CheckedDecoder(s, checksums[b] if checksums is not None else None, self.config.num_slices, f"image {b}")
                    for b, s in enumerate(y_strings)]  # fmt: skip
        coded = _coded_halves(hyper, valid_size)  # the hyper-parameters lie on y's grid

        def step(i, half, scales_sq, means_sq):
            idx_np = gc.build_indexes(scales_sq).cpu().numpy()
            symbols = []
            for b, dec in enumerate(decoders):
                idx_b, scales_b = idx_np[b], scales_sq[b]
                if coded is not None:  # only the coded positions are in the stream
                    idx_b, scales_b = idx_b[:, coded[half][1]], scales_b[:, coded[half][0]]
                found = dec.decode(i, half == NONANCHOR, idx_b, tables,
                                   lambda idx_b=idx_b, scales_b=scales_b: gc.index_alternatives(scales_b, idx_b))  # fmt: skip
                if coded is not None:  # the others are symbol 0 (ŷ = μ)
                    scattered = np.zeros(idx_np[b].shape, dtype=np.int64)
                    scattered[:, coded[half][1]] = found
                    found = scattered
                symbols.append(found)
            symbols_t = torch.from_numpy(np.stack(symbols)).to(device=device, dtype=means_sq.dtype)
            return UNSQUEEZE[half](symbols_t + means_sq)

        with symbol_path_numerics(device):
            y_hat = self._run_slices(hyper, step)
        gains = self._gains(quality, batch, device)
        return {"x_hat": self._synthesis(y_hat, gains), "y_hat": y_hat,
                "reconciled": sum(d.reconciled for d in decoders), "reconcile_tries": sum(d.tries for d in decoders)}  # fmt: skip


def _coded_halves(grid: torch.Tensor, valid_size) -> dict | None:
    """Per checkerboard half, the coded positions of ``grid``'s (H×W) latent grid, squeezed to H×W/2,
    as a bool tensor and as a numpy mask; None when every position is coded."""
    mask = coded_region(grid.shape[-2], grid.shape[-1], valid_size, grid.device)
    if mask is None:
        return None
    halves = {}
    for half in (ANCHOR, NONANCHOR):
        sq = SQUEEZE[half](mask)[0, 0]
        halves[half] = (sq, sq.cpu().numpy())
    return halves


def _channel_indexes(symbols: torch.Tensor) -> np.ndarray:
    c = symbols.shape[1]
    return np.broadcast_to(np.arange(c).reshape(1, c, 1, 1), tuple(symbols.shape))


def _encode_per_item(symbols: torch.Tensor, indexes: np.ndarray, tables) -> list[bytes]:
    sym_np = symbols.to(torch.int64).cpu().numpy()
    out = []
    for b in range(sym_np.shape[0]):
        enc = StreamEncoder()
        enc.encode(sym_np[b], indexes[b], tables)
        out.append(enc.flush())
    return out
