"""Section 2: parsing a 25-user list page and one privileged user; ours vs horde-sdk vs the floors.

Inputs are bytes, as they come off the wire; times are CPU time of the process (``time.process_time``),
which a busy shared machine disturbs less than wall time. For each model two paths are timed: ``json.loads`` +
``model_validate`` (what horde-sdk's client does) and ``model_validate_json`` (pydantic's own parser, what
ours does). Where both sides parse the input, each side's pydantic-core validator is also called directly
(``__pydantic_validator__.validate_json``): the models without their methods' wrappers (ours records
``time_constructed`` there; pydantic's passes its options on). The floors are ``orjson.loads`` alone (no
validation) and a ``msgspec`` Struct of the same shape (validated decoding, ``last_received`` kept as a
string).
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

os.environ.setdefault("LOGURU_LEVEL", "WARNING")

import msgspec
import orjson
from loguru import logger

from _common import (
    example_body,
    list_page,
    per_call,
    privileged_user,
    section_args,
    without_last_received,
    write_result,
)

logger.remove()  # horde-sdk logs at DEBUG to stderr by default; not what is measured here

from horde_sdk.ai_horde_api import apimodels as sdk  # noqa: E402

import horde_users.models as ours  # noqa: E402

# -- the msgspec floor: the UserDetails shape as Structs -------------------------------------------


class MsContributions(msgspec.Struct):
    megapixelsteps: float | None = None
    fulfillments: int | None = None


class MsKudosDetails(msgspec.Struct):
    accumulated: float | None = 0
    gifted: float | None = 0
    donated: float | None = 0
    admin: float | None = 0
    received: float | None = 0
    recurring: float | None = 0
    awarded: float | None = 0
    styled: float | None = 0


class MsMonthlyKudos(msgspec.Struct):
    amount: int | None = None
    last_received: str | None = None


class MsThingRecords(msgspec.Struct):
    megapixelsteps: float | None = 0
    tokens: int | None = 0


class MsAmountRecords(msgspec.Struct):
    image: int | None = 0
    text: int | None = 0
    interrogation: int | None = 0


class MsRecords(msgspec.Struct):
    usage: MsThingRecords | None = None
    contribution: MsThingRecords | None = None
    fulfillment: MsAmountRecords | None = None
    request: MsAmountRecords | None = None
    style: MsAmountRecords | None = None


class MsUsage(msgspec.Struct):
    megapixelsteps: float | None = None
    requests: int | None = None


class MsActiveGenerations(msgspec.Struct):
    text: list[str] | None = None
    image: list[str] | None = None
    alchemy: list[str] | None = None


class MsStyle(msgspec.Struct):
    name: str
    id: str
    type: str


class MsUser(msgspec.Struct):
    username: str | None = None
    id: int | None = None
    kudos: float | None = None
    evaluating_kudos: float | None = None
    concurrency: int | None = None
    worker_invited: int | None = None
    moderator: bool | None = None
    kudos_details: MsKudosDetails | None = None
    worker_count: int | None = None
    worker_ids: list[str] | None = None
    styles: list[MsStyle] | None = None
    sharedkey_ids: list[str] | None = None
    active_generations: MsActiveGenerations | None = None
    monthly_kudos: MsMonthlyKudos | None = None
    trusted: bool | None = None
    flagged: bool | None = None
    vpn: bool | None = None
    service: bool | None = None
    education: bool | None = None
    customizer: bool | None = None
    special: bool | None = None
    deleted: bool | None = None
    suspicious: int | None = None
    pseudonymous: bool | None = None
    contact: str | None = None
    admin_comment: str | None = None
    proxy_passkey: str | None = None
    account_age: int | None = None
    usage: MsUsage | None = None
    contributions: MsContributions | None = None
    records: MsRecords | None = None


MS_USER = msgspec.json.Decoder(MsUser)
MS_PAGE = msgspec.json.Decoder(list[MsUser])

# -- which captured bodies each side accepts ------------------------------------------------------

ACCEPTANCE_CASES = {
    "010 list page 1": ("010_list_users_page1", "list"),
    "011 list page 2": ("011_list_users_page2", "list"),
    "020 user, anonymous view": ("020_get_user_anon", "user"),
    "021 user, owner view": ("021_get_user_owner", "user"),
    "022 user, moderator view": ("022_get_user_moderator", "user"),
    "030 Anonymous user 0": ("030_get_user_anonymous_user0", "user"),
    "040 find_user": ("040_find_user_owner", "user"),
    "072 user, moderator view, RFC 822 date": ("072_get_user_after_mod_changes_modview", "user"),
}


def accepts(model: Any, body: Any) -> str:
    try:
        model.model_validate(body)
    except Exception as exc:  # the reference raises pydantic's ValidationError
        errors = getattr(exc, "errors", None)
        if callable(errors):
            first = errors()[0]
            loc = ".".join(str(p) for p in first["loc"])
            return f"rejected: {loc}: {first['msg']}"
        return f"rejected: {type(exc).__name__}"
    return "ok"


def acceptance() -> list[dict[str, str]]:
    rows = []
    for label, (name, kind) in ACCEPTANCE_CASES.items():
        try:
            body = example_body(name)
        except FileNotFoundError:
            continue
        ours_model = ours.ListUsersDetailsResponse if kind == "list" else ours.UserDetailsResponse
        sdk_model = sdk.ListUsersDetailsResponse if kind == "list" else sdk.UserDetailsResponse
        rows.append(
            {"body": label, "horde_users": accepts(ours_model, body), "horde_sdk": accepts(sdk_model, body)}
        )
    return rows


# -- timing ----------------------------------------------------------------------------------------


def cases_for(raw: bytes, ours_model: Any, sdk_model: Any | None, decoder: Any) -> dict[str, Any]:
    cases: dict[str, Any] = {
        "horde_users: json.loads + model_validate": lambda: ours_model.model_validate(json.loads(raw)),
        "horde_users: model_validate_json": lambda: ours_model.model_validate_json(raw),
    }
    if sdk_model is not None:
        cases["horde_sdk: json.loads + model_validate"] = lambda: sdk_model.model_validate(json.loads(raw))
        cases["horde_sdk: model_validate_json"] = lambda: sdk_model.model_validate_json(raw)
        ours_validate = ours_model.__pydantic_validator__.validate_json
        sdk_validate = sdk_model.__pydantic_validator__.validate_json
        cases["horde_users: validator alone (no time stamp)"] = lambda: ours_validate(raw)
        cases["horde_sdk: validator alone"] = lambda: sdk_validate(raw)
    cases["floor: msgspec Struct"] = lambda: decoder.decode(raw)
    cases["floor: orjson.loads (no validation)"] = lambda: orjson.loads(raw)
    cases["floor: json.loads (no validation)"] = lambda: json.loads(raw)
    return cases


def interleaved_warm(cases: dict[str, Any], *, rounds: int, number: int, warm: int) -> dict[str, list[float]]:
    """Like ``_common.interleaved``, with ``warm`` untimed calls before each sample: the first calls after
    another parser ran pay for refilling the CPU caches (up to 5% of a 100-call sample of one user here),
    a cost that would fall on whichever case comes first in the round."""
    samples: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(rounds):
        for name, fn in cases.items():
            for _ in range(warm):
                fn()
            samples[name].append(per_call(fn, number=number, clock=time.process_time))
    return samples


def check_same_shape(raw: bytes, ours_model: Any, sdk_model: Any | None) -> None:
    """Guard: every parser really parses the input (and ours keeps every key)."""
    parsed = ours_model.model_validate_json(raw)
    if sdk_model is not None:
        sdk_model.model_validate_json(raw)
    if isinstance(parsed, ours.ListUsersDetailsResponse):
        assert len(parsed.root) == len(json.loads(raw))


def main() -> None:
    args = section_args(__doc__ or "")
    # 61 rounds: the median of the ratios then moves by about 1% from run to run on a busy machine (25: 3%)
    rounds, number = (3, 50) if args.quick else (61, 100)
    page = list_page()
    user = privileged_user()
    inputs = {
        "list page, 25 users (010)": (
            page,
            ours.ListUsersDetailsResponse,
            sdk.ListUsersDetailsResponse,
            MS_PAGE,
        ),
        "privileged user (072, RFC 822 last_received)": (user, ours.UserDetailsResponse, None, MS_USER),
        "privileged user without last_received": (
            without_last_received(user),
            ours.UserDetailsResponse,
            sdk.UserDetailsResponse,
            MS_USER,
        ),
    }
    timings: dict[str, dict[str, list[float]]] = {}
    sizes: dict[str, int] = {}
    for label, (body, ours_model, sdk_model, decoder) in inputs.items():
        raw = json.dumps(body).encode()
        sizes[label] = len(raw)
        check_same_shape(raw, ours_model, sdk_model)
        timings[label] = interleaved_warm(
            cases_for(raw, ours_model, sdk_model, decoder), rounds=rounds, number=number, warm=5
        )
        print(f"parse: {label}: done", file=sys.stderr, flush=True)
    write_result(
        args.out,
        {
            "rounds": rounds,
            "number": number,
            "sizes": sizes,
            "samples_s": timings,
            "acceptance": acceptance(),
        },
    )


if __name__ == "__main__":
    main()
