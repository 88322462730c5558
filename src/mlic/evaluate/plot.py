"""Rate–distortion plots (bpp vs PSNR-RGB and vs MS-SSIM) from result JSON files."""
from __future__ import annotations

from pathlib import Path

from .results import load_curve


def plot_rd(results, output, references=(), title: str | None = None) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curves = [load_curve(r) for r in results]
    refs = [load_curve(r) for r in references]
    has_ssim = any("ms-ssim-rgb" in c["results"] for c in curves)
    fig, axes = plt.subplots(1, 2 if has_ssim else 1, figsize=(12 if has_ssim else 6.5, 4.8), squeeze=False)
    ax = axes[0][0]
    for c in curves:
        ax.plot(c["results"]["bpp"], c["results"]["psnr-rgb"], "o-", label=c["name"], markersize=4)
    for c in refs:
        ax.plot(c["results"]["bpp"], c["results"]["psnr-rgb"], "--", label=f"{c['name']} (published)", alpha=0.7)
    ax.set_xlabel("bits per pixel")
    ax.set_ylabel("PSNR-RGB (dB)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    if has_ssim:
        ax2 = axes[0][1]
        for c in curves:
            if "ms-ssim-rgb" in c["results"]:
                import math

                ax2.plot(c["results"]["bpp"], [-10 * math.log10(max(1e-12, 1 - v)) for v in c["results"]["ms-ssim-rgb"]], "o-", label=c["name"], markersize=4)
        ax2.set_xlabel("bits per pixel")
        ax2.set_ylabel("MS-SSIM (dB: −10·log10(1−MS-SSIM))")
        ax2.grid(alpha=0.3)
        ax2.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    output = Path(output)
    fig.savefig(output, dpi=120)
    plt.close(fig)
    return output
