"""Relative links in the README and docs/ lead somewhere: the file exists, and a #fragment names a heading.

The model card and its history link into each other by section; a renamed heading would otherwise break
those links silently.
"""
import functools
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
CODE_BLOCK = re.compile(r"^```.*?^```", re.S | re.M)


def github_slug(heading: str) -> str:
    """The anchor GitHub gives a Markdown heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*_]", "", heading.strip().lower())
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def _prose(path: Path) -> str:
    """The file without its fenced code blocks, where brackets and '#' lines are code, not Markdown."""
    return CODE_BLOCK.sub("", path.read_text(encoding="utf-8"))


@functools.cache  # many links point into the same few pages
def anchors(path: Path) -> frozenset[str]:
    return frozenset(github_slug(m.group(1)) for m in re.finditer(r"^#{1,6}\s+(.+?)\s*#*$", _prose(path), re.M))


def relative_links(path: Path):
    for target in LINK.findall(_prose(path)):
        if re.match(r"[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
            continue
        yield target


def test_slug_matches_github():
    assert github_slug("Each shipped file against the classical codecs") == "each-shipped-file-against-the-classical-codecs"
    assert github_slug("`mlicpp-small` — the shipped default (honest status)") == "mlicpp-small--the-shipped-default-honest-status"
    assert github_slug("Rate–distortion, measured") == "ratedistortion-measured"


def broken_links(doc: Path) -> list[str]:
    problems = []
    for target in relative_links(doc):
        file_part, _, fragment = target.partition("#")
        dest = (doc.parent / file_part).resolve() if file_part else doc
        if not dest.exists():
            problems.append(f"{target}: no such file")
        elif fragment and dest.suffix == ".md" and fragment not in anchors(dest):
            problems.append(f"{target}: no heading with that anchor in {dest.name}")
    return problems


def test_broken_links_are_found(tmp_path):
    (tmp_path / "other.md").write_text("# Other page\n\n## A section\n")
    doc = tmp_path / "doc.md"
    doc.write_text(
        "# Doc\n[ok](other.md#a-section) [self](#doc) [web](https://example.org/x.md)\n"
        "[gone](missing.md) [renamed](other.md#old-section) [here](#nowhere)\n"
        "```\n[in code](not-checked.md)\n```\n"
    )
    assert broken_links(doc) == [
        "missing.md: no such file",
        "other.md#old-section: no heading with that anchor in other.md",
        "#nowhere: no heading with that anchor in doc.md",
    ]


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_relative_links_resolve(doc):
    problems = broken_links(doc)
    assert not problems, f"{doc.name}: " + "; ".join(problems)
