"""The sandbox's requests carried out on the store: read, ask :mod:`~horde_users.sandbox.rules`, write.

Each function runs in one store transaction (a write one for PUT and DELETE, whose target row stays
locked until it ends), so a request acts on the state it decided from. SQLite's lock waits and their
503 stay with the caller (the app), which may run a function again after StoreBusyError.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from horde_users.sandbox import rules
from horde_users.sandbox.domain import UserData
from horde_users.sandbox.rules import ApiError, Plan
from horde_users.sandbox.store import InexactKudosError, SandboxStore
from horde_users.sandbox.texts import ProfanityFilter, sanitise


def present_key(apikey: str | None) -> str | None:
    """The ``apikey`` header of GET, DELETE and ``find_user``; an empty value counts as absent (§1.2)."""
    return apikey if apikey else None


def _caller(store: SandboxStore, apikey: str) -> UserData | ApiError:
    caller = store.find_by_api_key(apikey)
    return caller if caller is not None else rules.rc_error("InvalidAPIKey")


def _caller_and_target(
    store: SandboxStore, apikey: str | None, user_id: str, *, lock: bool = False
) -> tuple[UserData | None, UserData] | ApiError:
    """GET/DELETE (digit check passed): the caller (None without a key) and the target, or the error.

    ``lock`` (DELETE) reads the target with its row locked for the rest of the transaction.
    """
    caller: UserData | None = None
    key = present_key(apikey)
    if key is not None:
        looked_up = _caller(store, key)
        if isinstance(looked_up, ApiError):
            return looked_up
        caller = looked_up
    target_id = rules.digit_id(user_id)
    read = store.get_user_locked if lock else store.get_user
    target = read(target_id) if target_id is not None else None
    if target is None:
        return rules.user_not_found(user_id)
    return caller, target


def view_user(store: SandboxStore, apikey: str | None, user_id: str) -> tuple[UserData, int] | ApiError:
    """``GET /v2/users/{id}`` after the digit check: the target and the caller's privilege level (§5)."""
    with store.transaction():
        found = _caller_and_target(store, apikey, user_id)
    if isinstance(found, ApiError):
        return found
    caller, target = found
    return target, rules.privilege_level(caller, target.id)


def find_user(store: SandboxStore, key: str) -> tuple[UserData, int, str | None] | ApiError:
    """``GET /v2/find_user``: the owner of a shared key (level 0, shown with the key's suffix) or of an
    API key (level 1, its own name)."""
    with store.transaction():
        shared = store.find_by_shared_key(key)
        user = store.find_by_api_key(key) if shared is None else None
    if shared is not None:
        owner, name = shared
        suffix = " (Shared Key)" if name is None else f" (Shared Key: {name})"
        return owner, 0, owner.alias + suffix
    if user is None:
        return rules.api_key_not_found(key)
    return user, 1, None


def delete_user(store: SandboxStore, apikey: str | None, user_id: str, now: datetime) -> ApiError | None:
    """``DELETE /v2/users/{id}`` after the digit check (§7); None when it succeeded."""
    with store.transaction(write=True):
        found = _caller_and_target(store, apikey, user_id, lock=True)
        if isinstance(found, ApiError):
            return found
        caller, target = found
        if caller is None:
            return rules.validation_error({"apikey": rules.MISSING_DELETE_KEY})
        decision = rules.delete_decision(caller, target, now)
        if isinstance(decision, ApiError):
            return decision
        if decision == "soft_delete":
            store.soft_delete(target.id)
        elif decision == "wipe":
            store.wipe(target.id)
        return None


def modify_user(
    store: SandboxStore,
    apikey: str | None,
    user_id: str,
    changes: Mapping[str, Any],
    *,
    admins: Callable[[], set[str]],
    profanity: ProfanityFilter,
) -> dict[str, Any] | ApiError:
    """``PUT /v2/users/{id}`` after body validation (§4.3): target, key, then the plan, carried out.

    Returns the reply's members or the error; ``admins`` is called only when the body has admin rows.
    """
    with store.transaction(write=True):
        target_id = rules.put_path_id(user_id)
        target = store.get_user_locked(target_id) if target_id is not None else None
        if target is None:
            return rules.user_not_found(user_id)
        if apikey is None:
            return rules.validation_error({"apikey": rules.MISSING_PUT_KEY})
        caller = _caller(store, apikey)
        if isinstance(caller, ApiError):
            return caller
        is_admin = rules.needs_admin(changes) and caller.alias in admins()
        plan = rules.plan_modification(
            caller,
            target,
            changes,
            caller_is_admin=is_admin,
            is_profane=profanity.is_profane,
            sanitise=sanitise,
        )
        return apply_plan(store, target.id, plan)


def apply_plan(store: SandboxStore, user_id: int, plan: Plan) -> dict[str, Any] | ApiError:
    """Store the plan's effects in order (in the caller's transaction); the reply or the refusal.

    A kudos credit the float balance could not hold exactly is refused here (the store's statement
    decides, so concurrent credits cannot slip past it); the effects before it stay applied.
    """
    echo: dict[str, Any] = {}
    for effect in plan.effects:
        if isinstance(effect, rules.SetFields):
            store.set_fields(user_id, **effect.values)
            echo.update(effect.echo)
        elif isinstance(effect, rules.Echo):
            echo.update(effect.echo)
        elif isinstance(effect, rules.AddKudos):
            try:
                echo["new_kudos"] = store.add_kudos(user_id, effect.delta)
            except InexactKudosError:
                return rules.inexact_kudos(effect.member, effect.sent)
        elif isinstance(effect, rules.AddMonthlyKudos):
            try:
                echo["monthly_kudos"] = store.add_monthly_kudos(user_id, effect.delta)
            except InexactKudosError:
                return rules.inexact_kudos(effect.member, effect.delta)
        elif isinstance(effect, rules.ResetSuspicion):
            echo["new_suspicion"] = store.reset_suspicion(user_id)
        elif isinstance(effect, rules.NewProxyPasskey):
            echo["proxy_passkey"] = store.new_proxy_passkey(user_id)
        elif isinstance(effect, rules.Undelete):
            if not store.undelete(user_id):
                return rules.rc_error("UserNotDeleted")
            echo["undeleted"] = True
    return plan.refusal if plan.refusal is not None else echo
