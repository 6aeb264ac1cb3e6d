"""Sanitising and the profanity check (docs/users-api.md §6.4)."""

from __future__ import annotations

from pathlib import Path

import pytest

from horde_users.sandbox.texts import DEFAULT_PROFANITY_WORDS, ProfanityFilter, read_word_file, sanitise


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("<x>&y", "&lt;x&gt;&amp;y"),
        ("  padded  ", "padded"),
        ("a\x00b", "ab"),
        ("<b>bold</b>", "<b>bold</b>"),
        ("   ", ""),
        ("héllo ✓", "héllo ✓"),
    ],
)
def test_sanitise_uses_bleach_clean_then_strips(raw: str, clean: str) -> None:
    assert sanitise(raw) == clean


def test_default_list_matches_whole_words_case_insensitively() -> None:
    check = ProfanityFilter()
    assert "shit" in DEFAULT_PROFANITY_WORDS
    assert check.is_profane("what a SHIT name")
    assert check.is_profane("Shit")
    assert not check.is_profane("shitake mushrooms")
    assert not check.is_profane("Scunthorpe")
    assert not check.is_profane("a perfectly fine name")


def test_the_word_list_is_replaceable_and_may_be_empty() -> None:
    check = ProfanityFilter(["Badword", "  ", "two words"])
    assert check.is_profane("a badword here")
    assert check.is_profane("TWO WORDS")
    assert not check.is_profane("shit")
    assert not ProfanityFilter([]).is_profane("shit")


def test_the_check_runs_on_the_sanitised_form() -> None:
    check = ProfanityFilter(["x"])
    assert check.is_profane("<b>x</b>")
    # "<" sanitises to "&lt;", whose "lt" is a whole word of the sanitised form
    assert ProfanityFilter(["lt"]).is_profane("a < b")
    assert not ProfanityFilter(["lt"]).is_profane("alt")


def test_word_file_skips_blanks_and_comments(tmp_path: Path) -> None:
    path = tmp_path / "words.txt"
    path.write_text("# my list\nfoo\n\n  bar \n", encoding="utf-8")
    assert read_word_file(path) == ["foo", "bar"]
    assert ProfanityFilter.from_file(path).is_profane("FOO!")
