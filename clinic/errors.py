"""The application's one error type. Services raise it; the API and the views translate it."""

from typing import Any


class ApplicationError(Exception):
    """A business rule said no. `message` is safe to show to the person who asked."""

    status_code = 400
    code = "invalid"

    def __init__(self, message: str, extra: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.extra = extra or {}


class ConflictError(ApplicationError):
    """The request was fine but the state says no (a slot taken, a visit already closed)."""

    status_code = 409
    code = "conflict"
