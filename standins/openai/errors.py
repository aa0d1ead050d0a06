"""OpenAI's error shapes: the HTTP body `{"error": {message, type, param, code}}` and the
Realtime API's `error` event (types/realtime/realtime_error_event.py)."""

import secrets

from aiohttp import web


def error_body(
    message: str,
    *,
    type: str = "invalid_request_error",
    param: str | None = None,
    code: str | None = None,
) -> dict:
    return {"error": {"message": message, "type": type, "param": param, "code": code}}


def http_error(status: int, message: str, **fields) -> web.Response:
    return web.json_response(error_body(message, **fields), status=status)


def event_id() -> str:
    return f"event_{secrets.token_hex(10)}"


def error_event(
    message: str,
    *,
    type: str = "invalid_request_error",
    code: str | None = None,
    param: str | None = None,
    client_event_id: str | None = None,
) -> dict:
    return {
        "type": "error",
        "event_id": event_id(),
        "error": {
            "type": type,
            "code": code,
            "message": message,
            "param": param,
            "event_id": client_event_id,
        },
    }


MISSING_KEY_MESSAGE = (
    "You didn't provide an API key. You need to provide your API key in an Authorization header "
    "using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
)


def masked(key: str) -> str:
    """As OpenAI quotes a wrong key back: its ends only."""
    if len(key) <= 8:
        return "*" * len(key)
    return f"{key[:3]}{'*' * (len(key) - 7)}{key[-4:]}"


def auth_failure(authorization: str | None, api_key: str) -> dict | None:
    """The error body for a request whose Authorization header does not carry the key, or None.

    OpenAI takes the key from `Authorization: Bearer <key>` only."""
    if not authorization:
        return error_body(MISSING_KEY_MESSAGE)
    scheme, _, presented = authorization.partition(" ")
    presented = presented.strip()
    if scheme.lower() != "bearer" or not presented:
        return error_body(MISSING_KEY_MESSAGE)
    if not secrets.compare_digest(presented.encode(), api_key.encode()):
        return error_body(
            f"Incorrect API key provided: {masked(presented)}. You can find your API key at "
            "https://platform.openai.com/account/api-keys.",
            code="invalid_api_key",
        )
    return None
