"""Text handling of the sandbox (docs/users-api.md §6.4): sanitising and the profanity check."""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

import bleach

#: The small default word list; replace it with ``profanity_words=[...]`` or ``--profanity-file``.
DEFAULT_PROFANITY_WORDS: tuple[str, ...] = (
    "arsehole",
    "asshole",
    "bastard",
    "bitch",
    "bollocks",
    "bullshit",
    "cock",
    "cunt",
    "dickhead",
    "fuck",
    "fucker",
    "fucking",
    "motherfucker",
    "nigger",
    "shit",
    "slut",
    "twat",
    "wanker",
    "whore",
)


def sanitise(text: str) -> str:
    """Clean ``text`` with bleach's default ``clean()`` and strip surrounding whitespace."""
    return str(bleach.clean(text)).strip()


class ProfanityFilter:
    """Whole-word, case-insensitive match of a word list against the sanitised form of a text."""

    def __init__(self, words: Iterable[str] | None = None) -> None:
        chosen = DEFAULT_PROFANITY_WORDS if words is None else words
        self.words: tuple[str, ...] = tuple(sorted({w.strip().lower() for w in chosen if w.strip()}))
        if self.words:
            alternatives = "|".join(re.escape(w) for w in sorted(self.words, key=len, reverse=True))
            self._pattern: re.Pattern[str] | None = re.compile(
                rf"(?<!\w)(?:{alternatives})(?!\w)", re.IGNORECASE
            )
        else:
            self._pattern = None

    def is_profane(self, text: str) -> bool:
        """Return True when the sanitised ``text`` contains a listed word as a whole word."""
        if self._pattern is None:
            return False
        return self._pattern.search(sanitise(text)) is not None

    @classmethod
    def from_file(cls, path: str | Path) -> ProfanityFilter:
        """Read one word per line (blank lines and ``#`` comments skipped)."""
        return cls(read_word_file(path))


def read_word_file(path: str | Path) -> list[str]:
    """Words of a profanity file: one per line, blank lines and ``#`` comments skipped."""
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    return [w.strip() for w in lines if w.strip() and not w.lstrip().startswith("#")]
