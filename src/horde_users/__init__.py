"""horde-users: models, clients, a local sandbox and a CLI for the AI Horde users API.

Importing the package is cheap: each name below is imported on first use, so `import horde_users`
loads no HTTP, server or CLI library.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from horde_users._version import __version__

if TYPE_CHECKING:
    # `X as X` marks each name exported for type checkers, which cannot read the __all__ built below.
    from horde_users.client import AsyncHordeUsers as AsyncHordeUsers
    from horde_users.client import HordeUsers as HordeUsers
    from horde_users.errors import AuthenticationError as AuthenticationError
    from horde_users.errors import BadRequestError as BadRequestError
    from horde_users.errors import HordeAPIError as HordeAPIError
    from horde_users.errors import HordeConnectionError as HordeConnectionError
    from horde_users.errors import HordeError as HordeError
    from horde_users.errors import HordeTimeoutError as HordeTimeoutError
    from horde_users.errors import InvalidRequestError as InvalidRequestError
    from horde_users.errors import InvalidResponseError as InvalidResponseError
    from horde_users.errors import NotFoundError as NotFoundError
    from horde_users.errors import PayloadTooLargeError as PayloadTooLargeError
    from horde_users.errors import PermissionDeniedError as PermissionDeniedError
    from horde_users.errors import RateLimitError as RateLimitError
    from horde_users.errors import ServerError as ServerError
    from horde_users.models import AI_HORDE_API_ENDPOINT_SUBPATH as AI_HORDE_API_ENDPOINT_SUBPATH
    from horde_users.models import ANON_API_KEY as ANON_API_KEY
    from horde_users.models import RC as RC
    from horde_users.models import ActiveGenerations as ActiveGenerations
    from horde_users.models import APIKeyAllowedInRequestMixin as APIKeyAllowedInRequestMixin
    from horde_users.models import BaseAIHordeRequest as BaseAIHordeRequest
    from horde_users.models import ContainsMessageResponseMixin as ContainsMessageResponseMixin
    from horde_users.models import ContributionsDetails as ContributionsDetails
    from horde_users.models import DeleteUserRequest as DeleteUserRequest
    from horde_users.models import DeleteUserResponse as DeleteUserResponse
    from horde_users.models import FindUserRequest as FindUserRequest
    from horde_users.models import HordeAPIObjectBaseModel as HordeAPIObjectBaseModel
    from horde_users.models import HordeHTTPRequest as HordeHTTPRequest
    from horde_users.models import HordeResponseBaseModel as HordeResponseBaseModel
    from horde_users.models import HordeResponseRootModel as HordeResponseRootModel
    from horde_users.models import HTTPMethod as HTTPMethod
    from horde_users.models import ListUsersDetailsRequest as ListUsersDetailsRequest
    from horde_users.models import ListUsersDetailsResponse as ListUsersDetailsResponse
    from horde_users.models import MessageSpecifiesUserIDMixin as MessageSpecifiesUserIDMixin
    from horde_users.models import ModifyUser as ModifyUser
    from horde_users.models import ModifyUserReply as ModifyUserReply
    from horde_users.models import ModifyUserRequest as ModifyUserRequest
    from horde_users.models import ModifyUserResponse as ModifyUserResponse
    from horde_users.models import MonthlyKudos as MonthlyKudos
    from horde_users.models import RequestErrorResponse as RequestErrorResponse
    from horde_users.models import ResponseModelStylesUser as ResponseModelStylesUser
    from horde_users.models import SingleUserDetailsRequest as SingleUserDetailsRequest
    from horde_users.models import UsageDetails as UsageDetails
    from horde_users.models import UserAmountRecords as UserAmountRecords
    from horde_users.models import UserDetailsResponse as UserDetailsResponse
    from horde_users.models import UserKudosDetails as UserKudosDetails
    from horde_users.models import UserRecords as UserRecords
    from horde_users.models import UserThingRecords as UserThingRecords

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
