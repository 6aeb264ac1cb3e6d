"""Bases and mixins shared by every users-API model: configuration, secrets, request plumbing."""

from __future__ import annotations

import re
import time
from collections import deque
from http import HTTPStatus
from itertools import repeat
from string import ascii_letters, digits
from time import time as _now
from typing import Any, ClassVar, NamedTuple, TypeVar, Union, cast, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, RootModel, field_validator
from typing_extensions import Self

from horde_users.endpoints import (
    AI_HORDE_API_ENDPOINT_SUBPATH,
    ANON_API_KEY,
    MAX_USER_ID,
    HTTPMethod,
    default_client_agent,
    resolve_base_url,
)

_ANONYMOUS_MODEL = "_ANONYMOUS_MODEL"
"""The api model name of responses the server's schema does not name (the users list)."""

_API_KEY_ALPHABET = frozenset(ascii_letters + digits + "-_")

RESPONSE_MODEL_CONFIG = ConfigDict(
    frozen=True,
    extra="allow",
    validate_by_name=True,
    validate_by_alias=True,
    from_attributes=True,
)
"""Responses keep unknown keys from newer servers and carry no limits: they take what the server sends.

No ``use_attribute_docstrings``: reading every class's source for its field docstrings was a fifth of
the cost of ``import horde_users.models``. The docstrings stay where editors and the docs read them.
"""

REQUEST_MODEL_CONFIG = ConfigDict(
    frozen=True,
    extra="forbid",
    validate_by_name=True,
    validate_by_alias=True,
    hide_input_in_errors=True,
)
"""Requests refuse unknown fields and never echo their input (an API key) in a validation error."""


class HordeAPIObjectBaseModel(BaseModel):
    """Base of every users-API model: names it as the server's schema does and dumps it without secrets."""

    model_config = RESPONSE_MODEL_CONFIG

    @classmethod
    def get_api_model_name(cls) -> str | None:
        """The model's name in the server's published schema, or None when it has none."""
        return None

    @classmethod
    def get_sensitive_fields(cls) -> set[str]:
        """Fields holding credentials, left out of logs, reprs and `log_safe_model_dump()`."""
        return set()

    def get_extra_fields_to_exclude_from_log(self) -> set[str]:
        """Further fields to leave out of `log_safe_model_dump()`."""
        return set()

    def log_safe_model_dump(self, extra_exclude: set[str] | None = None) -> dict[str, Any]:
        """The model as a dict, without its sensitive fields: safe to log."""
        exclude = self.get_sensitive_fields() | self.get_extra_fields_to_exclude_from_log()
        return self.model_dump(exclude=exclude | (extra_exclude or set()))


_TIME_KEY = "_time_constructed"
_PRIVATE = "__pydantic_private__"
_set = object.__setattr__
_PRIVATE_SLOT = BaseModel.__dict__[_PRIVATE]
_set_private = _PRIVATE_SLOT.__set__
"""Stores ``__pydantic_private__`` in its slot, for about half the cost of ``object.__setattr__``. Not
for a RootModel, whose class attribute hides the slot (there the value goes to the instance's
``__dict__``, as pydantic's own private attributes do)."""


def _private_in_slot(cls: type) -> bool:
    """Whether ``cls``'s ``__pydantic_private__`` is BaseModel's slot (see `_set_private`)."""
    owner = next(klass for klass in cls.__mro__ if _PRIVATE in vars(klass))
    return vars(owner)[_PRIVATE] is _PRIVATE_SLOT


def _stamp(model: BaseModel, when: float) -> None:
    """Record when a response, and the responses a list holds, was built (not a field: no dump sees it).

    One dict is shared by a page and its users: stamping a page costs one attribute store per user.
    """
    stamp = {_TIME_KEY: when}
    _set(model, _PRIVATE, stamp)
    # Not getattr(model, "root", None): on a model without it, pydantic's __getattr__ costs microseconds.
    if isinstance(model, RootModel) and isinstance(model.root, list):
        for child in model.root:
            if isinstance(child, _TimeConstructedMixin):
                _set(child, _PRIVATE, stamp)


class _TimeConstructedMixin:
    """Adds `time_constructed` (kept out of equality and dumps) and compares responses by their data.

    The time is recorded by the response's own constructors and validators, once per parse, and the
    users of a list share their page's time: a pydantic private attribute would instead cost a Python
    call for every nested user, a fifth of the time it takes to parse a page. Called without options,
    the validators go straight to pydantic-core and store the time themselves (a page also stamps its
    users: `_stamp_page`), which costs about what pydantic's own methods spend
    passing their options on: these methods run as fast as pydantic's.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _stamp(cast(BaseModel, self), time.time())

    # pydantic's own marker (RootModel uses it too): nested validation never calls this __init__,
    # which would otherwise cost a Python call per nested user.
    __init__.__pydantic_base_init__ = True  # type: ignore[attr-defined]

    @classmethod
    def model_validate(cls, obj: Any, **options: Any) -> Self:
        if options:
            return _stamped(super().model_validate(obj, **options))  # type: ignore[misc, no-any-return]
        model = cls.__pydantic_validator__.validate_python(obj)  # type: ignore[attr-defined]
        _set_private(model, {_TIME_KEY: _now()})
        return model  # type: ignore[no-any-return]

    @classmethod
    def model_validate_json(cls, json_data: str | bytes | bytearray, **options: Any) -> Self:
        if options:
            return _stamped(super().model_validate_json(json_data, **options))  # type: ignore[misc, no-any-return]
        model = cls.__pydantic_validator__.validate_json(json_data)  # type: ignore[attr-defined]
        _set_private(model, {_TIME_KEY: _now()})
        return model  # type: ignore[no-any-return]

    @classmethod
    def model_validate_strings(cls, *args: Any, **kwargs: Any) -> Self:
        return _stamped(super().model_validate_strings(*args, **kwargs))  # type: ignore[misc, no-any-return]

    @classmethod
    def model_construct(cls, *args: Any, **kwargs: Any) -> Self:
        return _stamped(super().model_construct(*args, **kwargs))  # type: ignore[misc, no-any-return]

    @property
    def time_constructed(self) -> float:
        """When this response was built, in epoch seconds (for one built inside a model of your own:
        when this was first read)."""
        model = cast(BaseModel, self)
        if not model.__pydantic_private__:
            _stamp(model, time.time())
        return cast("dict[str, float]", model.__pydantic_private__)[_TIME_KEY]

    def __eq__(self, other: object) -> bool:
        if type(self) is not type(other) or not isinstance(other, BaseModel):
            return False
        model = cast(BaseModel, self)
        return all(getattr(model, name) == getattr(other, name) for name in type(model).model_fields) and (
            model.__pydantic_extra__ or {}
        ) == (other.__pydantic_extra__ or {})

    __hash__ = None  # type: ignore[assignment]


_M = TypeVar("_M", bound=BaseModel)


def _stamped(model: _M) -> _M:
    _stamp(model, time.time())
    return model


class HordeResponseBaseModel(_TimeConstructedMixin, HordeAPIObjectBaseModel):
    """Base of object responses; equal data compares equal, whenever it was parsed."""


T = TypeVar("T")


_R = TypeVar("_R", bound=RootModel[Any])


def _stamp_page(model: _R, stamps_items: bool) -> _R:
    """`_stamp` for a root model just validated; ``stamps_items``: its root is a list of responses whose
    ``__pydantic_private__`` is BaseModel's slot (`HordeResponseRootModel._stamps_items`)."""
    if not stamps_items:
        _stamp(model, _now())
        return model
    stamp = {_TIME_KEY: _now()}
    _set(model, _PRIVATE, stamp)
    deque(map(_set_private, model.root, repeat(stamp)), 0)  # a loop in C: no bytecode runs per user
    return model


class HordeResponseRootModel(_TimeConstructedMixin, RootModel[T]):
    """Base of responses that are not objects (the users list is a JSON array)."""

    model_config = ConfigDict(frozen=True)

    _stamps_items: ClassVar[bool] = False
    """Whether the root is a list of responses, which share the list's time (set per class)."""

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        root = cls.model_fields["root"].annotation
        item = get_args(root)[0] if get_origin(root) is list else None
        cls._stamps_items = (
            isinstance(item, type) and issubclass(item, _TimeConstructedMixin) and _private_in_slot(item)
        )

    @classmethod
    def model_validate(cls, obj: Any, **options: Any) -> Self:
        if options:
            return _stamped(super().model_validate(obj, **options))
        model: Self = cls.__pydantic_validator__.validate_python(obj)
        return _stamp_page(model, cls._stamps_items)

    @classmethod
    def model_validate_json(cls, json_data: str | bytes | bytearray, **options: Any) -> Self:
        if options:
            return _stamped(super().model_validate_json(json_data, **options))
        model: Self = cls.__pydantic_validator__.validate_json(json_data)
        return _stamp_page(model, cls._stamps_items)

    @classmethod
    def get_api_model_name(cls) -> str | None:
        """The model's name in the server's published schema, or None when it has none."""
        return None

    @classmethod
    def get_sensitive_fields(cls) -> set[str]:
        """Fields holding credentials (none at this level)."""
        return set()

    def get_extra_fields_to_exclude_from_log(self) -> set[str]:
        """Further fields to leave out of `log_safe_model_dump()`."""
        return set()


HordeResponseTypes = Union[HordeResponseBaseModel, HordeResponseRootModel[Any]]  # noqa: UP007 (a runtime alias on 3.10)
"""Any response model."""


class ContainsMessageResponseMixin(BaseModel):
    """A response whose body carries a `message`."""

    message: str = ""
    """The server's message."""


class HordeHTTPRequest(NamedTuple):
    """Everything an HTTP library needs to send one request; no I/O happens here."""

    method: str
    url: str
    query: dict[str, str]
    headers: dict[str, str]
    json_body: dict[str, Any] | None


_BASE_REQUEST_FIELDS = frozenset({"accept", "client_agent", "apikey", "user_id"})


class BaseAIHordeRequest(HordeAPIObjectBaseModel):
    """Base of every request: knows its method, path, query, headers, body and success responses."""

    model_config = REQUEST_MODEL_CONFIG

    accept: str = "application/json"
    """The `Accept` header: the users API answers JSON."""
    client_agent: str = Field(default=default_client_agent(), alias="Client-Agent")
    """Who is asking, as `name:version:contact`; sent as the `Client-Agent` header."""

    @classmethod
    def get_http_method(cls) -> HTTPMethod:
        """The HTTP method (verb) of this request."""
        raise NotImplementedError

    @classmethod
    def get_api_endpoint_subpath(cls) -> AI_HORDE_API_ENDPOINT_SUBPATH:
        """The path template below the base URL, e.g. `/v2/users/{user_id}`."""
        raise NotImplementedError

    @classmethod
    def get_default_success_response_type(cls) -> type[HordeResponseTypes]:
        """The response model of the ordinary success."""
        raise NotImplementedError

    @classmethod
    def get_sensitive_fields(cls) -> set[str]:
        """Fields holding credentials: the API key."""
        return {"apikey"}

    @classmethod
    def get_api_url(cls, base_url: str | None = None) -> str:
        """The base URL: the argument, else `AI_HORDE_URL` (read now), else the public server."""
        return resolve_base_url(base_url)

    @classmethod
    def get_api_endpoint_url(cls, base_url: str | None = None) -> str:
        """The full URL template of this endpoint (path fields still in braces)."""
        return cls.get_api_url(base_url) + cls.get_api_endpoint_subpath().value

    @classmethod
    def get_success_status_response_pairs(cls) -> dict[HTTPStatus, type[HordeResponseTypes]]:
        """Which response model each success status maps to."""
        return {HTTPStatus.OK: cls.get_default_success_response_type()}

    @classmethod
    def get_header_fields(cls) -> list[str]:
        """Fields specific to this request sent as headers (`apikey`, `Client-Agent`, `Accept` always are)."""
        return []

    @classmethod
    def get_query_fields(cls) -> list[str]:
        """Fields sent as query parameters."""
        return []

    @classmethod
    def is_api_key_required(cls) -> bool:
        """Whether the endpoint needs an API key (the anonymous key is used when none is given)."""
        return False

    def get_number_of_results_expected(self) -> int:
        """How many results this request produces."""
        return 1

    def get_requires_follow_up(self) -> bool:
        """Whether another request must close this one (never, for the users API)."""
        return False

    def _body_fields(self) -> list[str]:
        excluded = _BASE_REQUEST_FIELDS | set(self.get_query_fields()) | set(self.get_header_fields())
        return [name for name in type(self).model_fields if name not in excluded]

    def build_http_request(self, base_url: str | None = None) -> HordeHTTPRequest:
        """Turn this request into method, URL, query, headers and JSON body, ready for any HTTP client."""
        path = self.get_api_endpoint_subpath().value.format(user_id=getattr(self, "user_id", ""))
        query = {name: str(getattr(self, name)) for name in self.get_query_fields()}
        headers = {"Accept": self.accept, "Client-Agent": self.client_agent}
        apikey = getattr(self, "apikey", None)
        if apikey is not None:
            headers["apikey"] = apikey
        for name in self.get_header_fields():
            value = getattr(self, name)
            if value is not None:
                field = type(self).model_fields[name]
                headers[field.alias or name] = str(value)
        json_body: dict[str, Any] | None = None
        if self.get_api_model_name() is not None:
            json_body = self.model_dump(include=set(self._body_fields()), exclude_none=True, by_alias=True)
        return HordeHTTPRequest(
            method=self.get_http_method().value,
            url=self.get_api_url(base_url) + path,
            query=query,
            headers=headers,
            json_body=json_body,
        )


_SHARED_KEY = re.compile(
    r"[0-9a-fA-F]{32}|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
)

API_KEY_FORMAT = "the anonymous key, a 22-character key (A-Z a-z 0-9 - _) or a shared key (UUID)"
"""What a valid API key looks like, in words (for messages that must not show the key itself)."""


def is_shared_key(key: str) -> bool:
    """Whether ``key`` is a shared key (a UUID, hyphenated or not) rather than an API key.

    Only plain hex digits (and the four hyphens) count: ``uuid.UUID`` would also take braces, ``0x``,
    underscores and surrounding blanks, none of which may travel in a header.
    """
    return _SHARED_KEY.fullmatch(key) is not None


def is_valid_api_key(key: str) -> bool:
    """Whether ``key`` has the form of a key the server knows: see ``API_KEY_FORMAT``."""
    return key == ANON_API_KEY or (len(key) == 22 and _API_KEY_ALPHABET.issuperset(key)) or is_shared_key(key)


class APIKeyAllowedInRequestMixin(BaseModel):
    """A request that sends an API key: the anonymous key, a 22-character key or a shared key (UUID)."""

    apikey: str | None = Field(default=None, repr=False, validate_default=True)
    """The API key sent in the `apikey` header; never shown in reprs, logs or errors."""

    @classmethod
    def is_api_key_required(cls) -> bool:
        """Whether the endpoint needs an API key (the anonymous key is used when none is given)."""
        return True

    @field_validator("apikey", mode="before")
    @classmethod
    def validate_api_key_length(cls, value: object) -> str | None:
        """Accept the anonymous key, 22-character API keys and UUID shared keys; never echo the value."""
        if value is None:
            return ANON_API_KEY if cls.is_api_key_required() else None
        if not isinstance(value, str):
            raise ValueError("the API key must be a string")
        if is_valid_api_key(value):
            return value
        raise ValueError(f"the API key must be {API_KEY_FORMAT}")


class MessageSpecifiesUserIDMixin(BaseModel):
    """A request about one user, named by numeric id in the path."""

    user_id: str
    """The user's numeric id (`3`, not `alice#3`), from 0 to 2147483647, as a string of digits."""

    ID_RANGE: ClassVar[tuple[int, int]] = (0, MAX_USER_ID)

    @field_validator("user_id", mode="before")
    @classmethod
    def user_id_is_numeric(cls, value: object) -> str:
        """Accept an int or a string of ASCII digits within range; normalise to `str(int(value))`."""
        if isinstance(value, bool):
            raise ValueError("user_id must be a number, not a boolean")
        if isinstance(value, int):
            number = value
        elif isinstance(value, str) and value.isascii() and value.isdigit():
            number = int(value)
        else:
            raise ValueError("user_id must be the numeric id only (the 1 in 'db0#1'): ASCII digits")
        low, high = cls.ID_RANGE
        if not low <= number <= high:
            raise ValueError(f"user_id must be between {low} and {high}")
        return str(number)
