"""The application's one error type. Services raise it; the API and the views translate it."""


class ApplicationError(Exception):
    """A business rule said no. `message` is safe to show to the person who asked.

    `field` names the input at fault, when there is one, so an API can answer with DRF's
    field-error shape ({"start": ["..."]}) instead of {"detail": "..."}.
    """

    status_code = 400

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class ConflictError(ApplicationError):
    """The request was fine but the state says no (a slot taken, a visit already closed)."""

    status_code = 409


class PermissionDeniedError(ApplicationError):
    """The caller may see the thing but may not do this to it."""

    status_code = 403


class ServiceUnavailableError(ApplicationError):
    """A service we depend on failed; not the caller's fault, and worth trying again."""

    status_code = 503


class NotFoundError(ApplicationError):
    """Absent, or not the caller's to see: the two are deliberately indistinguishable."""

    status_code = 404
