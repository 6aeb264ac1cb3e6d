"""Where the index and journal live: the URL chosen, the private file, one clear error."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from horde_users.moderation.database import DATABASE_ENV, open_database, resolve_database_url
from horde_users.moderation.errors import DatabaseError


def test_a_new_sqlite_file_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "new" / "moderation.db"  # the directory is created too
    open_database(str(path)).dispose()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_an_existing_file_keeps_its_mode(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    path.touch(mode=0o640)
    path.chmod(0o640)
    open_database(str(path)).dispose()
    assert stat.S_IMODE(path.stat().st_mode) == 0o640


def test_the_explicit_url_beats_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(DATABASE_ENV, str(tmp_path / "env.db"))
    assert resolve_database_url() == f"sqlite:///{tmp_path / 'env.db'}"
    assert resolve_database_url("postgresql+psycopg://host/db") == "postgresql+psycopg://host/db"
    assert resolve_database_url("~/x.db") == f"sqlite:///{Path.home() / 'x.db'}"


def test_a_path_that_cannot_be_written_is_one_plain_error(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    with pytest.raises(DatabaseError, match="cannot write the database file"):
        open_database(str(blocker / "moderation.db"))
