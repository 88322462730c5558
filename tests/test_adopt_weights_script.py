"""scripts/adopt_weights.py shares the classical codecs' results it coded with the cache it was given,
so the next evaluation does not code them again, and keeps the model's own results out of it."""
import importlib.util
import json
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "adopt_weights.py"


def _script():
    spec = importlib.util.spec_from_file_location("adopt_weights", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _line(codec, quality, image="a"):
    return json.dumps({"key": f"{codec}|settings|{quality}|{image}", "row": {"codec": codec, "quality": quality, "bpp": 0.1 * quality}})


def test_new_classical_results_go_back_to_the_shared_cache_once(tmp_path):
    share = _script().share_classical_results
    shared = tmp_path / "shared.jsonl"
    shared.write_text(_line("jpeg", 5) + "\n")
    cache = tmp_path / "cache.jsonl"
    # the run's cache: the shared line copied in, one new result per classical codec, the model's own
    cache.write_text("\n".join([_line("jpeg", 5), _line("webp", 40), _line("heic", 30, "b"), _line("mlic", 3)]) + "\n")

    assert share(cache, shared) == 2
    keys = [json.loads(line)["key"] for line in shared.read_text().splitlines()]
    assert keys == ["jpeg|settings|5|a", "webp|settings|40|a", "heic|settings|30|b"]
    assert share(cache, shared) == 0  # running again adds nothing
    assert len(shared.read_text().splitlines()) == 3
    assert not list(tmp_path.glob("*.tmp"))


def test_sharing_with_itself_or_from_nothing_changes_nothing(tmp_path):
    share = _script().share_classical_results
    shared = tmp_path / "cache.jsonl"
    shared.write_text(_line("avif", 20) + "\n")
    before = shared.read_bytes()
    assert share(shared, shared) == 0
    assert share(tmp_path / "missing.jsonl", shared) == 0
    assert shared.read_bytes() == before
