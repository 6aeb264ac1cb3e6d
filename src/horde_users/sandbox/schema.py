"""The sandbox database's schema: its tables and indexes, the statements built once from them, and how a
selected user row becomes a :class:`~horde_users.sandbox.domain.UserData`.

Column defaults, the boolean columns, the record columns and the kudos floor in SQL are generated from
:mod:`horde_users.sandbox.domain`, where each is written once.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Double,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    bindparam,
    case,
    exists,
    false,
    func,
    literal,
    or_,
    select,
    update,
)

from horde_users.sandbox.domain import (
    ANON_ID,
    DEFAULT_CONCURRENCY,
    EXACT_KUDOS_LIMIT,
    KUDOS_DETAIL_KEYS,
    KUDOS_FLOORS,
    NEW_USER_DEFAULTS,
    RECORD_NAMES,
    StyleData,
    UserData,
    record_is_float,
)

metadata = MetaData()

users = Table(
    "horde_users",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("username", Text, nullable=False),
    Column("oauth_id", Text, nullable=False, index=True),
    Column("api_key_hash", String(64), nullable=True, unique=True),
    Column("created", DateTime, nullable=False),
    Column("last_active", DateTime, nullable=True),
    Column("deleted", Boolean, nullable=False, default=False),
    Column("wiped", Boolean, nullable=False, default=False),
    Column("kudos", Double, nullable=False, default=0.0),
    Column("evaluating_kudos", Double, nullable=False, default=0.0),
    Column("concurrency", Integer, nullable=False, default=DEFAULT_CONCURRENCY),
    Column("worker_invited", Integer, nullable=False, default=0),
    Column("usage_multiplier", Double, nullable=False, default=1.0),
    Column("monthly_kudos", BigInteger, nullable=False, default=0),
    Column("monthly_last_received", DateTime, nullable=True),
    Column("moderator", Boolean, nullable=False, default=False),
    Column("trusted", Boolean, nullable=False, default=False),
    Column("flagged", Boolean, nullable=False, default=False),
    Column("customizer", Boolean, nullable=False, default=False),
    Column("vpn", Boolean, nullable=False, default=False),
    Column("service", Boolean, nullable=False, default=False),
    Column("education", Boolean, nullable=False, default=False),
    Column("special", Boolean, nullable=False, default=False),
    Column("pseudonymous", Boolean, nullable=False, default=False),
    Column("public_workers", Boolean, nullable=False, default=False),
    Column("contact", Text, nullable=True),
    Column("admin_comment", Text, nullable=True),
    Column("proxy_passkey", Text, nullable=True, index=True),
    # kudos_details.*: NULL means "never stored" (renders integer 0, docs/users-api.md §2.2)
    *(Column(f"kd_{name}", Double, nullable=True) for name in KUDOS_DETAIL_KEYS),
    # records.*: the same NULL convention; megapixelsteps are floats, the rest counts
    *(
        Column(f"rec_{name}", Double if record_is_float(name) else Integer, nullable=True)
        for name in RECORD_NAMES
    ),
)

meta_table = Table(
    "horde_meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

suspicions = Table(
    "horde_suspicions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("user_id", Integer, ForeignKey("horde_users.id"), nullable=False, index=True),
    Column("created", DateTime, nullable=False),
)

shared_keys = Table(
    "horde_shared_keys",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("user_id", Integer, ForeignKey("horde_users.id"), nullable=False, index=True),
    Column("name", Text, nullable=True),
    Column("created", DateTime, nullable=False),
)

workers = Table(
    "horde_workers",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("user_id", Integer, ForeignKey("horde_users.id"), nullable=False, index=True),
    Column("name", Text, nullable=False),
    Column("created", DateTime, nullable=False),
)

styles = Table(
    "horde_styles",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("user_id", Integer, ForeignKey("horde_users.id"), nullable=False, index=True),
    Column("name", Text, nullable=False),
    Column("type", String(16), nullable=False),
    Column("public", Boolean, nullable=False),
    Column("created", DateTime, nullable=False),
)

admins = Table(
    "horde_admins",
    metadata,
    Column("alias", Text, primary_key=True),
)

# The two list orders (§4.1): a page is a range scan of one of these, not a sort of the whole table,
# and the rows skipped by the offset are filtered on ``wiped`` without reading the table.
Index("ix_horde_users_list_kudos", users.c.wiped, users.c.kudos.desc(), users.c.id)
Index("ix_horde_users_list_age", users.c.wiped, users.c.created, users.c.id)

# ---------------------------------------------------------------------- statements (built once)


def _has(table: Table) -> Any:
    return exists().where(table.c.user_id == users.c.id)


USER_SELECT = select(
    users,
    select(func.count()).where(suspicions.c.user_id == users.c.id).scalar_subquery().label("n_suspicions"),
    _has(workers).label("has_workers"),
    _has(shared_keys).label("has_shared_keys"),
    _has(styles).label("has_styles"),
).where(users.c.wiped == false())  # "=", not "IS": PostgreSQL can use the index for it
USER_BY_ID = USER_SELECT.where(users.c.id == bindparam("user_id"))
# Taken before a write request reads its target, so what it decides from stays true until it commits.
LOCK_USER = select(users.c.id).where(users.c.id == bindparam("user_id")).with_for_update()
USER_BY_KEY_HASH = USER_SELECT.where(users.c.api_key_hash == bindparam("key_hash"))


def _page(*order: Any) -> Any:
    """A page of ``USER_SELECT`` in ``order``: the page's ids are found first (an index range scan), so
    the per-user subqueries run for its rows only, not for the rows the offset skips."""
    page = (
        select(users.c.id)
        .where(users.c.wiped == false())
        .order_by(*order)
        .offset(bindparam("offset"))
        .limit(bindparam("limit"))
        .subquery("page")
    )
    return USER_SELECT.join_from(users, page, page.c.id == users.c.id).order_by(*order)


USER_PAGES = {
    "kudos": _page(users.c.kudos.desc(), users.c.id.asc()),
    "age": _page(users.c.created.asc(), users.c.id.asc()),
}
_IDS: Any = bindparam("ids", expanding=True)
WORKERS_OF = (
    select(workers.c.user_id, workers.c.id)
    .where(workers.c.user_id.in_(_IDS))
    .order_by(workers.c.created, workers.c.id)
)
SHARED_KEYS_OF = (
    select(shared_keys.c.user_id, shared_keys.c.id)
    .where(shared_keys.c.user_id.in_(_IDS))
    .order_by(shared_keys.c.created, shared_keys.c.id)
)
STYLES_OF = (
    select(styles.c.user_id, styles.c.id, styles.c.name, styles.c.type, styles.c.public)
    .where(styles.c.user_id.in_(_IDS))
    .order_by(styles.c.created, styles.c.id)
)
SHARED_KEY = select(shared_keys.c.user_id, shared_keys.c.name).where(shared_keys.c.id == bindparam("key"))
ADMIN_ALIASES = select(admins.c.alias)


def _credit_statement(detail: str) -> Any:
    """``kudos += :delta`` raised to the user's floor (§6.3 row 1), ``kudos_details.<detail> += :delta``.

    Matches no row when a non-zero delta would leave either value at 2**53 or beyond, where the float
    would drop (part of) the change; the check and the change are one statement, so concurrent deltas
    cannot slip past it.
    """
    delta = bindparam("delta", type_=Double)
    new = users.c.kudos + delta
    floor = case(
        (users.c.id == ANON_ID, literal(float(KUDOS_FLOORS.anonymous))),
        (users.c.pseudonymous.is_(True), literal(float(KUDOS_FLOORS.pseudonymous))),
        else_=literal(float(KUDOS_FLOORS.registered)),
    )
    new_balance = case((new < floor, floor), else_=new)
    detail_column = users.c[f"kd_{detail}"]
    new_detail = func.coalesce(detail_column, 0.0) + delta
    limit = literal(float(EXACT_KUDOS_LIMIT))
    exact = or_(delta == literal(0.0), (func.abs(new_balance) < limit) & (func.abs(new_detail) < limit))
    return (
        update(users)
        .where(users.c.id == bindparam("target_id"), exact)
        .values({users.c.kudos: new_balance, detail_column: new_detail})
        .returning(users.c.kudos)
    )


CREDITS = {detail: _credit_statement(detail) for detail in ("admin", "recurring")}


COLUMN_AT = {column.key: i for i, column in enumerate(USER_SELECT.selected_columns)}
_CONVERTED_AT: tuple[tuple[str, int, Any], ...] = (
    *((name, COLUMN_AT[name], type(default)) for name, default in NEW_USER_DEFAULTS.items()),
    ("suspicious", COLUMN_AT["n_suspicions"], int),
)
_PLAIN_AT = tuple(  # id, username, the texts and the dates: stored as they are
    (f.name, COLUMN_AT[f.name])
    for f in fields(UserData)
    if f.name in users.c and f.name not in NEW_USER_DEFAULTS
)
ID_AT = COLUMN_AT["id"]
_KD_AT = tuple((key, COLUMN_AT[f"kd_{key}"]) for key in KUDOS_DETAIL_KEYS)
_RECORD_AT = tuple((name, COLUMN_AT[f"rec_{name}"]) for name in RECORD_NAMES)


def side_id(row: Any) -> str:
    return str(row.id)


def style_data(row: Any) -> StyleData:
    return StyleData(id=row.id, name=row.name, type=row.type, public=bool(row.public))


def user_data(
    v: tuple[Any, ...],
    worker_ids: tuple[str, ...],
    sharedkey_ids: tuple[str, ...],
    user_styles: tuple[StyleData, ...],
) -> UserData:
    """A user row of ``USER_SELECT`` (as a tuple) and its side-table entries as UserData."""
    fields: dict[str, Any] = {name: v[i] for name, i in _PLAIN_AT}
    fields.update({name: convert(v[i]) for name, i, convert in _CONVERTED_AT})
    return UserData(
        **fields,
        kudos_details={key: v[i] for key, i in _KD_AT},
        records={name: v[i] for name, i in _RECORD_AT},
        worker_ids=worker_ids,
        styles=user_styles,
        sharedkey_ids=sharedkey_ids,
    )


def new_user_row(**values: Any) -> dict[str, Any]:
    """The column values of a new user: a new user's defaults (domain), then ``values``."""
    return {**NEW_USER_DEFAULTS, "wiped": False, **values}
