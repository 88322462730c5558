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


def test_gain_against_an_earlier_model_is_the_psnr_difference_at_equal_rate(tmp_path):
    _curve(tmp_path / "webp.json", [0.1, 0.4], [26.0, 30.0])
    earlier = tmp_path / "earlier" / "mlic.json"
    earlier.parent.mkdir()
    _curve(earlier, [0.1, 0.4], [27.0, 31.0])
    _curve(tmp_path / "mlic.json", [0.2], [28.5], **{"ms-ssim-rgb": [0.95], "quality": [1]})
    out = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path), "--anchors", "webp", "--previous", str(earlier),
                          "--gain"], capture_output=True, text=True, check=True).stdout.splitlines()  # fmt: skip
    assert out[0] == "| quality | bpp | PSNR-RGB (dB) | MS-SSIM | webp | previous |"
    assert out[2] == "| 1 | 0.200 | 28.50 | 0.9500 | +0.50 | -0.50 |"  # both anchors read 28.00 / 29.00 at 0.2 bpp


def test_bd_ranges_compares_all_qualities_and_a_subset(tmp_path):
    script = SCRIPT.parent / "bd_ranges.py"
    bpp, psnr = [0.1, 0.2, 0.4, 0.8, 1.6], [25.0, 27.0, 29.0, 31.0, 33.0]
    _curve(tmp_path / "webp.json", bpp, psnr)
    # the model needs 10 % fewer bits at every quality
    _curve(tmp_path / "mlic.json", [b * 0.9 for b in bpp], psnr, quality=[1, 2, 3, 4, 5])
    out = tmp_path / "bd.json"
    subprocess.run([sys.executable, str(script), str(tmp_path), "--anchors", "webp", "--qualities", "2", "3", "4", "5",
                    "-o", str(out)], capture_output=True, text=True, check=True)  # fmt: skip
    res = json.loads(out.read_text())["webp"]
    assert math.isclose(res["all"]["bd_rate"], -10.0, abs_tol=0.01)
    assert math.isclose(res["q2,3,4,5"]["bd_rate"], -10.0, abs_tol=0.01)
    assert res["q2,3,4,5"]["overlap"][0] == 27.0 and res["all"]["overlap"][0] == 25.0  # the subset starts at q2
