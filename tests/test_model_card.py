"""The model card's figures are those of the committed evaluation of the shipped file.

Issue #5 asks for honest numbers: every figure on docs/models.md from one evaluation run. Shipping new
weights rewrites a few dozen numbers across the card and the README; one left behind would go on
describing the old file. These tests recompute the main ones from what is committed under
docs/training-logs (the evaluation's curves, its BD-rates, the transforms' ceiling) and look for them on
the card, so a stale number fails here instead of misleading a reader.
"""
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LOGS = ROOT / "docs" / "training-logs"
CARD = ROOT / "docs" / "models.md"
README = ROOT / "README.md"
CODECS = ("jpeg", "webp", "avif", "heic")
Q38 = "q3,4,5,6,7,8"


def signed(x: float, digits: int) -> str:
    """How the docs print a signed number: a true minus sign, an explicit plus."""
    return f"{x:+.{digits}f}".replace("-", "−")


def plain(x: float, digits: int) -> str:
    return f"{x:.{digits}f}".replace("-", "−")


@pytest.fixture(scope="module")
def card() -> str:
    return CARD.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def bd() -> dict:
    return json.loads((LOGS / "eval-val-bd-ranges.json").read_text())


@pytest.fixture(scope="module")
def curve() -> dict:
    return json.loads((LOGS / "eval-val-mlic.json").read_text())["results"]


def test_rd_table_is_the_committed_evaluation(card, tmp_path):
    # rd_table reads <folder>/<codec>.json; lay the committed curves out that way.
    for name in ("mlic", *CODECS):
        shutil.copyfile(LOGS / f"eval-val-{name}.json", tmp_path / f"{name}.json")
    out = subprocess.run([sys.executable, str(ROOT / "scripts" / "rd_table.py"), str(tmp_path)],
                         check=True, capture_output=True, text=True).stdout
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in out.splitlines()[2:]]
    assert len(rows) == 8
    for q, bpp, psnr, msssim, *anchors in rows:
        # the card adds λ after the quality
        pattern = rf"^\| {q} \| [0-9.]+ \| {re.escape(bpp)} \| {re.escape(psnr)} \| {re.escape(msssim)} \| " + \
            " \\| ".join(re.escape(a) for a in anchors) + r" \|$"
        assert re.search(pattern, card, re.M), f"quality {q}: the card's RD row differs from {out}"


def test_bd_table_and_targets_are_the_committed_bd_rates(card, bd):
    for codec, label in zip(CODECS, ("JPEG", "WebP", "AVIF", "HEVC (x265 in HEIF)")):
        digits = 2 if codec == "avif" else 1
        rate, psnr = bd[codec]["all"]["bd_rate"], bd[codec]["all"]["bd_psnr"]
        row = (f"| {label} | **{plain(rate, digits)} %** | {signed(psnr, 3 if codec == 'avif' else 2)} dB | "
               f"{plain(bd[codec][Q38]['bd_rate'], digits)} % |")
        assert row in card, row
    webp, avif = bd["webp"]["all"], bd["avif"]["all"]
    assert f"| met | {plain(webp['bd_rate'], 1)} % ({signed(webp['bd_psnr'], 2)} dB) over" in card
    assert f"| met, narrowly | {plain(avif['bd_rate'], 2)} % ({signed(avif['bd_psnr'], 3)} dB); over q3–8 " \
           f"{plain(bd['avif'][Q38]['bd_rate'], 2)} %" in card


def test_range_and_steps_agree_across_card_readme_and_ceiling(card, bd, curve):
    low, high = min(curve["bpp"]), max(curve["bpp"])
    assert f"| the range 0.1–1.0 bpp | {low:.3f}–{high:.3f} bpp |" in card
    steps = re.search(r"\*\*([\d,]+) steps, about [\d,]+ crops, in total\*\*", card).group(1)
    readme = README.read_text(encoding="utf-8")
    row = re.search(r"undertrained \(([\d,]+) steps\), qualities 1–8 \(([\d.]+)–([\d.]+) bpp\): BD-rate ([^|]*)\|",
                    readme)
    assert row, "README's shipped-model row"
    assert row.group(1) == steps
    assert (row.group(2), row.group(3)) == (f"{low:.2f}", f"{high:.2f}")
    for codec, name in zip(CODECS, ("JPEG", "WebP", "AVIF", "HEVC")):
        digits = 2 if codec == "avif" else 1
        assert f"{plain(bd[codec]['all']['bd_rate'], digits)} % vs {name}" in row.group(4), name
    # the transforms' ceiling on the card is the one measured for the shipped file
    ceiling = json.loads((LOGS / "transform-ceiling.json").read_text())["results"]
    shipped = [k for k in ceiling if k.startswith("shipped in session")][-1]
    assert f"{steps} steps" in shipped, f"the last shipped ceiling entry ({shipped}) is not the card's file"
    q8 = next(r for r in ceiling[shipped] if r["quality"] == 8)
    coded, unquantized = q8["psnr_coded"], q8["psnr_unquantized"]
    assert re.search(rf"^\| 8 \| {q8['bpp_estimated']:.3f} \| {coded:.2f} \| {unquantized:.2f} \| "
                     rf"{unquantized - coded:.2f} \|", card, re.M), "the card's ceiling row at q8"
    assert f"the shipped file ({steps} steps, measured in" in card
