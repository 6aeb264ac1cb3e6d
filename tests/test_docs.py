"""The documentation stands on its own: every link resolves inside the repository, headings included."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
DOCS = [
    REPO / "README.md",
    REPO / "CHANGELOG.md",
    REPO / "tests" / "data" / "examples" / "README.md",
    *sorted((REPO / "docs").glob("*.md")),
]
SELF_CONTAINED = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]

LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)
INLINE_CODE = re.compile(r"`[^`\n]*`")
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*$", re.MULTILINE)


def prose(path: Path) -> str:
    """The Markdown without code blocks and inline code, where brackets are not links."""
    return INLINE_CODE.sub("", FENCE.sub("", path.read_text(encoding="utf-8")))


def links(path: Path) -> list[str]:
    return LINK.findall(prose(path))


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading).replace("`", "").lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """Every heading anchor of a Markdown file, with GitHub's -1, -2 ... for repeated headings."""
    seen: dict[str, int] = {}
    found: set[str] = set()
    for heading in HEADING.findall(FENCE.sub("", path.read_text(encoding="utf-8"))):
        base = slug(heading)
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def test_slugs_follow_githubs_rules() -> None:
    assert slug("6. `PUT /users/{user_id}` in detail") == "6-put-usersuser_id-in-detail"
    assert slug("10. Sandbox decisions") == "10-sandbox-decisions"
    assert slug("[0.1.0] - 2026-11-29") == "010---2026-11-29"


@pytest.mark.parametrize("document", DOCS, ids=lambda p: str(p.relative_to(REPO)))
def test_every_relative_link_resolves(document: Path) -> None:
    broken = []
    for target in links(document):
        if re.match(r"[a-z][a-z0-9+.-]*:", target):  # https:, mailto: ...
            continue
        path_part, _, fragment = target.partition("#")
        resolved = (document.parent / path_part).resolve() if path_part else document
        inside = resolved.exists() and REPO in (resolved, *resolved.parents)
        if not inside or (fragment and resolved.is_file() and fragment not in anchors(resolved)):
            broken.append(target)
    assert not broken, f"{document.name}: {broken}"


@pytest.mark.parametrize("document", SELF_CONTAINED, ids=lambda p: str(p.relative_to(REPO)))
def test_links_stay_inside_the_repository(document: Path) -> None:
    outside = [target for target in links(document) if re.match(r"[a-z][a-z0-9+.-]*:", target)]
    assert not outside
    assert "shared/" not in document.read_text(encoding="utf-8")


def test_the_api_reference_has_sections_1_to_11() -> None:
    text = (REPO / "docs" / "users-api.md").read_text(encoding="utf-8")
    numbers = [int(n) for n in re.findall(r"^## (\d+)\. ", text, re.MULTILINE)]
    assert numbers == list(range(1, 12))
    subsections = re.findall(r"^### (\d+\.\d+) ", text, re.MULTILINE)
    expected = {1: 5, 2: 5, 3: 4, 4: 7, 5: 2, 6: 5}
    assert subsections == [f"{major}.{minor}" for major, n in expected.items() for minor in range(1, n + 1)]


def test_every_rc_the_client_knows_is_documented() -> None:
    from horde_users.models import RC

    text = (REPO / "docs" / "users-api.md").read_text(encoding="utf-8")
    section = text[text.index("### 3.3") : text.index("### 3.4")]
    assert {member.value for member in RC} <= set(re.findall(r"^\| `(\w+)` \|", section, re.MULTILINE))
