"""Shared setup of the index tests: a sandbox seeded with users of every kind, and what it holds."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from horde_users.client import HordeUsers
from horde_users.sandbox import Sandbox
from horde_users.sandbox.rules import UserData

FAST_RATE = 60_000.0
"""Requests a minute for tests against a sandbox with its rate limits off."""


@dataclass(frozen=True)
class Kinds:
    """Ids of the seeded users by kind (for choosing targets in tests)."""

    flagged: list[int]
    deleted: list[int]
    with_workers: list[int]


def seed(sandbox: Sandbox, count: int, *, seed_value: int = 7) -> Kinds:
    """``count`` users of every kind: roles, kudos, ages from minutes to years, workers, flags, deletions."""
    rng = random.Random(seed_value)
    now = datetime.now(timezone.utc)
    words = ["alpha", "Bravo", "charlie", "Delta", "echo", "fox", "golf", "hotel", "ÉLAN", "zulu_"]
    flagged: list[int] = []
    deleted: list[int] = []
    with_workers: list[int] = []
    for n in range(count):
        name = f"{rng.choice(words)}{rng.choice(words).lower()}{n}"
        user = sandbox.create_user(
            name,
            moderator=n % 97 == 0,
            trusted=n % 3 == 0,
            service=n % 41 == 0,
            education=n % 53 == 0,
            pseudonymous=n % 7 == 0,
            kudos=rng.choice([0, 0, 5, 100, 2500.5, 10**6]) + n,
            created=now - timedelta(seconds=rng.randint(60, 3 * 365 * 86400)),
        )
        if n % 31 == 0:
            sandbox.store.set_fields(user.id, flagged=True)
            flagged.append(user.id)
        if n % 37 == 0:
            sandbox.store.soft_delete(user.id)
            deleted.append(user.id)
        if n % 89 == 0:
            sandbox.add_worker(user.id)
            with_workers.append(user.id)
    return Kinds(flagged=flagged, deleted=deleted, with_workers=with_workers)


def sandbox_users(sandbox: Sandbox) -> dict[int, UserData]:
    """Every user the sandbox lists (wiped ones excluded), by id."""
    total = sandbox.store.count_users()
    return {user.id: user for user in sandbox.store.list_users("age", 0, total + 10)}


def client(sandbox: Sandbox, api_key: str | None = None) -> HordeUsers:
    """A client for the index: no retries of its own (the sync paces and retries)."""
    return HordeUsers(base_url=sandbox.url, api_key=api_key, max_retries=0)
