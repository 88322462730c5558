import io

from mlic._progress import progress_bar


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_a_file_gets_one_line_per_redraw_and_the_final_state():
    out = io.StringIO()
    for _ in progress_bar(range(5), file=out, desc="train", file_interval_s=0, miniters=1):
        pass
    text = out.getvalue()
    assert "\r" not in text
    lines = text.splitlines()
    assert len(lines) >= 2 and all(line.startswith("train:") for line in lines)
    assert "5/5" in lines[-1]
    assert all(line == line.rstrip() for line in lines)  # tqdm's erasing spaces are gone


def test_a_file_is_redrawn_at_most_every_interval():
    out = io.StringIO()
    bar = progress_bar(total=1000, file=out, desc="train")  # default interval: 30 s
    for _ in range(1000):
        bar.update(1)
    bar.close()
    lines = out.getvalue().splitlines()
    assert len(lines) <= 3  # the start, perhaps one redraw, the end; never one per step
    assert "1000/1000" in lines[-1]


def test_a_terminal_keeps_the_in_place_bar():
    out = _Terminal()
    for _ in progress_bar(range(3), file=out, desc="x", mininterval=0, miniters=1):
        pass
    assert "\r" in out.getvalue()


def test_disabled_writes_nothing():
    out = io.StringIO()
    for _ in progress_bar(range(3), file=out, disable=True):
        pass
    assert out.getvalue() == ""
