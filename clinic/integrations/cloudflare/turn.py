"""The ICE servers a browser gets: short-lived Cloudflare TURN credentials when a TURN key is
configured (fetched server-side, cached below their lifetime), else the configured STUN list."""

import logging

import requests
from django.conf import settings
from django.core.cache import cache

from clinic.integrations.cloudflare.calls_client import CallsUnavailableError

logger = logging.getLogger(__name__)
CACHE_KEY = "rooms:turn-ice-servers"

_http: requests.Session | None = None


def _session() -> requests.Session:
    """The process's pooled HTTP session for TURN (the Calls client keeps its own)."""
    global _http
    if _http is None:
        _http = requests.Session()
    return _http


def _configured_stun() -> list[dict]:
    return [{"urls": list(settings.ICE_SERVERS)}] if settings.ICE_SERVERS else []


def _fetch_turn(ttl: int) -> list[dict]:
    url = (
        f"{settings.CALLS_API_URL.rstrip('/')}/turn/keys/{settings.TURN_KEY_ID}"
        "/credentials/generate-ice-servers"
    )
    try:
        response = _session().post(
            url,
            json={"ttl": ttl},
            headers={"Authorization": f"Bearer {settings.TURN_KEY_API_TOKEN}"},
            timeout=(settings.CALLS_CONNECT_TIMEOUT_SECONDS, settings.CALLS_READ_TIMEOUT_SECONDS),
        )
    except requests.RequestException as error:
        raise CallsUnavailableError("unreachable", f"TURN credentials: {error}") from None
    if response.status_code not in (200, 201):
        raise CallsUnavailableError(
            f"http_{response.status_code}", "TURN credentials could not be generated."
        )
    servers = response.json().get("iceServers")
    if not isinstance(servers, list):
        raise CallsUnavailableError("invalid_response", "TURN answer had no iceServers list.")
    return servers


def ice_servers() -> list[dict]:
    """One `iceServers` list for RTCPeerConnection, whichever way the clinic is set up."""
    if not (settings.TURN_KEY_ID and settings.TURN_KEY_API_TOKEN):
        return _configured_stun()
    cached = cache.get(CACHE_KEY)
    if cached is not None:
        return cached
    ttl = settings.TURN_CREDENTIAL_TTL_SECONDS
    try:
        servers = _fetch_turn(ttl)
    except CallsUnavailableError:
        # Better a call that may not cross every NAT than no call at all.
        logger.exception("TURN credentials unavailable; handing out STUN only")
        return _configured_stun()
    # Hand out credentials with at least half their lifetime left.
    cache.set(CACHE_KEY, servers, timeout=ttl // 2)
    return servers
