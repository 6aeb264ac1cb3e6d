"""`GET /v2/find_user`: whose key is this?"""

from __future__ import annotations

from horde_users.endpoints import AI_HORDE_API_ENDPOINT_SUBPATH, HTTPMethod
from horde_users.models.base import APIKeyAllowedInRequestMixin, BaseAIHordeRequest
from horde_users.models.users import UserDetailsResponse


class FindUserRequest(BaseAIHordeRequest, APIKeyAllowedInRequestMixin):
    """The user that owns the sent key (own view), or a shared key's owner (public view)."""

    @classmethod
    def is_api_key_required(cls) -> bool:
        return True

    @classmethod
    def get_http_method(cls) -> HTTPMethod:
        return HTTPMethod.GET

    @classmethod
    def get_api_endpoint_subpath(cls) -> AI_HORDE_API_ENDPOINT_SUBPATH:
        return AI_HORDE_API_ENDPOINT_SUBPATH.v2_find_user

    @classmethod
    def get_default_success_response_type(cls) -> type[UserDetailsResponse]:
        return UserDetailsResponse
