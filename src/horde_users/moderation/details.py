"""The moderator's view of chosen users (``suspicious``, ``contact``, ``admin_comment`` ...), indexed.

The list shows only the public view. With a moderator's key, ``GET /v2/users/{id}`` shows the privileged
fields; :func:`fetch_details` reads them for a chosen set of indexed users, paced like the sync, and
stores each answer beside the public view (``details_json``, ``details_at``, ``suspicious``), without
the credentials it shows (``proxy_passkey``, ``sharedkey_ids``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, select, update

from horde_users.errors import NotFoundError
from horde_users.moderation.errors import ModerationError
from horde_users.moderation.index_tables import index_user_views, index_users
from horde_users.moderation.pacing import PacedCalls, Pacer

if TYPE_CHECKING:
    from horde_users.client import HordeUsers


class NotModeratorError(ModerationError):
    """The key does not show the moderator's view (it is not a moderator's key)."""

    refusal = True
    hint = "pass a moderator's key with --api-key or AI_HORDE_API_KEY"


@dataclass(frozen=True)
class DetailsReport:
    """What :func:`fetch_details` did."""

    fetched: list[int] = field(default_factory=list)
    not_found: list[int] = field(default_factory=list)
    """Ids the server no longer has (marked gone in the index)."""
    not_indexed: list[int] = field(default_factory=list)
    """Ids that are not in the index (sync first); nothing was requested for them."""
    requests: int = 0
    rate_limited: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def fetch_details(
    engine: Engine,
    client: HordeUsers,
    ids: Iterable[int],
    *,
    pacer: Pacer,
    progress: Callable[[int, int], None] | None = None,
    clock: Callable[[], float] = time.time,
) -> DetailsReport:
    """Fetch and store the privileged view of ``ids`` (indexed users), one paced request each.

    Raises :class:`NotModeratorError` at the first answer without the moderator's fields, before
    storing anything of it. ``progress(done, total)`` is called after each user.
    """
    wanted = list(dict.fromkeys(int(i) for i in ids))
    with engine.connect() as conn:
        known = set(conn.execute(select(index_users.c.id).where(index_users.c.id.in_(wanted))).scalars())
    todo = [i for i in wanted if i in known]
    report = DetailsReport(not_indexed=[i for i in wanted if i not in known])
    requests = PacedCalls(pacer)
    for done, user_id in enumerate(todo, start=1):
        try:
            user = requests.call(partial(client.get_user, user_id))
        except NotFoundError:
            values: dict[str, Any] = {"gone": True, "gone_since": clock()}
            report.not_found.append(user_id)
        else:
            if user.suspicious is None:
                raise NotModeratorError(
                    "the API key does not show the moderator's view: fetching details needs a moderator's key"
                )
            values = {"suspicious": user.suspicious}
            view = {
                # credentials (proxy passkeys, shared key ids) are never stored
                "details_json": user.model_dump_json(
                    by_alias=True, exclude_unset=True, exclude=user.get_sensitive_fields()
                ),
                "details_at": clock(),
            }
            report.fetched.append(user_id)
        with engine.begin() as conn:
            conn.execute(update(index_users).where(index_users.c.id == user_id).values(**values))
            if "suspicious" in values:
                conn.execute(update(index_user_views).where(index_user_views.c.id == user_id).values(**view))
        if progress is not None:
            progress(done, len(todo))
    return DetailsReport(
        fetched=report.fetched,
        not_found=report.not_found,
        not_indexed=report.not_indexed,
        requests=requests.sent,
        rate_limited=requests.rate_limited,
    )
