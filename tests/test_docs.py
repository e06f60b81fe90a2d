"""The README and the pages in docs/: every relative link leads to a file, and to a heading where
it names one, and every page in docs/ is reachable from the README (README, "Tests")."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^(```|~~~).*?^\1", re.S | re.M)
CODE = re.compile(r"(`+).+?\1", re.S)
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
HTML = re.compile(r"<(?:img|a)\s[^>]*?(?:src|href)=\"([^\"]+)\"")  # <img src=...> sets a width


def prose(text: str) -> str:
    """The text without code blocks and code spans, whose brackets are not links."""
    return CODE.sub("", FENCE.sub("", text))


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped (not - or _), spaces as -."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading.strip().lower())  # a link keeps its text
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    seen: dict[str, int] = {}
    found = set()
    for line in FENCE.sub("", page.read_text()).splitlines():
        if match := re.match(r"#{1,6}\s+(.*?)\s*#*\s*$", line):
            base = slug(match.group(1))
            n = seen.get(base, 0)
            seen[base] = n + 1
            found.add(base if n == 0 else f"{base}-{n}")  # GitHub numbers a repeated heading
    return found


def links(page: Path) -> list[str]:
    text = prose(page.read_text())
    return [target for target in LINK.findall(text) + HTML.findall(text)
            if not re.match(r"[a-z][a-z0-9+.-]*:", target)]  # http:, https:, mailto: are not checked


def test_the_slugs_are_githubs():
    assert slug("GPU speed / CUDA graph") == "gpu-speed--cuda-graph"
    assert slug("Choosing `best`") == "choosing-best"
    assert slug("How good are the digits: the scores") == "how-good-are-the-digits-the-scores"
    assert slug("What it adds for `src/train.py`'s trials") == "what-it-adds-for-srctrainpys-trials"


def test_a_broken_link_is_found(tmp_path):
    page = tmp_path / "page.md"
    (tmp_path / "there.md").write_text("# A heading\n")
    page.write_text("[ok](there.md#a-heading) [gone](missing.md) `[not](a-link.md)`\n\n"
                    "```\n[not](either.md)\n```\n[no heading](there.md#b-heading) [self](#nowhere)\n"
                    '<img src="gone.png" width="9">\n')
    assert links(page) == ["there.md#a-heading", "missing.md", "there.md#b-heading", "#nowhere", "gone.png"]
    assert broken(page) == ["missing.md", "there.md#b-heading", "#nowhere", "gone.png"]


def broken(page: Path) -> list[str]:
    bad = []
    for target in links(page):
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        if not file.exists():
            bad.append(target)
        elif anchor and file.suffix == ".md" and anchor not in anchors(file):
            bad.append(target)
    return bad


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_leads_somewhere(page):
    assert broken(page) == [], f"{page.relative_to(ROOT)}: links to what does not exist"


def test_every_page_in_docs_is_linked_from_the_readme():
    linked = {(ROOT / t.partition("#")[0]).resolve() for t in links(ROOT / "README.md") if t.partition("#")[0]}
    assert [p.name for p in PAGES[1:] if p.resolve() not in linked] == []
