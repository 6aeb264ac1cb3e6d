"""Fixtures of the journal, undo and bulk tests: a seeded sandbox, clients per role, a fresh journal.

Test modules load them with ``pytest_plugins = ["tests.moderation.journal_support"]``.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from horde_users.client import HordeUsers
from horde_users.moderation.database import open_database
from horde_users.moderation.journal import Journal
from horde_users.sandbox import Sandbox, SeededUser

_names = itertools.count(1)


@dataclass(frozen=True)
class Staff:
    """A sandbox with an admin who is also a moderator (``boss``), a moderator and an admin only."""

    sandbox: Sandbox
    boss: SeededUser
    mod: SeededUser
    admin: SeededUser

    def client(self, user: SeededUser) -> HordeUsers:
        """A client with ``user``'s key (no retry waits, so failures show at once)."""
        return HordeUsers(api_key=user.api_key, base_url=self.sandbox.url, sleep=lambda _s: None)

    def user(self, prefix: str = "target", **options: object) -> SeededUser:
        """A new user for one test, so tests never disturb each other."""
        return self.sandbox.create_user(f"{prefix}{next(_names)}", **options)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def staff() -> Iterator[Staff]:
    with Sandbox(rate_limits=False) as sandbox:
        yield Staff(
            sandbox,
            boss=sandbox.create_user("boss", admin=True, moderator=True, kudos=1000),
            mod=sandbox.create_user("mia", moderator=True),
            admin=sandbox.create_user("adam", admin=True),
        )


@pytest.fixture
def boss(staff: Staff) -> Iterator[HordeUsers]:
    with staff.client(staff.boss) as client:
        yield client


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    engine = open_database(str(tmp_path / "journal.db"))
    yield Journal(engine)
    engine.dispose()


@pytest.fixture
def view(staff: Staff) -> Iterator[Callable[[int], dict[str, object]]]:
    """The moderator's view of a user now, as a dict by wire name."""
    with staff.client(staff.boss) as client:
        yield lambda user_id: client.get_user(user_id).model_dump(mode="json", by_alias=True)
