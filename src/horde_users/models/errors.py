"""Error bodies and the `rc` codes the users endpoints emit."""

from __future__ import annotations

from enum import Enum

from horde_users.models.base import ContainsMessageResponseMixin, HordeResponseBaseModel


class RC(str, Enum):
    """Every `rc` code of the users endpoints (docs/users-api.md §3.3). Match on these, never on messages."""

    UserNotFound = "UserNotFound"
    InvalidAPIKey = "InvalidAPIKey"
    NotAdmin = "NotAdmin"
    NotModerator = "NotModerator"
    AnonForbiddenUserMod = "AnonForbiddenUserMod"
    NonServiceForbidden = "NonServiceForbidden"
    NoUserModSelected = "NoUserModSelected"
    TooLongUserName = "TooLongUserName"
    ProfaneUserName = "ProfaneUserName"
    ProfaneUserContact = "ProfaneUserContact"
    ProfaneAdminComment = "ProfaneAdminComment"
    UserNotDeleted = "UserNotDeleted"
    AnonForbiddenUser = "AnonForbiddenUser"
    CannotDeleteMod = "CannotDeleteMod"
    NotUserOrMod = "NotUserOrMod"
    CannotWipeActiveUser = "CannotWipeActiveUser"


class RequestErrorResponse(HordeResponseBaseModel, ContainsMessageResponseMixin):
    """An error body: `message`, plus `rc` (API errors) or `errors` (field -> text, validation errors)."""

    rc: str | None = None
    """The error code (validation, rate-limit and fault bodies have none); unknown codes stay strings."""
    errors: dict[str, str] | None = None
    """For 400 validation errors: which field failed and why."""

    @classmethod
    def get_api_model_name(cls) -> str | None:
        return "RequestError"

    def get_rc(self) -> RC | str | None:
        """`rc` as an `RC` member when known, else the raw string, else None."""
        if self.rc is None:
            return None
        try:
            return RC(self.rc)
        except ValueError:
            return self.rc
