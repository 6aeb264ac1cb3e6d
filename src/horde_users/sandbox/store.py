"""Storage of the sandbox: SQLAlchemy 2 Core, one schema for SQLite and PostgreSQL.

API keys are kept only as the lowercase hex SHA-256 of ``salt + key``; the salt is random, created once
per database and stored in it (docs/users-api.md §1.4), so keys survive restarts and work in every process.
Kudos changes are single SQL ``UPDATE`` statements that apply the floor, so concurrent deltas are never
lost (the tables and statements are in :mod:`horde_users.sandbox.schema`). Every public method runs in
its own transaction, or joins the one :meth:`SandboxStore.transaction` opened (the app runs each request
in one).

Seeding methods take a *user reference*: an ``int`` id, an alias string ``"name#id"`` (looked up
exactly), or a :class:`SeededUser`.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import (
    Connection,
    case,
    delete,
    func,
    insert,
    literal,
    select,
    text,
    update,
)

from horde_users.endpoints import ANON_API_KEY
from horde_users.sandbox.database import Database
from horde_users.sandbox.database import StoreBusyError as StoreBusyError
from horde_users.sandbox.database import database_url as database_url
from horde_users.sandbox.domain import (
    ANON_CONCURRENCY,
    ANON_ID,
    ANON_USERNAME,
    DEFAULT_CONCURRENCY,
    EDUCATION_CONCURRENCY,
    KUDOS_DETAIL_KEYS,
    RECORD_NAMES,
    USERNAME_MAX,
    Clock,
    UserData,
    canonical_uuid,
    is_uuid_text,
    record_is_float,
    to_naive_utc,
    utcnow,
)
from horde_users.sandbox.schema import (
    ADMIN_ALIASES,
    COLUMN_AT,
    CREDITS,
    ID_AT,
    LOCK_USER,
    SHARED_KEY,
    SHARED_KEYS_OF,
    STYLES_OF,
    USER_BY_ID,
    USER_BY_KEY_HASH,
    USER_PAGES,
    WORKERS_OF,
    admins,
    meta_table,
    metadata,
    new_user_row,
    shared_keys,
    side_id,
    style_data,
    styles,
    suspicions,
    user_data,
    users,
    workers,
)

WIPED = "<wiped>"
_USERS_KEPT = 4096  # distinct user rows whose UserData a store keeps for reuse


class InexactKudosError(ValueError):
    """A kudos change refused because the float balance or ``kudos_details`` could not hold its result
    exactly (2**53 or beyond); nothing was changed."""


def new_api_key() -> str:
    """A 22-character URL-safe key: 16 random bytes, base64url without padding (§1.4)."""
    return base64.urlsafe_b64encode(secrets.token_bytes(16)).rstrip(b"=").decode("ascii")


@dataclass(frozen=True)
class SeededUser:
    """A user created by seeding. ``api_key`` is shown here once and never in ``repr``/``str``."""

    id: int
    alias: str
    api_key: str = field(repr=False)

    @property
    def username(self) -> str:
        return self.alias.rsplit("#", 1)[0]

    def __iter__(self) -> Iterator[Any]:
        """Unpack as ``user_id, alias, api_key = sandbox.create_user(...)``."""
        return iter((self.id, self.alias, self.api_key))


UserRef = int | str | SeededUser
"""A user reference for seeding: an id, an alias ``name#id``, or a SeededUser."""


@dataclass(frozen=True)
class TestUserResult:
    """What ``upsert_test_user`` did (§9 response)."""

    __test__ = False

    created: bool
    user: UserData
    api_key: str = field(repr=False)


class SandboxStore(Database):
    """The sandbox database. ``url`` is a SQLAlchemy URL (``sqlite:///path.db``,
    ``postgresql+psycopg://...``), a plain file path (SQLite), or ``sqlite://`` (in memory).

    ``schema`` (PostgreSQL only) puts the tables in that schema, creating it if needed (used by tests).
    Connections and transactions are :class:`~horde_users.sandbox.database.Database`'s.
    ``clock`` (Unix seconds, default real time) dates what the store records: creation times,
    ``last_active`` of new users, ``monthly_kudos.last_received``.
    """

    def __init__(
        self, url: str | Path | None = None, *, schema: str | None = None, clock: Clock = time.time
    ) -> None:
        super().__init__(url, schema=schema)
        self.clock = clock
        self._users: dict[tuple[Any, ...], UserData] = {}
        self.known_keys: dict[int, str] = {}
        """Plain API keys this process handed out (seeding, the test-user endpoint), by user id; the
        database keeps only their hashes. A key counts only while its user's hash still matches."""
        self._salt = ""
        self._init_schema()
        self.tidy_pg_tables()

    def now(self) -> datetime:
        """The store clock's time, naive UTC."""
        return utcnow(self.clock)

    def _init_schema(self) -> None:
        self.create_pg_schema()
        with self.transaction(write=True) as conn:
            if not self._is_sqlite:
                conn.execute(text("SELECT pg_advisory_xact_lock(700100)"))
            metadata.create_all(conn, checkfirst=True)
            for index in users.indexes:  # databases made before an index was added
                index.create(conn, checkfirst=True)
            salt = conn.execute(select(meta_table.c.value).where(meta_table.c.key == "salt")).scalar()
            if salt is None:
                salt = secrets.token_hex(16)
                conn.execute(insert(meta_table).values(key="salt", value=salt))
            self._salt = str(salt)
            if conn.execute(select(users.c.id).where(users.c.id == ANON_ID)).first() is None:
                now = self.now()
                conn.execute(
                    insert(users).values(
                        new_user_row(
                            id=ANON_ID,
                            username=ANON_USERNAME,
                            oauth_id="anon",
                            api_key_hash=self.hash_key(ANON_API_KEY),
                            created=now,
                            last_active=now,
                            concurrency=ANON_CONCURRENCY,
                            public_workers=True,
                        )
                    )
                )

    def ensure_defaults(self) -> None:
        """Create what a new database holds (the tables, the salt, the anonymous user) where missing."""
        self._init_schema()

    @property
    def salt(self) -> str:
        """The salt of this database's key hashes (an export carries it, so hashes stay valid)."""
        return self._salt

    def adopt_salt(self, salt: str) -> None:
        """Use ``salt`` for key hashes from now on; only while no user but the anonymous one exists
        (their hashes would stop matching). The anonymous user's hash is made again with it."""
        if salt == self._salt:
            return
        with self.transaction(write=True) as conn:
            if conn.execute(select(users.c.id).where(users.c.id != ANON_ID).limit(1)).first() is not None:
                raise ValueError("a seed file's salt can only be adopted by a database without users")
            conn.execute(update(meta_table).where(meta_table.c.key == "salt").values(value=salt))
            self._salt = salt
            anon_hash = self.hash_key(ANON_API_KEY)
            conn.execute(update(users).where(users.c.id == ANON_ID).values(api_key_hash=anon_hash))

    def hash_key(self, key: str) -> str:
        """Lowercase hex SHA-256 of ``salt + key``."""
        data = (self._salt + key).encode("utf-8", "surrogatepass")
        return hashlib.sha256(data).hexdigest()

    # -------------------------------------------------------------------------------- reading

    def _load(self, conn: Connection, tuples: list[tuple[Any, ...]]) -> list[UserData]:
        """UserData of user rows (from ``USER_SELECT``, as tuples); a side table is read only for the
        rows that have entries in it, with one query for all of them."""
        workers_of = self._side(conn, tuples, "has_workers", WORKERS_OF, side_id)
        keys_of = self._side(conn, tuples, "has_shared_keys", SHARED_KEYS_OF, side_id)
        styles_of = self._side(conn, tuples, "has_styles", STYLES_OF, style_data)
        loaded = []
        for v in tuples:
            user_id = v[ID_AT]
            parts = (workers_of.get(user_id, ()), keys_of.get(user_id, ()), styles_of.get(user_id, ()))
            loaded.append(self._user(v, *parts))
        return loaded

    def _user(self, *parts: Any) -> UserData:
        """``user_data(*parts)``, one object per distinct content (so rendered bodies can be reused)."""
        user = self._users.get(parts)
        if user is None:
            if len(self._users) >= _USERS_KEPT:
                self._users.clear()
            user = self._users[parts] = user_data(*parts)
        return user

    @staticmethod
    def _side(
        conn: Connection, tuples: list[tuple[Any, ...]], flag: str, statement: Any, entry: Any
    ) -> dict[int, tuple[Any, ...]]:
        """``entry(row)`` of a side table's rows by user id, for the users whose ``flag`` column is set."""
        at = COLUMN_AT[flag]
        ids = [v[ID_AT] for v in tuples if v[at]]
        found: dict[int, list[Any]] = {}
        if ids:
            for side_row in conn.execute(statement, {"ids": ids}):
                found.setdefault(side_row.user_id, []).append(entry(side_row))
        return {user_id: tuple(entries) for user_id, entries in found.items()}

    def _one(self, conn: Connection, statement: Any, params: dict[str, Any]) -> UserData | None:
        loaded = self._load(conn, self.rows(conn, statement, params))
        return loaded[0] if loaded else None

    def get_user(self, user_id: int) -> UserData | None:
        """The user with that id, or None when unknown or wiped."""
        with self.transaction() as conn:
            return self._one(conn, USER_BY_ID, {"user_id": user_id})

    def get_user_locked(self, user_id: int) -> UserData | None:
        """:meth:`get_user` in a write transaction, with the user's row locked until it ends.

        A request that decides from the row (DELETE: soft delete or wipe; PUT: undelete ...) then acts
        on the state it read, so concurrent requests give the outcome of some serial order. PostgreSQL
        locks the row (``FOR UPDATE``; the read after the wait sees the committed state); a SQLite write
        transaction already holds the database's write lock.
        """
        with self.transaction(write=True) as conn:
            if not self._is_sqlite:
                conn.execute(LOCK_USER, {"user_id": user_id})
            return self._one(conn, USER_BY_ID, {"user_id": user_id})

    def find_by_api_key(self, key: str) -> UserData | None:
        """The (not wiped) user whose API key this is."""
        with self.transaction() as conn:
            return self._one(conn, USER_BY_KEY_HASH, {"key_hash": self.hash_key(key)})

    def find_by_shared_key(self, key: str) -> tuple[UserData, str | None] | None:
        """The owner of a shared key (any UUID spelling) and the key's name."""
        canonical = canonical_uuid(key)
        if canonical is None:
            return None
        with self.transaction() as conn:
            row = conn.execute(SHARED_KEY, {"key": canonical}).first()
            if row is None:
                return None
            owner = self._one(conn, USER_BY_ID, {"user_id": row.user_id})
            return None if owner is None else (owner, row.name)

    def list_users(self, sort: Literal["kudos", "age"], offset: int, limit: int) -> list[UserData]:
        """One page of the users that are not wiped; ties broken by ascending id."""
        with self.transaction() as conn:
            rows = self.rows(conn, USER_PAGES[sort], {"offset": offset, "limit": limit})
            return self._load(conn, rows)

    def admin_aliases(self) -> set[str]:
        """Aliases recorded as admins by seeding."""
        with self.transaction() as conn:
            return set(conn.execute(ADMIN_ALIASES).scalars())

    def proxy_passkey_owner_is_service(self, passkey: str) -> bool:
        """Whether this proxy passkey belongs to a (not wiped) service account."""
        if not passkey:
            return False
        with self.transaction() as conn:
            row = conn.execute(
                select(users.c.id).where(
                    users.c.proxy_passkey == passkey, users.c.service.is_(True), users.c.wiped.is_(False)
                )
            ).first()
            return row is not None

    def count_users(self) -> int:
        """Number of users that are not wiped (Anonymous included)."""
        with self.transaction() as conn:
            return int(conn.execute(select(func.count()).where(users.c.wiped.is_(False))).scalar_one())

    # ----------------------------------------------------------------------------- mutations

    @staticmethod
    def _credit(conn: Connection, user_id: int, delta: float, detail: str) -> float:
        """Add ``delta`` to the balance, raised to the user's floor, in one UPDATE; returns the balance.

        Raises InexactKudosError (changing nothing) when the result could not be held exactly.
        """
        row = conn.execute(CREDITS[detail], {"target_id": user_id, "delta": delta}).first()
        if row is not None:
            return float(row[0])
        if conn.execute(select(users.c.id).where(users.c.id == user_id)).first() is not None:
            raise InexactKudosError(f"a kudos change of {delta} cannot be held exactly")
        return 0.0

    def add_kudos(self, user_id: int, delta: int) -> float:
        """PUT row 1: a kudos delta with the floor, ``kudos_details.admin`` moved by ``delta``.

        Raises InexactKudosError, changing nothing, when the result would reach 2**53 (float precision).
        """
        with self.transaction(write=True) as conn:
            return self._credit(conn, user_id, float(delta), "admin")

    def add_monthly_kudos(self, user_id: int, delta: int, now: datetime | None = None) -> int:
        """PUT row 2: allowance delta (never below 0); positive also credits balance and ``recurring``.

        Raises InexactKudosError, changing nothing (the allowance included), when the credit would take
        the balance or ``recurring`` to 2**53 (float precision).
        """
        when = to_naive_utc(now) if now is not None else self.now()
        new = users.c.monthly_kudos + delta
        with self.transaction(write=True) as conn:
            if delta > 0:
                self._credit(conn, user_id, float(delta), "recurring")
            row = conn.execute(
                update(users)
                .where(users.c.id == user_id)
                .values(
                    monthly_kudos=case((new < 0, literal(0)), else_=new),
                    monthly_last_received=func.coalesce(users.c.monthly_last_received, when),
                )
                .returning(users.c.monthly_kudos)
            ).first()
            return int(row[0]) if row is not None else 0

    def set_fields(self, user_id: int, **values: Any) -> None:
        """Store plain column values (roles, concurrency, texts, ...)."""
        with self.transaction(write=True) as conn:
            conn.execute(update(users).where(users.c.id == user_id).values(**values))

    def reset_suspicion(self, user_id: int) -> int:
        """Remove every suspicion record of the user; returns the count afterwards (0)."""
        with self.transaction(write=True) as conn:
            conn.execute(delete(suspicions).where(suspicions.c.user_id == user_id))
            return 0

    def new_proxy_passkey(self, user_id: int) -> str:
        """Issue and store a new proxy passkey (stored in plain text, as on the real server)."""
        passkey = new_api_key()
        self.set_fields(user_id, proxy_passkey=passkey)
        return passkey

    def undelete(self, user_id: int) -> bool:
        """Clear the deleted mark; False when the user was not deleted (or is wiped: gone for good)."""
        with self.transaction(write=True) as conn:
            result = conn.execute(
                update(users)
                .where(users.c.id == user_id, users.c.deleted.is_(True), users.c.wiped.is_(False))
                .values(deleted=False)
            )
            return bool(result.rowcount)

    def soft_delete(self, user_id: int) -> None:
        self.set_fields(user_id, deleted=True)

    def wipe(self, user_id: int) -> None:
        """Wipe for good: texts replaced by ``<wiped>``, key, workers and shared keys removed."""
        with self.transaction(write=True) as conn:
            conn.execute(delete(workers).where(workers.c.user_id == user_id))
            conn.execute(delete(shared_keys).where(shared_keys.c.user_id == user_id))
            conn.execute(delete(styles).where(styles.c.user_id == user_id))
            conn.execute(
                update(users)
                .where(users.c.id == user_id)
                .values(
                    username=WIPED,
                    oauth_id=WIPED,
                    contact=WIPED,
                    api_key_hash=None,
                    proxy_passkey=None,
                    wiped=True,
                    deleted=True,
                )
            )

    def upsert_test_user(
        self, *, username: str, oauth_id: str, moderator: bool, trusted: bool, kudos: int | None
    ) -> TestUserResult:
        """The effect of ``POST /v2/dev/test-user`` (§9); texts arrive sanitised."""
        api_key = new_api_key()
        with self.transaction(write=True) as conn:
            if not self._is_sqlite:
                conn.execute(text("SELECT pg_advisory_xact_lock(700101)"))
            existing = conn.execute(
                select(users.c.id)
                .where(users.c.oauth_id == oauth_id, users.c.wiped.is_(False), users.c.id != ANON_ID)
                .order_by(users.c.id)
            ).first()
            values: dict[str, Any] = {"moderator": moderator}
            if moderator:
                values["trusted"] = True
            else:
                values["trusted"] = trusted
            if kudos is not None:
                values["kudos"] = float(kudos)
            if existing is not None:
                user_id = int(existing.id)
                conn.execute(
                    update(users)
                    .where(users.c.id == user_id)
                    .values(username=username, api_key_hash=self.hash_key(api_key), **values)
                )
                created = False
            else:
                now = self.now()
                name = username[:USERNAME_MAX]
                user_id = self._insert_user(
                    conn,
                    new_user_row(
                        username=name,
                        oauth_id=oauth_id,
                        api_key_hash=self.hash_key(api_key),
                        created=now,
                        last_active=now,
                        pseudonymous=is_uuid_text(oauth_id),
                        **values,
                    ),
                )
                if len(username) > USERNAME_MAX:
                    conn.execute(insert(suspicions).values(user_id=user_id, created=now))
                created = True
            user = self._one(conn, USER_BY_ID, {"user_id": user_id})
        assert user is not None
        self.known_keys[user_id] = api_key
        return TestUserResult(created=created, user=user, api_key=api_key)

    def _insert_user(self, conn: Connection, values: dict[str, Any]) -> int:
        row = conn.execute(insert(users).values(values).returning(users.c.id)).first()
        assert row is not None
        return int(row[0])

    # ------------------------------------------------------------------------------- seeding

    def resolve(self, user: UserRef) -> int:
        """The id of a user reference (id, alias ``name#id`` or SeededUser); KeyError when unknown."""
        if isinstance(user, SeededUser):
            user_id = user.id
        elif isinstance(user, int):
            user_id = user
        else:
            name, sep, id_text = user.rpartition("#")
            if not sep or not id_text.isdigit():
                raise KeyError(f"not an alias (name#id): {user!r}")
            user_id = int(id_text)
            found = self.get_user(user_id)
            if found is None or found.username != name:
                raise KeyError(f"no user {user!r}")
            return user_id
        if self.get_user(user_id) is None:
            raise KeyError(f"no user with id {user_id}")
        return user_id

    def create_user(
        self,
        name: str,
        *,
        moderator: bool = False,
        trusted: bool = False,
        admin: bool = False,
        service: bool = False,
        education: bool = False,
        pseudonymous: bool = False,
        kudos: float = 0,
        public_workers: bool = False,
        created: datetime | None = None,
        last_active: datetime | None = None,
    ) -> SeededUser:
        """Create a user; the returned API key is the only time it is shown.

        ``kudos`` is set exactly (no floor); ``admin`` records the alias as an admin; ``pseudonymous``
        gives a UUID OAuth id (floor 14); ``created`` defaults to now, ``last_active`` to ``created``.
        ``education`` also raises concurrency to 200, as the PUT does.
        """
        if not name:
            raise ValueError("name must not be empty")
        api_key = new_api_key()
        when = to_naive_utc(created) if created is not None else self.now()
        active = to_naive_utc(last_active) if last_active is not None else when
        oauth = str(uuid.uuid4()) if pseudonymous else f"sandbox-{uuid.uuid4().hex}"
        with self.transaction(write=True) as conn:
            user_id = self._insert_user(
                conn,
                new_user_row(
                    username=name,
                    oauth_id=oauth,
                    api_key_hash=self.hash_key(api_key),
                    created=when,
                    last_active=active,
                    moderator=moderator,
                    trusted=trusted or moderator,
                    service=service,
                    education=education,
                    concurrency=EDUCATION_CONCURRENCY if education else DEFAULT_CONCURRENCY,
                    pseudonymous=pseudonymous,
                    public_workers=public_workers,
                    kudos=float(kudos),
                ),
            )
            alias = f"{name}#{user_id}"
            if admin:
                self._add_admin(conn, alias)
        self.known_keys[user_id] = api_key
        return SeededUser(id=user_id, alias=alias, api_key=api_key)

    def add_admin(self, alias: str) -> None:
        """Record an alias as admin (seeded admins, §6.1)."""
        with self.transaction(write=True) as conn:
            self._add_admin(conn, alias)

    @staticmethod
    def _add_admin(conn: Connection, alias: str) -> None:
        if conn.execute(select(admins.c.alias).where(admins.c.alias == alias)).first() is None:
            conn.execute(insert(admins).values(alias=alias))

    def create_shared_key(self, user: UserRef, name: str | None = None) -> str:
        """A shared key (UUID, canonical form) owned by ``user``, optionally named."""
        user_id = self.resolve(user)
        key = str(uuid.uuid4())
        with self.transaction(write=True) as conn:
            conn.execute(insert(shared_keys).values(id=key, user_id=user_id, name=name, created=self.now()))
        return key

    def add_worker(self, user: UserRef, name: str | None = None) -> str:
        """A worker owned by ``user`` (counts in ``worker_count`` / ``worker_ids``); returns its id."""
        user_id = self.resolve(user)
        worker_id = str(uuid.uuid4())
        with self.transaction(write=True) as conn:
            conn.execute(
                insert(workers).values(
                    id=worker_id, user_id=user_id, name=name or f"worker-{worker_id[:8]}", created=self.now()
                )
            )
        return worker_id

    def add_style(self, user: UserRef, name: str, type: str = "image", public: bool = True) -> str:
        """A style owned by ``user`` (``type`` ``image`` or ``text``); non-public styles show from level 1."""
        if type not in ("image", "text"):
            raise ValueError("type must be 'image' or 'text'")
        user_id = self.resolve(user)
        style_id = str(uuid.uuid4())
        with self.transaction(write=True) as conn:
            conn.execute(
                insert(styles).values(
                    id=style_id, user_id=user_id, name=name, type=type, public=public, created=self.now()
                )
            )
        return style_id

    def set_records(self, user: UserRef, /, **counters: float) -> None:
        """Set record counters by flat name, e.g. ``usage_megapixelsteps=1.5, request_image=3``."""
        unknown = set(counters) - set(RECORD_NAMES)
        if unknown:
            raise TypeError(f"unknown record counters {sorted(unknown)}; known: {list(RECORD_NAMES)}")
        values = {f"rec_{k}": (float(v) if record_is_float(k) else int(v)) for k, v in counters.items()}
        if values:
            self.set_fields(self.resolve(user), **values)

    def set_kudos_details(self, user: UserRef, /, **values: float) -> None:
        """Set ``kudos_details`` members, e.g. ``accumulated=12.5, gifted=3``."""
        unknown = set(values) - set(KUDOS_DETAIL_KEYS)
        if unknown:
            raise TypeError(f"unknown kudos_details {sorted(unknown)}; known: {list(KUDOS_DETAIL_KEYS)}")
        if values:
            self.set_fields(self.resolve(user), **{f"kd_{k}": float(v) for k, v in values.items()})

    def add_suspicion(self, user: UserRef) -> int:
        """Record one suspicion; returns the user's count afterwards."""
        user_id = self.resolve(user)
        with self.transaction(write=True) as conn:
            conn.execute(insert(suspicions).values(user_id=user_id, created=self.now()))
            return int(
                conn.execute(
                    select(func.count()).select_from(suspicions).where(suspicions.c.user_id == user_id)
                ).scalar_one()
            )

    def set_last_active(self, user: UserRef, when: datetime | None) -> None:
        """Set ``last_active`` (None counts as inactive, so the user can be wiped, §7)."""
        self.set_fields(self.resolve(user), last_active=None if when is None else to_naive_utc(when))

    def set_kudos(self, user: UserRef, kudos: float) -> None:
        """Set the balance exactly (no floor, no ``kudos_details`` entry)."""
        self.set_fields(self.resolve(user), kudos=float(kudos))
