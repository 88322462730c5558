"""scripts/rd_table.py prints the model card's RD table: anchors interpolated linearly in log bpp."""
import json
import math
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "rd_table.py"


def _curve(path, bpp, psnr, **extra):
    path.write_text(json.dumps({"name": path.stem, "description": "", "results": {"bpp": bpp, "psnr-rgb": psnr, **extra}}))


def test_anchor_psnr_is_read_at_the_models_rate(tmp_path):
    # the anchor's points are given out of order: the script must not rely on the file's order
    _curve(tmp_path / "webp.json", [0.4, 0.1], [30.0, 26.0])
    _curve(tmp_path / "mlic.json", [0.2], [28.5], **{"ms-ssim-rgb": [0.95], "quality": [1]})
    out = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path), "--anchors", "webp"],
                         capture_output=True, text=True, check=True).stdout.splitlines()
    expected = 26.0 + 4.0 * math.log(0.2 / 0.1) / math.log(0.4 / 0.1)  # 28.00 dB, halfway in log bpp
    assert out[0] == "| quality | bpp | PSNR-RGB (dB) | MS-SSIM | webp |"
    assert out[2] == f"| 1 | 0.200 | 28.50 | 0.9500 | {expected:.2f} |"


def test_rates_outside_the_anchors_measured_range_show_a_dash(tmp_path):
    _curve(tmp_path / "webp.json", [0.1, 0.4], [26.0, 30.0])
    _curve(tmp_path / "mlic.json", [0.05, 0.8], [24.0, 31.0], **{"ms-ssim-rgb": [0.9, 0.97], "quality": [1, 2]})
    out = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path), "--anchors", "webp"],
                         capture_output=True, text=True, check=True).stdout.splitlines()
    assert out[2].endswith("| — |") and out[3].endswith("| — |")  # not the end points repeated
