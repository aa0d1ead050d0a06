"""The one failure type the OpenAI clients raise, so callers catch one thing."""

from clinic.errors import ServiceUnavailableError


class OpenAIError(ServiceUnavailableError):
    """OpenAI (or the OpenAI-compatible server) did not give us what we asked for: unreachable,
    timed out, refused the key (`status` 401), rate-limited past our retries (429), or answered
    something we cannot use. `message` names the service, never the key."""

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


def error_detail(response) -> tuple[str, str | None]:
    """OpenAI's error body {"error": {"message", "type", "code"}} → (message, code)."""
    try:
        error = response.json().get("error") or {}
    except ValueError:
        return response.text[:200], None
    if not isinstance(error, dict):
        return str(error)[:200], None
    return str(error.get("message") or "")[:300], error.get("code")
