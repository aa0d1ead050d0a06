"""Errors the SFU's API answers with: Calls's `{errorCode, errorDescription}` body and status."""

# Codes and statuses as Cloudflare documents them (Realtime SFU "Error codes" page and the
# OpenAPI document): request-level codes first, then per-item ones.
UNAUTHORIZED = "unauthorized"  # 401: the bearer secret was not accepted
NOT_FOUND = "not_found"  # 404: the app (or TURN key) was not found
DECODING_ERROR = "decoding_error"  # 400: JSON or field types could not be decoded
INVALID_PARAMS = "invalid_params"  # 406: a value or combination is invalid
PAYLOAD_TOO_LARGE = "payload_too_large"  # 413
SESSION_ERROR = "session_error"  # 410: unknown/closed session; 425: not connected yet
INVALID_SESSION_DESCRIPTION = "invalid_session_description"  # 406: bad SDP or offer/answer order
INTERNAL_ERROR = "internal_error"  # 500
# Per-track (inside a 200):
NOT_FOUND_TRACK_ERROR = "not_found_track_error"
EMPTY_TRACK_ERROR = "empty_track_error"
REPEATED_LOCAL_TRACK_ERROR = "repeated_local_track_error"
UPDATE_TRACK_ERROR = "update_track_error"
CLOSE_TRACK_ERROR = "close_track_error"
# Not a Cloudflare code: endpoints this stand-in does not offer (data channels, adapters).
NOT_IMPLEMENTED = "not_implemented"  # 501


class ApiError(Exception):
    """Answer the whole request with `status` and the Calls error body."""

    def __init__(self, status: int, code: str, description: str) -> None:
        super().__init__(f"{status} {code}: {description}")
        self.status = status
        self.code = code
        self.description = description

    def body(self) -> dict[str, str]:
        return {"errorCode": self.code, "errorDescription": self.description}


def item_error(item: dict, code: str, description: str) -> dict:
    """One failed item of a batch: the request's identifying fields plus the error."""
    kept = {k: item[k] for k in ("location", "mid", "sessionId", "trackName") if k in item}
    return {**kept, "errorCode": code, "errorDescription": description}
