"""The SFU's HTTP API on aiohttp: Calls's paths under /v1, its auth, bodies and error codes.

Every request body is validated against the Calls schemas (schema.py) before the engine sees it
(a body that does not match is a 400 `decoding_error`, as in Calls), and every response body is
validated before it leaves, so the stand-in cannot drift from the contract unnoticed.
"""

import hmac
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiohttp import web

from standins.calls_sfu.core import SFU, Session
from standins.calls_sfu.errors import (
    DECODING_ERROR,
    INTERNAL_ERROR,
    INVALID_PARAMS,
    NOT_FOUND,
    NOT_IMPLEMENTED,
    PAYLOAD_TOO_LARGE,
    UNAUTHORIZED,
    ApiError,
)
from standins.calls_sfu.schema import CallsSchemaError, validate

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 1024 * 1024


@dataclass
class ApiSettings:
    apps: dict[str, str]  # app id -> app secret
    turn_keys: dict[str, str]  # TURN key id -> its API token
    ice_urls: list[str] = field(default_factory=list)  # what generate-ice-servers hands out


SFU_KEY = web.AppKey("sfu", SFU)
SETTINGS_KEY = web.AppKey("settings", ApiSettings)


def _reply(schema: str, body: dict, status: int = 200) -> web.Response:
    try:
        validate(schema, body)
    except CallsSchemaError:
        logger.exception("The SFU produced a body that breaks its own schema")
        raise
    return web.json_response(body, status=status, headers={"Vary": "Origin"})


def _error(status: int, code: str, description: str) -> web.Response:
    return _reply("ErrorResponse", {"errorCode": code, "errorDescription": description}, status)


@web.middleware
async def _errors(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as error:
        return _error(error.status, error.code, error.description)
    except web.HTTPRequestEntityTooLarge:
        return _error(413, PAYLOAD_TOO_LARGE, f"The body exceeds {MAX_BODY_BYTES} bytes.")
    except web.HTTPNotFound:
        return _error(404, NOT_FOUND, f"No such endpoint: {request.method} {request.path}")
    except web.HTTPMethodNotAllowed:
        return _error(405, INVALID_PARAMS, f"{request.method} is not allowed on {request.path}")
    except web.HTTPException as error:
        return _error(error.status, INVALID_PARAMS, error.reason)
    except CallsSchemaError as error:  # a bug here: say so rather than break the contract
        return _error(500, INTERNAL_ERROR, f"The SFU's response broke its schema: {error}")
    except Exception:
        logger.exception("SFU request failed: %s %s", request.method, request.path)
        return _error(500, INTERNAL_ERROR, "Backend error")


def _bearer(request: web.Request) -> str:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, UNAUTHORIZED, "Send the secret as 'Authorization: Bearer <secret>'.")
    return token.strip()


def _check_secret(given: str, expected: str) -> None:
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise ApiError(401, UNAUTHORIZED, "The secret was not accepted.")


def _authorize_app(request: web.Request) -> str:
    token = _bearer(request)
    app_id = request.match_info["appId"]
    secret = request.app[SETTINGS_KEY].apps.get(app_id)
    if secret is None:
        raise ApiError(404, NOT_FOUND, f"App {app_id} was not found.")
    _check_secret(token, secret)
    return app_id


async def _body(request: web.Request, schema: str, *, optional: bool = False) -> dict | None:
    raw = await request.read()
    if not raw.strip():
        if optional:
            return None
        raise ApiError(400, DECODING_ERROR, "The request has no JSON body.")
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, ValueError) as error:
        raise ApiError(400, DECODING_ERROR, f"The request is not valid JSON: {error}") from None
    try:
        validate(schema, body)
    except CallsSchemaError as error:
        raise ApiError(400, DECODING_ERROR, str(error)) from None
    return body


def _session(request: web.Request) -> Session:
    app_id = _authorize_app(request)
    return request.app[SFU_KEY].session(app_id, request.match_info["sessionId"])


def _flag(request: web.Request, name: str) -> bool:
    value = request.query.get(name, "false").lower()
    if value not in ("true", "false", "1", "0", ""):
        raise ApiError(400, DECODING_ERROR, f"Query parameter {name} must be true or false.")
    return value in ("true", "1")


async def new_session(request: web.Request) -> web.Response:
    app_id = _authorize_app(request)
    body = await _body(request, "NewSessionRequest", optional=True)
    result = await request.app[SFU_KEY].new_session(
        app_id,
        body,
        thirdparty=_flag(request, "thirdparty"),
        correlation_id=request.query.get("correlationId"),
    )
    return _reply("NewSessionResponse", result, 201)


async def tracks_new(request: web.Request) -> web.Response:
    session = _session(request)
    body = await _body(request, "TracksRequest")
    return _reply("TracksResponse", await request.app[SFU_KEY].tracks_new(session, body))


async def renegotiate(request: web.Request) -> web.Response:
    session = _session(request)
    body = await _body(request, "RenegotiateRequest")
    return _reply("RenegotiateResponse", await request.app[SFU_KEY].renegotiate(session, body))


async def tracks_close(request: web.Request) -> web.Response:
    session = _session(request)
    body = await _body(request, "CloseTracksRequest")
    return _reply("CloseTracksResponse", await request.app[SFU_KEY].tracks_close(session, body))


async def tracks_update(request: web.Request) -> web.Response:
    session = _session(request)
    body = await _body(request, "UpdateTracksRequest")
    return _reply("UpdateTracksResponse", await request.app[SFU_KEY].tracks_update(session, body))


async def session_state(request: web.Request) -> web.Response:
    session = _session(request)
    return _reply("GetSessionStateResponse", request.app[SFU_KEY].state(session))


async def not_offered(request: web.Request) -> web.Response:
    _authorize_app(request)
    raise ApiError(
        501, NOT_IMPLEMENTED, "The local SFU offers media tracks only (no data channels/adapters)."
    )


async def generate_ice_servers(request: web.Request) -> web.Response:
    token = _bearer(request)
    key_id = request.match_info["keyId"]
    settings: ApiSettings = request.app[SETTINGS_KEY]
    expected = settings.turn_keys.get(key_id)
    if expected is None:
        raise ApiError(404, NOT_FOUND, f"TURN key {key_id} was not found.")
    _check_secret(token, expected)
    await _body(request, "TurnCredentialsRequest")
    servers = [{"urls": list(settings.ice_urls)}] if settings.ice_urls else []
    return _reply("TurnCredentialsResponse", {"iceServers": servers}, 201)


def create_app(sfu: SFU, settings: ApiSettings) -> web.Application:
    app = web.Application(middlewares=[_errors], client_max_size=MAX_BODY_BYTES)
    app[SFU_KEY] = sfu
    app[SETTINGS_KEY] = settings
    session = "/v1/apps/{appId}/sessions/{sessionId}"
    app.router.add_post("/v1/apps/{appId}/sessions/new", new_session)
    app.router.add_post(f"{session}/tracks/new", tracks_new)
    app.router.add_put(f"{session}/renegotiate", renegotiate)
    app.router.add_put(f"{session}/tracks/close", tracks_close)
    app.router.add_put(f"{session}/tracks/update", tracks_update)
    app.router.add_get(session, session_state)
    app.router.add_route("*", f"{session}/datachannels/{{operation}}", not_offered)
    app.router.add_route("*", "/v1/apps/{appId}/adapters/websocket/{operation}", not_offered)
    app.router.add_post(
        "/v1/turn/keys/{keyId}/credentials/generate-ice-servers", generate_ice_servers
    )
    return app
