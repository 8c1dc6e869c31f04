"""What can go wrong asking the Data API, typed by what the caller must do about it.

An error's text never carries the access token: the API's own message and its `data.value`
("what the user passed, unchanged") may quote it, so only the code and mnemonic are kept."""

from dataclasses import dataclass, field

from uis_data_api.limits import Limits


class DataApiError(Exception):
    """Base: `permanent` says whether asking again later can help without a person."""

    permanent = False


@dataclass
class ApiError(DataApiError):
    """A JSON-RPC error object: its code and mnemonic (never its message or value)."""

    code: int
    mnemonic: str
    limits: Limits | None = field(default=None, compare=False)

    def __str__(self) -> str:
        return f"Data API error {self.code} {self.mnemonic}".strip()


class TokenRefused(ApiError):
    """-32001 (access_token_invalid, _expired, _blocked, auth_error): a person must set a new token."""

    permanent = True


class Forbidden(ApiError):
    """-32003 (ip_not_whitelisted, forbidden) or -32009 (account_inactive): a person must fix
    UIS's settings (the portal's address in the API whitelist, the user's rights)."""

    permanent = True


class LimitExceeded(ApiError):
    """-32029 limit_exceeded: the day's or the minute's allowance is spent; later may work."""


class Unavailable(DataApiError):
    """No JSON-RPC answer: a network error, a timeout, an HTTP error page, a body that is not ours."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Refused(DataApiError):
    """The outbound guard refused the URL (host not allowed, http, a private address)."""

    permanent = True

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


TOKEN_CODES = frozenset({-32001})
FORBIDDEN_CODES = frozenset({-32003, -32009})
LIMIT_CODES = frozenset({-32029})


def from_error_object(error: object, limits: Limits | None = None) -> ApiError:
    """The typed error for a JSON-RPC `error` member (with the answer's limits, when it had them)."""
    code, mnemonic = 0, ""
    if isinstance(error, dict):
        raw_code = error.get("code")
        code = raw_code if isinstance(raw_code, int) and not isinstance(raw_code, bool) else 0
        data = error.get("data")
        if isinstance(data, dict) and isinstance(data.get("mnemonic"), str):
            # A mnemonic is a short snake_case code; anything else is not kept (it could be a quote).
            candidate = data["mnemonic"][:64]
            mnemonic = candidate if candidate.replace("_", "").isalnum() else ""
    if code in TOKEN_CODES:
        return TokenRefused(code=code, mnemonic=mnemonic, limits=limits)
    if code in FORBIDDEN_CODES:
        return Forbidden(code=code, mnemonic=mnemonic, limits=limits)
    if code in LIMIT_CODES or mnemonic == "limit_exceeded":
        return LimitExceeded(code=code, mnemonic=mnemonic, limits=limits)
    return ApiError(code=code, mnemonic=mnemonic, limits=limits)
