"""The console's server-side state: the settings, the API client, the database, who the key belongs to.

One :class:`Console` per running console. It owns the API key; nothing in here hands the key to a
template, a URL or a log line. Pages reach it through ``request.app.state.console``.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from horde_users.console.jobs import Jobs
from horde_users.console.security import Gatekeeper
from horde_users.errors import redact

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from horde_users.client import HordeUsers
    from horde_users.models import UserDetailsResponse
    from horde_users.moderation.changes import Actor
    from horde_users.moderation.index import UserIndex
    from horde_users.moderation.journal import Journal

IDENTITY_TTL = 60.0
"""Seconds the key's own record is reused before it is read again."""


@dataclass
class ConsoleConfig:
    """What the console talks to: the API (``url``, ``api_key``), the moderation ``database``."""

    url: str | None = None
    api_key: str | None = field(default=None, repr=False)
    database: str | None = None
    timeout: float = 30.0
    admin: bool = False
    """The key's account is in the server's admin set: offer the admin-only fields too."""

    def __repr__(self) -> str:
        return f"ConsoleConfig(url={self.url!r}, database={self.database!r}, admin={self.admin})"


class Console:
    """The live state behind every page."""

    def __init__(self, config: ConsoleConfig, gatekeeper: Gatekeeper | None = None) -> None:
        self.config = config
        self.gatekeeper = gatekeeper or Gatekeeper()
        self.jobs = Jobs()
        self._lock = threading.Lock()
        self._client: HordeUsers | None = None
        self._engine: Engine | None = None
        self._index: UserIndex | None = None
        self._journal: Journal | None = None
        self._uploads: Path | None = None
        self.index_state_cache: tuple[float, Any] | None = None
        """(monotonic time, IndexState): the search page's summary of the index (see toolkit)."""
        self.state_lock = threading.Lock()
        self.state_thread: threading.Thread | None = None
        self._me: UserDetailsResponse | None = None
        self._me_read_at = 0.0

    def __repr__(self) -> str:
        return f"Console({self.config!r})"

    @property
    def client(self) -> HordeUsers:
        """The one API client (httpx clients are safe to share between threads)."""
        with self._lock:
            if self._client is None:
                from horde_users.client import HordeUsers

                self._client = HordeUsers(
                    api_key=self.config.api_key, base_url=self.config.url, timeout=self.config.timeout
                )
            return self._client

    @property
    def engine(self) -> Engine:
        """The moderation database (the index and the journal), opened on first use."""
        with self._lock:
            if self._engine is None:
                from horde_users.moderation.database import open_database

                self._engine = open_database(self.config.database)
            return self._engine

    @property
    def index(self) -> UserIndex:
        """The local user index in the moderation database (its tables created on first use)."""
        engine = self.engine
        with self._lock:
            if self._index is None:
                from horde_users.moderation.index import UserIndex

                self._index = UserIndex(engine)
            return self._index

    @property
    def journal(self) -> Journal:
        """The journal of changes in the moderation database (its table created on first use)."""
        engine = self.engine
        with self._lock:
            if self._journal is None:
                from horde_users.moderation.journal import Journal

                self._journal = Journal(engine)
            return self._journal

    @property
    def uploads(self) -> Path:
        """A private folder (mode 0700) for uploaded bulk files, removed when the console closes."""
        with self._lock:
            if self._uploads is None:
                self._uploads = Path(tempfile.mkdtemp(prefix="horde-console-uploads-"))
            return self._uploads

    def actor(self) -> Actor:
        """Who the journal names for changes made here: the key's own account."""
        from horde_users.moderation.changes import Actor

        me = self.me()
        return Actor(id=me.id_ or 0, name=me.username or f"#{me.id_}", moderator=bool(me.moderator))

    def me(self, *, fresh: bool = False) -> UserDetailsResponse:
        """The key's own account (``find_user``), re-read at most once a minute unless ``fresh``."""
        now = time.monotonic()
        if fresh or self._me is None or now - self._me_read_at > IDENTITY_TTL:
            self._me = self.client.find_user()
            self._me_read_at = now
        return self._me

    def cached_me(self) -> UserDetailsResponse | None:
        """The key's account if it was read already (for the page header; never a request)."""
        return self._me

    def scrub(self, text: str) -> str:
        """``text`` with the API key removed, for anything a page or a log may show."""
        return redact(text, [self.config.api_key])

    def close(self) -> None:
        """Close the client and the database."""
        self.jobs.shutdown()
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None
            if self._engine is not None:
                self._engine.dispose()
                self._engine = None
            if self._uploads is not None:
                shutil.rmtree(self._uploads, ignore_errors=True)
                self._uploads = None


def describe_error(console: Console, exc: BaseException) -> str:
    """One readable sentence for a failure, with the key scrubbed (server, network, or local)."""
    from pydantic import ValidationError

    from horde_users.cli.common import describe_api_error, describe_validation_error
    from horde_users.errors import HordeAPIError, HordeError

    text: Any
    if isinstance(exc, ValidationError):
        text = describe_validation_error(exc)
    elif isinstance(exc, HordeAPIError):
        text = describe_api_error(exc)
    elif isinstance(exc, HordeError):
        text = exc.message
    else:
        text = str(exc) or exc.__class__.__name__
    return console.scrub(str(text))
