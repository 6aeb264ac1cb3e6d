"""horde-users: models, clients, a local sandbox and a CLI for the AI Horde users API.

Importing the package is cheap: each name below is imported on first use, so `import horde_users`
loads no HTTP, server or CLI library.
"""

# ruff: noqa: F401  (the TYPE_CHECKING imports are re-exports, listed in __all__)
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from horde_users._version import __version__

if TYPE_CHECKING:
    from horde_users.client import AsyncHordeUsers, HordeUsers
    from horde_users.errors import (
        AuthenticationError,
        BadRequestError,
        HordeAPIError,
        HordeConnectionError,
        HordeError,
        HordeTimeoutError,
        InvalidRequestError,
        InvalidResponseError,
        NotFoundError,
        PayloadTooLargeError,
        PermissionDeniedError,
        RateLimitError,
        ServerError,
    )
    from horde_users.models import (
        AI_HORDE_API_ENDPOINT_SUBPATH,
        ANON_API_KEY,
        RC,
        ActiveGenerations,
        APIKeyAllowedInRequestMixin,
        BaseAIHordeRequest,
        ContainsMessageResponseMixin,
        ContributionsDetails,
        DeleteUserRequest,
        DeleteUserResponse,
        FindUserRequest,
        HordeAPIObjectBaseModel,
        HordeHTTPRequest,
        HordeResponseBaseModel,
        HordeResponseRootModel,
        HTTPMethod,
        ListUsersDetailsRequest,
        ListUsersDetailsResponse,
        MessageSpecifiesUserIDMixin,
        ModifyUser,
        ModifyUserReply,
        ModifyUserRequest,
        ModifyUserResponse,
        MonthlyKudos,
        RequestErrorResponse,
        ResponseModelStylesUser,
        SingleUserDetailsRequest,
        UsageDetails,
        UserAmountRecords,
        UserDetailsResponse,
        UserKudosDetails,
        UserRecords,
        UserThingRecords,
    )

_MODELS = (
    "AI_HORDE_API_ENDPOINT_SUBPATH",
    "ANON_API_KEY",
    "RC",
    "APIKeyAllowedInRequestMixin",
    "ActiveGenerations",
    "BaseAIHordeRequest",
    "ContainsMessageResponseMixin",
    "ContributionsDetails",
    "DeleteUserRequest",
    "DeleteUserResponse",
    "FindUserRequest",
    "HTTPMethod",
    "HordeAPIObjectBaseModel",
    "HordeHTTPRequest",
    "HordeResponseBaseModel",
    "HordeResponseRootModel",
    "ListUsersDetailsRequest",
    "ListUsersDetailsResponse",
    "MessageSpecifiesUserIDMixin",
    "ModifyUser",
    "ModifyUserReply",
    "ModifyUserRequest",
    "ModifyUserResponse",
    "MonthlyKudos",
    "RequestErrorResponse",
    "ResponseModelStylesUser",
    "SingleUserDetailsRequest",
    "UsageDetails",
    "UserAmountRecords",
    "UserDetailsResponse",
    "UserKudosDetails",
    "UserRecords",
    "UserThingRecords",
)
_ERRORS = (
    "AuthenticationError",
    "BadRequestError",
    "HordeAPIError",
    "HordeConnectionError",
    "HordeError",
    "HordeTimeoutError",
    "InvalidRequestError",
    "InvalidResponseError",
    "NotFoundError",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "RateLimitError",
    "ServerError",
)
_CLIENTS = ("AsyncHordeUsers", "HordeUsers")

_WHERE: dict[str, str] = {
    **dict.fromkeys(_MODELS, "horde_users.models"),
    **dict.fromkeys(_ERRORS, "horde_users.errors"),
    **dict.fromkeys(_CLIENTS, "horde_users.client"),
}

__all__ = ["__version__", *_MODELS, *_ERRORS, *_CLIENTS]


def __getattr__(name: str) -> Any:
    """Import a public name from its module on first use, then keep it here."""
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'horde_users' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
