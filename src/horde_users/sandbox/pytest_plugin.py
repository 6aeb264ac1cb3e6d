"""pytest fixtures that put a local AI Horde users sandbox one fixture away.

Registered through the ``pytest11`` entry point, so it is loaded into every pytest session of anyone who
installs horde-users: it imports nothing heavy at module level (the sandbox is imported inside the fixtures).
It loads without the ``sandbox`` extra too; a test that uses a fixture then fails with one line saying what
to install.

- ``horde_sandbox``: a fresh :class:`horde_users.sandbox.Sandbox` on a free loopback port for one test, rate
  limits off. Options go through the marker, e.g.
  ``@pytest.mark.horde_sandbox(rate_limits=True, admins=["root#1"], test_user_endpoint=True)``.
  ``faults=[...]`` adds faults before the test runs: dicts of ``Sandbox.faults.add``'s arguments or
  ``(method, path)`` / ``(method, path, {options})`` tuples; the fixture's ``.faults`` holds them.
- ``horde_sandbox_users``: that sandbox seeded with an admin (also moderator and trusted, like ``db0#1`` on
  the real server), a moderator (trusted) and two ordinary users, ``alice`` and ``bob``, with their keys.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from horde_users.sandbox import Sandbox, SeededUser
    from horde_users.sandbox.faults import FaultSet
    from horde_users.sandbox.requestlog import RequestLog

MARKER = "horde_sandbox"


@dataclass(frozen=True)
class SandboxUsers:
    """The seeded users of ``horde_sandbox_users``; each has ``id``, ``alias`` and ``api_key``."""

    sandbox: Sandbox
    admin: SeededUser
    moderator: SeededUser
    alice: SeededUser
    bob: SeededUser

    @property
    def url(self) -> str:
        """The sandbox's base URL (ends in ``/api``), ready for a client."""
        return self.sandbox.url

    @property
    def faults(self) -> FaultSet:
        """The sandbox's faults (``sandbox.faults``)."""
        return self.sandbox.faults

    @property
    def requests(self) -> RequestLog:
        """The sandbox's request log (``sandbox.requests``)."""
        return self.sandbox.requests

    def __repr__(self) -> str:  # never show API keys
        aliases = ", ".join(u.alias for u in (self.admin, self.moderator, self.alice, self.bob))
        return f"SandboxUsers(url={self.sandbox.url!r}, users=[{aliases}])"


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``horde_sandbox`` marker (so ``--strict-markers`` accepts it)."""
    config.addinivalue_line(
        "markers",
        f"{MARKER}(**options): keyword options for the horde_sandbox fixture's "
        "horde_users.sandbox.Sandbox (rate_limits, admins, test_user_endpoint, profanity_words, database, "
        "dev_endpoints), and faults=[...] for Sandbox.faults.add.",
    )


def sandbox_options(node: pytest.Item) -> dict[str, Any]:
    """Merge the keyword options of every ``horde_sandbox`` marker on a test; the closest marker wins."""
    options: dict[str, Any] = {}
    for marker in reversed(list(node.iter_markers(MARKER))):  # farthest (module/class) first
        if marker.args:
            raise pytest.UsageError(f"@pytest.mark.{MARKER} takes keyword options only, got {marker.args!r}")
        options.update(marker.kwargs)
    options.setdefault("rate_limits", False)
    return options


@pytest.fixture
def horde_sandbox(request: pytest.FixtureRequest) -> Iterator[Sandbox]:
    """A fresh sandbox on a free loopback port, stopped after the test; ``.url`` is its base URL."""
    from horde_users._extras import MissingExtraError

    try:
        from horde_users.sandbox import Sandbox
    except MissingExtraError as error:
        missing = str(error)
    else:
        missing = ""
    if missing:  # failed outside the except block, so the report is one line, not a chained error
        pytest.fail(f"{MARKER}: {missing}", pytrace=False)

    node = request.node
    assert isinstance(node, pytest.Item)
    options = sandbox_options(node)
    faults = options.pop("faults", ())
    with Sandbox(**options) as sandbox:
        try:
            sandbox.faults.add_many(faults)
        except (TypeError, ValueError) as error:
            pytest.fail(f"{MARKER}(faults=...): {error}", pytrace=False)
        yield sandbox


@pytest.fixture
def horde_sandbox_users(horde_sandbox: Sandbox) -> SandboxUsers:
    """The ``horde_sandbox`` seeded with ``admin``, ``moderator``, ``alice`` and ``bob`` (ids 1 to 4)."""
    return SandboxUsers(
        sandbox=horde_sandbox,
        admin=horde_sandbox.create_user("admin", admin=True, moderator=True, trusted=True),
        moderator=horde_sandbox.create_user("moderator", moderator=True, trusted=True),
        alice=horde_sandbox.create_user("alice"),
        bob=horde_sandbox.create_user("bob"),
    )
