"""Users-API models: the user record and its parts, the list, modify and delete requests and replies."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any, Literal

from pydantic import Field, field_validator

from horde_users.endpoints import AI_HORDE_API_ENDPOINT_SUBPATH, HTTPMethod
from horde_users.models.base import (
    _ANONYMOUS_MODEL,
    REQUEST_MODEL_CONFIG,
    APIKeyAllowedInRequestMixin,
    BaseAIHordeRequest,
    ContainsMessageResponseMixin,
    HordeAPIObjectBaseModel,
    HordeResponseBaseModel,
    HordeResponseRootModel,
    MessageSpecifiesUserIDMixin,
)
from horde_users.models.dates import ServerDateTime

INT32_MIN = -(2**31)
INT32_MAX = 2**31 - 1
KUDOS_LIMIT = 10**15
"""The largest kudos delta (in absolute value) a request may carry."""


class ContributionsDetails(HordeAPIObjectBaseModel):
    """Obsolete totals of what the user generated (the server sends nulls)."""

    megapixelsteps: float | None = None
    """Megapixelsteps this user generated."""
    fulfillments: int | None = None
    """Images this user generated."""

    @classmethod
    def get_api_model_name(cls) -> str | None:
        return "ContributionsDetails"


class UserKudosDetails(HordeAPIObjectBaseModel):
    """Cumulative kudos of the user by source (`0` and `0.0` both mean none)."""

    accumulated: float | None = 0
    """Kudos accumulated or used by generating."""
    gifted: float | None = 0
    """Kudos this user gave to other users."""
    donated: float | None = 0
    """Kudos this user donated to education accounts."""
    admin: float | None = 0
    """Kudos the Horde admins gave (or took)."""
    received: float | None = 0
    """Kudos other users gave this user."""
    recurring: float | None = 0
    """Kudos received from the monthly allowance."""
    awarded: float | None = 0
    """Kudos awarded for things like rating images."""
    styled: float | None = 0
    """Kudos received when others used this user's styles."""

    @classmethod
    def get_api_model_name(cls) -> str | None:
        return "UserKudosDetails"


class MonthlyKudos(HordeAPIObjectBaseModel):
    """The user's monthly kudos allowance."""

    amount: int | None = None
    """Kudos received each month (a moderator's includes the 300000 bonus)."""
    last_received: ServerDateTime | None = None
    """When the allowance was last paid, UTC (the server writes RFC 822)."""

    @classmethod
    def get_api_model_name(cls) -> str | None:
        return "MonthlyKudos"


class UserThingRecords(HordeAPIObjectBaseModel):
    """Megapixelsteps and tokens generated or requested."""

    megapixelsteps: float | None = 0
    """Megapixelsteps generated or requested."""
    tokens: int | None = 0
    """Text tokens generated or requested."""

    @classmethod
    def get_api_model_name(cls) -> str | None:
        return "UserThingRecords"


class UserAmountRecords(HordeAPIObjectBaseModel):
    """Counts of images, texts and interrogations."""

    image: int | None = 0
    """Images."""
    text: int | None = 0
    """Texts."""
    interrogation: int | None = 0
    """Interrogations (alchemy)."""

    @classmethod
    def get_api_model_name(cls) -> str | None:
        return "UserAmountRecords"


class UserRecords(HordeAPIObjectBaseModel):
    """The user's counters by kind."""

    usage: UserThingRecords | None = None
    """What this user consumed."""
    contribution: UserThingRecords | None = None
    """What this user's workers produced."""
    fulfillment: UserAmountRecords | None = None
    """Requests this user's workers fulfilled."""
    request: UserAmountRecords | None = None
    """Requests this user made."""
    style: UserAmountRecords | None = None
    """Times this user's styles were used."""

    @classmethod
    def get_api_model_name(cls) -> str | None:
        return "UserRecords"


class UsageDetails(HordeAPIObjectBaseModel):
    """Obsolete totals of what the user requested (the server sends nulls)."""

    megapixelsteps: float | None = None
    """Megapixelsteps this user requested."""
    requests: int | None = None
    """Images this user requested."""

    @classmethod
    def get_api_model_name(cls) -> str | None:
        return "UsageDetails"


class ActiveGenerations(HordeAPIObjectBaseModel):
    """Ids of the user's running requests; only the kinds in use appear."""

    text: list[str] | None = None
    """Running text generations."""
    image: list[str] | None = None
    """Running image generations."""
    alchemy: list[str] | None = None
    """Running alchemy (interrogation) requests."""

    @classmethod
    def get_api_model_name(cls) -> str | None:
        return "ActiveGenerations"


class ResponseModelStylesUser(HordeAPIObjectBaseModel):
    """A style the user created."""

    name: str | None = None
    """The style's name, `<alias>::style::<style>`."""
    id_: str | None = Field(default=None, alias="id")
    """The style's id (a UUID)."""
    type_: str | None = Field(default=None, alias="type")
    """`image` or `text` (newer kinds are kept as they come)."""

    @classmethod
    def get_api_model_name(cls) -> str | None:
        return "ResponseModelStylesUser"


_USER_SECRETS = {"proxy_passkey", "sharedkey_ids"}


class UserDetailsResponse(HordeResponseBaseModel):
    """A user as the caller may see it: public fields, the owner's view, or a moderator's view."""

    username: str | None = None
    """The user's alias, `name#id` (a shared-key lookup adds ` (Shared Key: <name>)`)."""
    id_: int | None = Field(default=None, alias="id")
    """The user's numeric id."""
    kudos: float | None = None
    """The current kudos balance; it sets the user's priority."""
    evaluating_kudos: float | None = None
    """(Moderators) kudos held back until this untrusted user becomes trusted."""
    concurrency: int | None = None
    """How many requests the user may have running at once."""
    worker_invited: int | None = None
    """How many workers the user may add while joining is invite-only."""
    moderator: bool | None = None
    """The user is a Horde moderator."""
    kudos_details: UserKudosDetails | None = None
    """Cumulative kudos by source."""
    worker_count: int | None = None
    """How many workers the user owns, active or not."""
    worker_ids: list[str] | None = None
    """(Owner, or public) the ids of the user's workers."""
    styles: list[ResponseModelStylesUser] | None = None
    """The user's styles (non-public ones only in the owner's and moderators' views)."""
    sharedkey_ids: list[str] | None = Field(default=None, repr=False)
    """(Owner) the user's shared keys; they are usable keys, so treat them as secrets."""
    active_generations: ActiveGenerations | None = None
    """(Owner) the user's running requests."""
    monthly_kudos: MonthlyKudos | None = None
    """(Moderators) the monthly kudos allowance."""
    trusted: bool | None = None
    """The user is trusted."""
    flagged: bool | None = None
    """The user is flagged for suspicious activity."""
    vpn: bool | None = None
    """(Owner) the user may run workers behind a VPN."""
    service: bool | None = None
    """The user is a service (proxy) account."""
    education: bool | None = None
    """The user is an education account."""
    customizer: bool | None = None
    """The user may serve custom models."""
    special: bool | None = None
    """(Owner) the user has the special role."""
    deleted: bool | None = None
    """The user is soft-deleted (still listed and usable; a second delete may wipe it)."""
    suspicious: int | None = None
    """(Moderators) how many suspicion records the user has."""
    pseudonymous: bool | None = None
    """The user registered without an OAuth identity."""
    contact: str | None = None
    """(Owner) how the admins can reach the user."""
    admin_comment: str | None = None
    """(Moderators) the moderators' note about this user."""
    proxy_passkey: str | None = Field(default=None, repr=False)
    """(Moderators) the service account's proxy passkey: a credential."""
    account_age: int | None = None
    """Whole seconds since the account was created."""
    usage: UsageDetails | None = None
    """Obsolete usage totals."""
    contributions: ContributionsDetails | None = None
    """Obsolete contribution totals."""
    records: UserRecords | None = None
    """The user's counters by kind."""

    @classmethod
    def get_api_model_name(cls) -> str | None:
        return "UserDetails"

    @classmethod
    def get_sensitive_fields(cls) -> set[str]:
        return set(_USER_SECRETS)


class ListUsersDetailsResponse(HordeResponseRootModel[list[UserDetailsResponse]]):
    """One page (up to 25) of users, public view; the server sends a JSON array."""

    root: list[UserDetailsResponse]
    """The users of the page."""

    @classmethod
    def get_api_model_name(cls) -> str | None:
        return _ANONYMOUS_MODEL

    def __iter__(self) -> Iterator[UserDetailsResponse]:  # type: ignore[override]
        return iter(self.root)

    def __len__(self) -> int:
        return len(self.root)

    def __getitem__(self, index: int) -> UserDetailsResponse:
        return self.root[index]

    def log_safe_model_dump(self, extra_exclude: set[str] | None = None) -> list[dict[str, Any]]:
        """The users as dicts, without their secrets."""
        return [user.log_safe_model_dump(extra_exclude) for user in self.root]


class ModifyUserReply(HordeAPIObjectBaseModel):
    """What a modification did: only the keys of the operations that ran."""

    new_kudos: float | None = None
    """The kudos balance after the change."""
    concurrency: int | None = None
    """The new concurrency (also echoed when the education role moved it)."""
    usage_multiplier: float | None = None
    """The new usage multiplier."""
    worker_invited: int | None = None
    """The new worker invitation count."""
    moderator: bool | None = None
    """The moderator role now."""
    public_workers: bool | None = None
    """Whether the user's workers are now public."""
    username: str | None = None
    """The stored username, without `#id`."""
    monthly_kudos: int | None = None
    """The monthly allowance now, without the moderator bonus."""
    trusted: bool | None = None
    """The trusted role now."""
    flagged: bool | None = None
    """The flagged state now."""
    customizer: bool | None = None
    """The customizer role now."""
    vpn: bool | None = None
    """The VPN role now."""
    service: bool | None = None
    """The service role now."""
    education: bool | None = None
    """The education role now."""
    special: bool | None = None
    """The special role now."""
    filtered: bool | None = None
    """Kept for compatibility with other SDKs; the server never sends it (it ignores ``filtered``)."""
    undeleted: bool | None = None
    """True when this call undeleted the user."""
    new_suspicion: int | None = None
    """The suspicion count after a reset (0)."""
    contact: str | None = None
    """The stored contact."""
    admin_comment: str | None = None
    """The stored admin comment."""
    proxy_passkey: str | None = Field(default=None, repr=False)
    """A newly issued proxy passkey: a credential, shown once."""

    @classmethod
    def get_sensitive_fields(cls) -> set[str]:
        return {"proxy_passkey"}


class ModifyUserResponse(HordeResponseBaseModel, ModifyUserReply):
    """The reply to `PUT /v2/users/{user_id}`."""

    @classmethod
    def get_api_model_name(cls) -> str | None:
        return "ModifyUser"


_ONLY_TRUE_FIELDS = ("reset_suspicion", "undelete", "generate_proxy_passkey")


class ModifyUser(HordeAPIObjectBaseModel):
    """The changes a PUT may carry; every field optional, request limits enforced before sending."""

    model_config = REQUEST_MODEL_CONFIG

    kudos: float | None = Field(
        default=None, strict=True, ge=-KUDOS_LIMIT, le=KUDOS_LIMIT, allow_inf_nan=False
    )
    """(Admin) kudos to add, a delta (negative takes away); truncated to an integer; never safe to retry."""
    concurrency: int | None = Field(default=None, strict=True, ge=0, le=500)
    """(Moderator) how many requests the user may have running at once."""
    usage_multiplier: float | None = Field(default=None, strict=True, ge=0.1, le=10, allow_inf_nan=False)
    """(Admin) multiplier of the user's kudos consumption."""
    worker_invited: int | None = Field(default=None, strict=True, ge=INT32_MIN, le=INT32_MAX)
    """(Moderator) how many workers the user may add while joining is invite-only."""
    moderator: bool | None = Field(default=None, strict=True)
    """(Admin) the moderator role; True also makes the user trusted."""
    public_workers: bool | None = Field(default=None, strict=True)
    """(Owner) show the user's worker ids publicly."""
    username: str | None = Field(default=None, strict=True, min_length=3, max_length=100)
    """(Owner) a new username; the server refuses more than 30 characters and profanity."""
    monthly_kudos: int | None = Field(default=None, strict=True, ge=INT32_MIN, le=INT32_MAX)
    """(Admin) a delta to the monthly allowance; a positive one also credits the balance now."""
    trusted: bool | None = Field(default=None, strict=True)
    """(Moderator) the trusted role."""
    flagged: bool | None = Field(default=None, strict=True)
    """(Moderator) flag the user: no kudos transfers, workers in maintenance."""
    customizer: bool | None = Field(default=None, strict=True)
    """(Moderator) the customizer role: may serve custom models."""
    vpn: bool | None = Field(default=None, strict=True)
    """(Moderator) may run workers behind a VPN."""
    service: bool | None = Field(default=None, strict=True)
    """(Moderator) the service (proxy) account role."""
    education: bool | None = Field(default=None, strict=True)
    """(Moderator) the education role; moves concurrency to 200 (on) or back to 30 (off)."""
    special: bool | None = Field(default=None, strict=True)
    """(Moderator) the special role."""
    filtered: bool | None = Field(default=None, strict=True)
    """Accepted by the server and ignored."""
    reset_suspicion: bool | None = Field(default=None, strict=True)
    """(Moderator) remove all the user's suspicion records; send True or omit it."""
    undelete: bool | None = Field(default=None, strict=True)
    """(Owner) restore a soft-deleted user; send True or omit it."""
    generate_proxy_passkey: bool | None = Field(default=None, strict=True)
    """(Owner, service accounts) issue a new proxy passkey; send True or omit it."""
    contact: str | None = Field(default=None, strict=True, min_length=5, max_length=500)
    """(Owner) how the admins can reach the user."""
    admin_comment: str | None = Field(default=None, strict=True, min_length=5, max_length=500)
    """(Moderator) a note about this user for the other moderators."""

    @field_validator(*_ONLY_TRUE_FIELDS)
    @classmethod
    def _refuse_false(cls, value: bool | None) -> bool | None:
        """The server acts on these fields whenever they are present, even as false."""
        if value is False:
            raise ValueError("the server acts on this field even when it is false: send True or omit it")
        return value

    @field_validator("kudos")
    @classmethod
    def _finite(cls, value: float | None) -> float | None:
        if value is not None and not math.isfinite(value):
            raise ValueError("kudos must be a finite number")
        return value

    def get_changes(self) -> dict[str, Any]:
        """The fields that are set, as the JSON body sends them."""
        return self.model_dump(exclude_none=True)


class ListUsersDetailsRequest(BaseAIHordeRequest):
    """`GET /v2/users`: one page of all users, 25 per page, public view."""

    page: int = Field(default=1, strict=True, ge=1)
    """Which page (from 1); pages past the end, and past 10000, are empty."""
    sort: Literal["kudos", "age"] = "kudos"
    """`kudos` (highest balance first) or `age` (oldest account first)."""

    @classmethod
    def get_http_method(cls) -> HTTPMethod:
        return HTTPMethod.GET

    @classmethod
    def get_api_endpoint_subpath(cls) -> AI_HORDE_API_ENDPOINT_SUBPATH:
        return AI_HORDE_API_ENDPOINT_SUBPATH.v2_users_all

    @classmethod
    def get_default_success_response_type(cls) -> type[ListUsersDetailsResponse]:
        return ListUsersDetailsResponse

    @classmethod
    def get_query_fields(cls) -> list[str]:
        return ["page", "sort"]


class SingleUserDetailsRequest(BaseAIHordeRequest, MessageSpecifiesUserIDMixin, APIKeyAllowedInRequestMixin):
    """`GET /v2/users/{user_id}`: one user; the owner's or a moderator's key gets the privileged view."""

    @classmethod
    def get_http_method(cls) -> HTTPMethod:
        return HTTPMethod.GET

    @classmethod
    def get_api_endpoint_subpath(cls) -> AI_HORDE_API_ENDPOINT_SUBPATH:
        return AI_HORDE_API_ENDPOINT_SUBPATH.v2_users_single

    @classmethod
    def get_default_success_response_type(cls) -> type[UserDetailsResponse]:
        return UserDetailsResponse

    @classmethod
    def is_api_key_required(cls) -> bool:
        return False


class ModifyUserRequest(
    BaseAIHordeRequest, MessageSpecifiesUserIDMixin, ModifyUser, APIKeyAllowedInRequestMixin
):
    """`PUT /v2/users/{user_id}`: change a user (admin, moderator or owner fields)."""

    @classmethod
    def get_api_model_name(cls) -> str | None:
        return "ModifyUserInput"

    @classmethod
    def is_api_key_required(cls) -> bool:
        return True

    @classmethod
    def get_http_method(cls) -> HTTPMethod:
        return HTTPMethod.PUT

    @classmethod
    def get_api_endpoint_subpath(cls) -> AI_HORDE_API_ENDPOINT_SUBPATH:
        return AI_HORDE_API_ENDPOINT_SUBPATH.v2_users_single

    @classmethod
    def get_default_success_response_type(cls) -> type[ModifyUserResponse]:
        return ModifyUserResponse

    def get_changes(self) -> dict[str, Any]:
        """The ModifyUser fields that are set, as the JSON body sends them."""
        return self.model_dump(include=set(ModifyUser.model_fields), exclude_none=True)


class DeleteUserResponse(HordeResponseBaseModel, ContainsMessageResponseMixin):
    """The reply to `DELETE /v2/users/{user_id}`: `{"message": "OK"}`."""

    @classmethod
    def get_api_model_name(cls) -> str | None:
        return "SimpleResponse"


class DeleteUserRequest(BaseAIHordeRequest, MessageSpecifiesUserIDMixin, APIKeyAllowedInRequestMixin):
    """`DELETE /v2/users/{user_id}`: soft delete; a repeat can wipe the account for good."""

    @classmethod
    def is_api_key_required(cls) -> bool:
        return True

    @classmethod
    def get_http_method(cls) -> HTTPMethod:
        return HTTPMethod.DELETE

    @classmethod
    def get_api_endpoint_subpath(cls) -> AI_HORDE_API_ENDPOINT_SUBPATH:
        return AI_HORDE_API_ENDPOINT_SUBPATH.v2_users_single

    @classmethod
    def get_default_success_response_type(cls) -> type[DeleteUserResponse]:
        return DeleteUserResponse
