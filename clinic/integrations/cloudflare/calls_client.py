"""Client for the Cloudflare Calls (Realtime SFU) HTTP API; the only code that talks to it.

The app secret travels only from here to Calls, as a bearer token; nothing it returns is handed
to a browser unread. See docs/cloudflare-calls.md and Cloudflare's OpenAPI
document for the contract.
"""

import logging
import os
import time
from dataclasses import dataclass, field
from typing import Any

import requests
import urllib3
from django.conf import settings

logger = logging.getLogger(__name__)

# Calls' own limit of tracks per request (tracks/new, tracks/close, tracks/update).
MAX_TRACKS_PER_CALL = 64


class CallsError(Exception):
    """Calls refused a request, or one track of it (`errorCode` / `errorDescription`)."""

    def __init__(self, code: str, description: str, status: int | None = None) -> None:
        super().__init__(f"{code}: {description}")
        self.code = code
        self.description = description
        self.status = status


class CallsConfigurationError(CallsError):
    """Our side is misconfigured (a wrong app id or secret): not the user's fault."""


class CallsUnavailableError(CallsError):
    """Calls could not be reached or kept failing (network, timeouts, 5xx)."""


@dataclass(frozen=True)
class SessionDescription:
    type: str  # "offer" | "answer"
    sdp: str

    def as_json(self) -> dict[str, str]:
        return {"type": self.type, "sdp": self.sdp}

    @classmethod
    def from_json(cls, data: dict | None) -> "SessionDescription | None":
        return cls(type=data["type"], sdp=data["sdp"]) if data else None


@dataclass(frozen=True)
class TrackResult:
    track_name: str | None
    mid: str | None
    session_id: str | None
    location: str | None
    error: CallsError | None
    raw: dict[str, Any] = field(repr=False, default_factory=dict)

    @classmethod
    def from_json(cls, data: dict) -> "TrackResult":
        error = None
        if data.get("errorCode"):
            error = CallsError(data["errorCode"], data.get("errorDescription", ""))
        return cls(
            track_name=data.get("trackName"),
            mid=data.get("mid"),
            session_id=data.get("sessionId"),
            location=data.get("location"),
            error=error,
            raw=data,
        )


@dataclass(frozen=True)
class NewSessionResult:
    session_id: str
    session_description: SessionDescription | None
    raw: dict[str, Any] = field(repr=False)


@dataclass(frozen=True)
class TracksResult:
    requires_immediate_renegotiation: bool
    session_description: SessionDescription | None
    tracks: list[TrackResult]
    raw: dict[str, Any] = field(repr=False)

    @property
    def errors(self) -> list[CallsError]:
        return [track.error for track in self.tracks if track.error]


@dataclass(frozen=True)
class SessionState:
    tracks: list[dict[str, Any]]
    data_channels: list[dict[str, Any]]
    raw: dict[str, Any] = field(repr=False)


def _tracks_result(body: dict) -> TracksResult:
    return TracksResult(
        requires_immediate_renegotiation=bool(body.get("requiresImmediateRenegotiation")),
        session_description=SessionDescription.from_json(body.get("sessionDescription")),
        tracks=[TrackResult.from_json(track) for track in body.get("tracks") or []],
        raw=body,
    )


class CallsClient:
    """One pooled HTTP session per process; every call has a timeout; only calls that are safe
    to repeat are retried after network errors and 5xx, with backoff and a bounded count."""

    def __init__(
        self,
        *,
        base_url: str,
        app_id: str,
        app_secret: str,
        timeout: tuple[float, float] = (3.05, 10.0),
        attempts: int = 3,
        backoff_seconds: float = 0.2,
        session: requests.Session | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.app_id = app_id
        self._secret = app_secret
        self.timeout = timeout
        self.attempts = attempts
        self.backoff_seconds = backoff_seconds
        self.http = session or _pooled_session(self.base_url)

    def __repr__(self) -> str:  # never the secret, even in a traceback
        return f"CallsClient(base_url={self.base_url!r}, app_id={self.app_id!r})"

    # --- The API ------------------------------------------------------------------------------

    def new_session(
        self, *, thirdparty: bool = False, offer: SessionDescription | None = None
    ) -> NewSessionResult:
        params = {"thirdparty": "true"} if thirdparty else None
        body = {"sessionDescription": offer.as_json()} if offer else None
        data = self._call("POST", "sessions/new", json=body, params=params, idempotent=False)
        if not data.get("sessionId"):
            raise CallsError("invalid_response", "Calls returned no sessionId.")
        return NewSessionResult(
            session_id=data["sessionId"],
            session_description=SessionDescription.from_json(data.get("sessionDescription")),
            raw=data,
        )

    def new_tracks(
        self,
        session_id: str,
        tracks: list[dict[str, Any]],
        offer: SessionDescription | None = None,
        *,
        auto_discover: bool = False,
    ) -> TracksResult:
        body: dict[str, Any] = {"tracks": tracks}
        if offer:
            body["sessionDescription"] = offer.as_json()
        if auto_discover:
            body["autoDiscover"] = True
        data = self._call("POST", f"sessions/{session_id}/tracks/new", json=body, idempotent=False)
        return _tracks_result(data)

    def renegotiate(self, session_id: str, answer: SessionDescription) -> TracksResult:
        data = self._call(
            "PUT",
            f"sessions/{session_id}/renegotiate",
            json={"sessionDescription": answer.as_json()},
            idempotent=False,
        )
        return _tracks_result(data)

    def close_tracks(
        self,
        session_id: str,
        mids: list[str],
        offer: SessionDescription | None = None,
        *,
        force: bool = False,
    ) -> TracksResult:
        body: dict[str, Any] = {"tracks": [{"mid": mid} for mid in mids], "force": force}
        if offer:
            body["sessionDescription"] = offer.as_json()
        # Without SDP a close names its final state, so repeating it is harmless.
        data = self._call(
            "PUT", f"sessions/{session_id}/tracks/close", json=body, idempotent=offer is None
        )
        return _tracks_result(data)

    def update_tracks(self, session_id: str, tracks: list[dict[str, Any]]) -> TracksResult:
        data = self._call(
            "PUT", f"sessions/{session_id}/tracks/update", json={"tracks": tracks}, idempotent=True
        )
        return _tracks_result(data)

    def session_state(self, session_id: str) -> SessionState:
        data = self._call("GET", f"sessions/{session_id}", idempotent=True)
        return SessionState(
            tracks=data.get("tracks") or [],
            data_channels=data.get("dataChannels") or [],
            raw=data,
        )

    # --- Transport ----------------------------------------------------------------------------

    def _call(
        self,
        method: str,
        path: str,
        *,
        idempotent: bool,
        json: dict | None = None,
        params: dict | None = None,
    ) -> dict:
        url = f"{self.base_url}/apps/{self.app_id}/{path}"
        headers = {"Authorization": f"Bearer {self._secret}"}
        for attempt in range(1, self.attempts + 1):
            retry_after = self.backoff_seconds * 2 ** (attempt - 1)
            try:
                response = self.http.request(
                    method, url, json=json, params=params, headers=headers, timeout=self.timeout
                )
            except (requests.ConnectionError, requests.Timeout) as error:
                # A request that never left (refused, connect timeout) may be repeated for any
                # call; one that may have reached Calls only if repeating it is harmless.
                never_sent = isinstance(error, requests.ConnectTimeout) or _refused(error)
                if attempt < self.attempts and (idempotent or never_sent):
                    logger.warning("Calls %s %s failed (%s); retrying", method, path, error)
                    time.sleep(retry_after)
                    continue
                code = "timeout" if isinstance(error, requests.Timeout) else "unreachable"
                raise CallsUnavailableError(code, f"Calls did not answer: {error}") from None
            if response.status_code >= 500 and attempt < self.attempts and idempotent:
                logger.warning("Calls %s %s: %s; retrying", method, path, response.status_code)
                time.sleep(retry_after)
                continue
            return self._body(response)
        raise AssertionError("unreachable")  # the loop returns or raises

    @staticmethod
    def _body(response: requests.Response) -> dict:
        try:
            data = response.json()
        except ValueError:
            data = {}
        if not isinstance(data, dict):
            data = {}
        status = response.status_code
        if status == 401:
            raise CallsConfigurationError(
                "unauthorized",
                "Calls rejected our app credentials: check CALLS_APP_ID and CALLS_APP_SECRET.",
                status,
            )
        if status >= 500:
            raise CallsUnavailableError(
                data.get("errorCode", f"http_{status}"),
                data.get("errorDescription", "Calls failed."),
                status,
            )
        if status >= 400 or data.get("errorCode"):
            raise CallsError(
                data.get("errorCode", f"http_{status}"),
                data.get("errorDescription", f"Calls answered {status}."),
                status,
            )
        return data


def _pooled_session(base_url: str) -> requests.Session:
    """A keep-alive session with the environment read once. With trust_env, requests reads the
    proxy and CA-bundle variables and ~/.netrc again on every request; a running server's
    environment does not change. (A ~/.netrc entry for the Calls host would even replace our
    Authorization header: it is not read.)"""
    http = requests.Session()
    http.proxies = requests.utils.get_environ_proxies(base_url)  # {} when NO_PROXY covers it
    http.verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
    http.trust_env = False
    return http


def _refused(error: Exception) -> bool:
    """The connection itself failed (refused, no route, DNS): the request never left."""
    reason = getattr(error.args[0], "reason", None) if error.args else None
    return isinstance(error, requests.ConnectionError) and isinstance(
        reason, urllib3.exceptions.NewConnectionError
    )


_client: CallsClient | None = None


def get_calls_client() -> CallsClient:
    """The process's client (one pooled session), from settings."""
    global _client
    wanted = (settings.CALLS_API_URL.rstrip("/"), settings.CALLS_APP_ID)
    if _client is None or (_client.base_url, _client.app_id) != wanted:
        _client = CallsClient(
            base_url=settings.CALLS_API_URL,
            app_id=settings.CALLS_APP_ID,
            app_secret=settings.CALLS_APP_SECRET,
            timeout=(settings.CALLS_CONNECT_TIMEOUT_SECONDS, settings.CALLS_READ_TIMEOUT_SECONDS),
        )
    return _client
