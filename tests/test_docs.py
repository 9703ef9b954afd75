"""The README and docs/ hold together: every relative link and picture resolves, anchors
included, and the README stays a newcomer's guide."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import ROOT

PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")


def without_fences(text: str) -> str:
    """The text less its fenced blocks, where a # is a shell comment, not a heading."""
    return re.sub(r"^```.*?^```", "", text, flags=re.MULTILINE | re.DOTALL)


def without_code(text: str) -> str:
    """The text less fenced blocks and inline code, where brackets are not links."""
    return re.sub(r"`[^`\n]*`", "", without_fences(text))


def anchors(page: Path) -> set[str]:
    """The anchors GitHub gives a page's headings: lower case, punctuation dropped (hyphens
    and underscores stay), spaces to hyphens."""
    found = set()
    for heading in re.findall(r"^#+\s+(.*)$", without_fences(page.read_text()), flags=re.MULTILINE):
        slug = re.sub(r"[^\w\- ]", "", heading.replace("`", "").strip().lower()).replace(" ", "-")
        found.add(slug)
    return found


def links(page: Path) -> list[str]:
    return [target for target in LINK.findall(without_code(page.read_text()))
            if not re.match(r"[a-z]+:", target)]  # http:, https:, mailto: are not checked here


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_and_picture_resolves(page):
    broken = []
    for target in links(page):
        path_part, _, anchor = target.partition("#")
        resolved = (page.parent / path_part).resolve() if path_part else page
        if not resolved.exists():
            broken.append(f"{target}: no such file")
        elif anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
            broken.append(f"{target}: no heading with that anchor in {resolved.name}")
    assert not broken, f"{page.name}: " + "; ".join(broken)


def test_the_checker_sees_a_broken_link_and_a_broken_anchor(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("# A page\n\n## Its part\n\n[ok](#its-part) [gone](missing.md) "
                    "![pic](page.md) `[not a link](nowhere.md)` [bad](#no-such-part)\n")
    assert links(page) == ["#its-part", "missing.md", "page.md", "#no-such-part"]
    assert anchors(page) == {"a-page", "its-part"}


def test_the_readme_is_a_short_guide_that_links_every_page():
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 250
    for page in PAGES[1:]:
        assert f"docs/{page.name}" in readme, f"the README does not link docs/{page.name}"
