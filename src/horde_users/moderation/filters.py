"""What to look for in the index: :class:`Filters`, the sort orders, and ``parse_age("30d")``.

The same :class:`Filters` drive ``user find``, ``index export`` and the console, so a search and an
export of it always agree. :func:`where_clauses` turns them into SQL conditions on ``index_users``.
"""

from __future__ import annotations

import enum
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, false, literal_column, or_, select, table, true

from horde_users.endpoints import MAX_USER_ID
from horde_users.moderation.errors import ModerationError
from horde_users.moderation.index_tables import NAMES_FTS, index_users

_AGE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdwy]?)\s*$", re.IGNORECASE)
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400, "y": 365 * 86400}
_TRIGRAM = 3  # the shortest fragment the trigram table can answer


class FilterError(ModerationError, ValueError):
    """A filter value that cannot be used (a bad age, a negative limit ...)."""


def parse_age(value: str) -> float:
    """``"30d"`` -> seconds. Units: s, m (minutes), h, d, w, y (365 days); a bare number is seconds."""
    match = _AGE.match(value)
    if match is None:
        raise FilterError(f"not an age: {value!r} (expected a number and a unit, like 30d, 12h or 90m)")
    return float(match.group(1)) * _UNIT_SECONDS[match.group(2).lower()]


class SortKey(str, enum.Enum):
    """Result orders; each has a natural direction, reversed by ``reverse=True``."""

    kudos = "kudos"
    """Most kudos first."""
    age = "age"
    """Oldest account first (the list's ``sort=age``)."""
    newest = "newest"
    """Newest account first."""
    name = "name"
    """By name, A to Z (case-insensitive)."""
    id = "id"
    """By id, lowest first."""


@dataclass(frozen=True)
class Filters:
    """Conditions a user must meet; None means "either way". All given conditions must hold.

    ``text`` matches a name fragment (case-insensitive), an alias ``NAME#ID``, or an id (a number
    matches that id and names containing it). Ages are account ages in seconds (see :func:`parse_age`).
    ``gone`` defaults to False: users that left the list are hidden unless asked for.
    """

    text: str | None = None
    trusted: bool | None = None
    flagged: bool | None = None
    moderator: bool | None = None
    service: bool | None = None
    education: bool | None = None
    customizer: bool | None = None
    pseudonymous: bool | None = None
    deleted: bool | None = None
    gone: bool | None = False
    has_workers: bool | None = None
    min_kudos: float | None = None
    max_kudos: float | None = None
    older_than: float | None = None
    newer_than: float | None = None

    def __post_init__(self) -> None:
        for name in ("older_than", "newer_than"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise FilterError(f"{name.replace('_', ' ')} must not be negative")
        if self.min_kudos is not None and self.max_kudos is not None and self.min_kudos > self.max_kudos:
            raise FilterError("min kudos is above max kudos: nothing can match")


_ROLE_FILTERS = (
    "trusted",
    "flagged",
    "moderator",
    "service",
    "education",
    "customizer",
    "pseudonymous",
    "deleted",
    "gone",
)


NameMatcher = Callable[[str], "ColumnElement[bool] | None"]
"""A fast SQL condition that narrows the users to a superset of those whose lower-cased name contains a
fragment (the LIKE that decides is added to it), or None to leave the LIKE alone."""


def trigram_query(fragment: str) -> str | None:
    """The FTS5 query that narrows a lower-cased fragment to the names holding some of its trigrams (every
    third one and the last: a name containing the fragment holds them all), or None below three
    characters. Fewer trigrams than all of them read fewer lists, and the LIKE that follows is exact."""
    if len(fragment) < _TRIGRAM:
        return None
    picked = {fragment[i : i + _TRIGRAM] for i in range(0, len(fragment) - _TRIGRAM + 1, _TRIGRAM)}
    picked.add(fragment[-_TRIGRAM:])
    return " AND ".join('"' + trigram.replace('"', '""') + '"' for trigram in sorted(picked))


def trigram_matcher(fragment: str) -> ColumnElement[bool]:
    """A :data:`NameMatcher` for SQLite: the ids holding the fragment's trigrams, from the trigram table in
    one subquery (FTS5's own ``GLOB`` would re-read every candidate's text; the LIKE on the small rows is
    cheaper). A fragment too short for trigrams gets the ids from one scan of the name index instead,
    which reads the names in file order rather than every row in the sort's order."""
    query = trigram_query(fragment)
    if query is None:
        scanned = index_users.alias("names_scanned")
        pattern = f"%{_like_escape(fragment)}%"
        holding = scanned.c.name_lower.like(pattern, escape="\\")
        return index_users.c.id.in_(select(scanned.c.id).where(holding))
    names = table(NAMES_FTS)
    ids: Select[Any] = select(literal_column("rowid")).select_from(names)
    return index_users.c.id.in_(ids.where(literal_column(NAMES_FTS).op("MATCH")(query)))


def where_clauses(
    filters: Filters,
    *,
    now: float | None = None,
    names: NameMatcher | None = None,
    columns: Any = None,
    text: bool = True,
) -> list[ColumnElement[bool]]:
    """SQL conditions on ``index_users`` for ``filters`` (``names``: a fast name-fragment condition).

    ``columns``: the same columns in a subquery (default: ``index_users``'); ``text=False`` leaves out
    the text condition (see :func:`text_clause`).
    """
    c = index_users.c if columns is None else columns
    clauses: list[ColumnElement[bool]] = []
    if text and filters.text is not None and filters.text.strip():
        clauses.append(text_clause(filters.text, names, c))
    for name in _ROLE_FILTERS:
        wanted = getattr(filters, name)
        if wanted is not None:
            # "= true" (not "IS true"): the partial indexes are declared with the same expression
            clauses.append(c[name] == true() if wanted else c[name] == false())
    if filters.has_workers is not None:
        clauses.append(c.worker_count > 0 if filters.has_workers else c.worker_count == 0)
    if filters.min_kudos is not None:
        clauses.append(c.kudos >= filters.min_kudos)
    if filters.max_kudos is not None:
        clauses.append(c.kudos <= filters.max_kudos)
    moment = time.time() if now is None else now
    if filters.older_than is not None:
        clauses.append(c.created_at <= moment - filters.older_than)
    if filters.newer_than is not None:
        clauses.append(c.created_at > moment - filters.newer_than)
    return clauses


def fragment_of(filters: Filters) -> str | None:
    """The lower-cased name fragment ``filters.text`` searches for (None: no text, or an alias)."""
    query = (filters.text or "").strip()
    if not query:
        return None
    _, sep, id_text = query.rpartition("#")
    return None if sep and id_text.isascii() and id_text.isdigit() else query.lower()


def text_clause(text: str, names: NameMatcher | None = None, columns: Any = None) -> ColumnElement[bool]:
    """The condition for :attr:`Filters.text` on ``columns`` (default: ``index_users``')."""
    c = index_users.c if columns is None else columns
    query = text.strip()
    name, sep, id_text = query.rpartition("#")
    if sep and id_text.isascii() and id_text.isdigit():
        user_id = int(id_text)
        if user_id > MAX_USER_ID:
            return false()
        by_id = c.id == user_id
        return and_(by_id, c.name_lower == name.lower()) if name else by_id
    fragment = query.lower()
    matched = c.name_lower.like(f"%{_like_escape(fragment)}%", escape="\\")
    narrowed = names(fragment) if names is not None else None
    if narrowed is not None:
        matched = and_(narrowed, matched)
    if query.isascii() and query.isdigit() and int(query) <= MAX_USER_ID:
        return or_(c.id == int(query), matched)
    return matched


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def order_by(sort: SortKey, reverse: bool = False, columns: Any = None) -> list[Any]:
    """ORDER BY terms for ``sort``; ties are broken by id in the same direction, so one backward or
    forward walk of the sort column's index (which ends in the id) yields the rows in order.
    ``columns``: the same columns in a subquery (default: ``index_users``')."""
    c = index_users.c if columns is None else columns
    terms: dict[SortKey, list[tuple[Any, bool]]] = {  # (column, descending)
        SortKey.kudos: [(c.kudos, True), (c.id, True)],
        SortKey.age: [(c.created_at, False), (c.id, False)],
        SortKey.newest: [(c.created_at, True), (c.id, True)],
        SortKey.name: [(c.name_lower, False), (c.id, False)],
        SortKey.id: [(c.id, False)],
    }
    return [
        column.desc() if descending != reverse else column.asc()
        for column, descending in terms[SortKey(sort)]
    ]
