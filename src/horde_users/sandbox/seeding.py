"""Seed files: a sandbox's users as JSON, written by ``Sandbox.export`` and read by ``Sandbox(seed=...)``
and ``horde-users sandbox serve --seed``.

Format (one JSON object)::

    {"format": "horde-users-sandbox-seed/1",
     "salt": "<hex>",                      # written by export; needed only by api_key_hash entries
     "users": [{"username": "alice", "id": 3, "api_key": "<plain key>", "admin": false,
                "moderator": false, "trusted": false, "kudos": 100, "created": "2026-11-01T12:00:00", ...}]}

A user entry takes ``username`` and any user column (the names of the ``horde_users`` table: ``kudos``,
``moderator``, ``trusted``, ``service``, ``education``, ``pseudonymous``, ``created``, ``last_active``,
``deleted``, ...), ``admin`` (recorded as an admin alias), an optional ``id``, and the key as either a
plain ``api_key`` or an ``api_key_hash``. The database keeps keys only hashed, so an export writes each
user's ``api_key_hash`` with the file's ``salt`` and adds the plain ``api_key`` only for the users this
process knows it for (seeded or created here). A hash is valid only with its salt: a seed file with
``api_key_hash`` entries is loaded into a database without users, which takes the file's salt.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import DateTime, insert, select
from sqlalchemy.exc import SQLAlchemyError

from horde_users.sandbox.domain import ANON_ID, to_naive_utc
from horde_users.sandbox.schema import admins, new_user_row, users
from horde_users.sandbox.store import SandboxStore, new_api_key

__all__ = ["FORMAT", "export_seed", "load_seed", "seed_document"]

FORMAT = "horde-users-sandbox-seed/1"
_COLUMNS = {column.name: column for column in users.columns}
_NOT_SEEDED = frozenset({"wiped"})


def seed_document(store: SandboxStore) -> dict[str, Any]:
    """The store's users (not the anonymous or wiped ones) as a seed document."""
    with store.transaction() as conn:
        rows = conn.execute(
            select(users).where(users.c.wiped.is_(False), users.c.id != ANON_ID).order_by(users.c.id)
        ).all()
        admin_aliases = set(conn.execute(select(admins.c.alias)).scalars())
    entries = []
    for row in rows:
        values = dict(row._mapping)
        entry: dict[str, Any] = {}
        for name, value in values.items():
            if name in _NOT_SEEDED or value is None:
                continue
            entry[name] = value.isoformat() if isinstance(value, datetime) else value
        plain = store.known_keys.get(row.id)
        if plain is not None and store.hash_key(plain) == row.api_key_hash:
            entry["api_key"] = plain
        entry["admin"] = f"{row.username}#{row.id}" in admin_aliases
        entries.append(entry)
    return {"format": FORMAT, "salt": store.salt, "users": entries}


def export_seed(store: SandboxStore, path: str | Path) -> None:
    """Write :func:`seed_document` to ``path`` (JSON, indented)."""
    text = json.dumps(seed_document(store), indent=2, sort_keys=False) + "\n"
    Path(path).write_text(text, encoding="utf-8")


def load_seed(store: SandboxStore, path: str | Path) -> int:
    """Create the users of the seed file at ``path``; returns how many. ValueError names what is wrong
    (nothing is created then)."""
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ValueError(f"cannot read the seed file {path}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise ValueError(f"the seed file {path} is not valid JSON: {exc}") from None
    if not isinstance(document, dict) or not isinstance(document.get("users"), list):
        raise ValueError('a seed file is a JSON object with a "users" list')
    if document.get("format", FORMAT) != FORMAT:
        raise ValueError(f"unknown seed format {document.get('format')!r} (expected {FORMAT!r})")
    prepared = [_prepare(entry, n) for n, entry in enumerate(document["users"])]
    if any("api_key_hash" in values for values, _, _ in prepared):
        salt = document.get("salt")
        if not isinstance(salt, str) or not salt:
            raise ValueError('api_key_hash entries need the file\'s "salt"')
        store.adopt_salt(salt)
    plain_keys: dict[int, str] = {}
    try:
        _insert(store, prepared, plain_keys)
    except SQLAlchemyError as exc:
        raise ValueError(
            f"the seed file {path} has a value the database refuses: {type(exc).__name__}"
        ) from None
    store.known_keys.update(plain_keys)
    return len(prepared)


def _insert(
    store: SandboxStore, prepared: list[tuple[dict[str, Any], str | None, bool]], plain_keys: dict[int, str]
) -> None:
    now = store.now()
    with store.transaction(write=True) as conn:
        for values, api_key, is_admin in prepared:
            values.setdefault("created", now)
            values.setdefault("last_active", values["created"])
            if api_key is not None:
                values["api_key_hash"] = store.hash_key(api_key)
            row = conn.execute(insert(users).values(new_user_row(**values)).returning(users.c.id)).first()
            assert row is not None
            user_id = int(row[0])
            if api_key is not None:
                plain_keys[user_id] = api_key
            if is_admin:
                conn.execute(insert(admins).values(alias=f"{values['username']}#{user_id}"))
        if conn.dialect.name == "postgresql":
            from horde_users.sandbox.state import sync_sequences

            sync_sequences(conn, getattr(store, "_schema", None))


def _prepare(entry: Any, n: int) -> tuple[dict[str, Any], str | None, bool]:
    """The column values, the plain key (None when a hash is given) and the admin flag of one entry."""
    where = f"users[{n}]"
    if not isinstance(entry, dict):
        raise ValueError(f"{where} must be an object")
    values = dict(entry)
    username = values.get("username")
    if not isinstance(username, str) or not username:
        raise ValueError(f"{where}: username must be a non-empty string")
    is_admin = values.pop("admin", False)
    if not isinstance(is_admin, bool):
        raise ValueError(f"{where}: admin must be true or false")
    api_key = values.pop("api_key", None)
    if api_key is not None and "api_key_hash" in values:
        raise ValueError(f"{where}: give api_key or api_key_hash, not both")
    if api_key is not None and (not isinstance(api_key, str) or not api_key):
        raise ValueError(f"{where}: api_key must be a non-empty string")
    if api_key is None and "api_key_hash" not in values:
        api_key = new_api_key()
    unknown = set(values) - set(_COLUMNS) | (set(values) & _NOT_SEEDED)
    if unknown:
        raise ValueError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
    if values.get("id") == ANON_ID:
        raise ValueError(f"{where}: id {ANON_ID} is the anonymous user")
    for name, value in list(values.items()):
        if isinstance(_COLUMNS[name].type, DateTime) and value is not None:
            try:
                values[name] = to_naive_utc(datetime.fromisoformat(value))
            except (TypeError, ValueError):
                raise ValueError(f"{where}: {name} must be an ISO date and time") from None
    values.setdefault("oauth_id", f"sandbox-{uuid.uuid4().hex}")
    if values.get("moderator"):
        values.setdefault("trusted", True)
    return values, api_key, is_admin
