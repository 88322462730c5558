"""merge_caches: scripts/adopt_weights.py shares the classical codecs' results an evaluation coded with
the cache it was given, so the next evaluation does not code them again, and keeps the model's own
results out of it."""
import json

from mlic.evaluate.runner import merge_caches

CLASSICAL = ("jpeg", "webp", "avif", "heic")


def _line(codec, quality, image="a"):
    return json.dumps({"key": f"{codec}|settings|{quality}|{image}", "row": {"codec": codec, "quality": quality, "bpp": 0.1 * quality}})


def test_new_classical_results_go_back_to_the_shared_cache_once(tmp_path):
    shared = tmp_path / "shared.jsonl"
    shared.write_text(_line("jpeg", 5) + "\n")
    cache = tmp_path / "cache.jsonl"
    # the run's cache: the shared line copied in, one new result per classical codec, the model's own
    cache.write_text("\n".join([_line("jpeg", 5), _line("webp", 40), _line("heic", 30, "b"), _line("mlic", 3)]) + "\n")

    assert merge_caches(cache, shared, codecs=CLASSICAL) == 2
    keys = [json.loads(line)["key"] for line in shared.read_text().splitlines()]
    assert keys == ["jpeg|settings|5|a", "webp|settings|40|a", "heic|settings|30|b"]
    assert merge_caches(cache, shared, codecs=CLASSICAL) == 0  # running again adds nothing
    assert len(shared.read_text().splitlines()) == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache.jsonl", "shared.jsonl"]  # no temporary file left


def test_sharing_with_itself_or_from_nothing_changes_nothing(tmp_path):
    shared = tmp_path / "cache.jsonl"
    shared.write_text(_line("avif", 20) + "\n")
    before = shared.read_bytes()
    assert merge_caches(shared, shared) == 0
    assert merge_caches(tmp_path / "missing.jsonl", shared) == 0
    assert shared.read_bytes() == before


def test_a_line_an_interrupted_run_cut_short_is_skipped_not_fatal(tmp_path):
    source = tmp_path / "run.jsonl"
    source.write_text(_line("webp", 10) + "\n" + _line("avif", 30)[:25])  # the last line cut mid-write
    target = tmp_path / "into.jsonl"
    assert merge_caches(source, target) == 1  # into a cache that does not exist yet
    assert [json.loads(line)["key"] for line in target.read_text().splitlines()] == ["webp|settings|10|a"]


def test_into_a_folder_that_does_not_exist_yet(tmp_path):
    # scripts/adopt_weights.py --classical runs/eval-classical/cache.jsonl on a new checkout, where runs/
    # holds no such folder: the merge used to crash after the whole evaluation had run
    source = tmp_path / "run.jsonl"
    source.write_text(_line("webp", 10) + "\n")
    target = tmp_path / "new" / "folder" / "cache.jsonl"
    assert merge_caches(source, target) == 1
    assert [json.loads(line)["key"] for line in target.read_text().splitlines()] == ["webp|settings|10|a"]
