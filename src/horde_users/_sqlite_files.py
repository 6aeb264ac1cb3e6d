"""SQLite files as this project keeps them: named by URL, created readable by their owner only.

The sandbox's database (proxy passkeys) and the moderation database (the journal's privileged views)
both hold data other local users must not read; SQLite gives a database's ``-wal`` and ``-shm`` files
the mode of the database file itself.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path


def sqlite_url(path: str | Path) -> str:
    """The SQLAlchemy URL of the SQLite file at ``path`` (``~`` expanded, made absolute)."""
    return f"sqlite:///{Path(path).expanduser().resolve()}"


def create_private_file(path: Path) -> None:
    """Create ``path`` with mode 0600 when it does not exist; an existing file keeps its mode.

    A missing directory raises ``FileNotFoundError`` (callers decide whether to create it).
    """
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600))
