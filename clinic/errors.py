"""The application's one error type and its kinds. Services and selectors raise them; each
surface translates a kind in one place: the API's exception handler (clinic.exception_handler)
by `status_code`, the room WebSocket by its close-code table (rooms.consumers), the portal's
views to Django's 404/403. A surface never infers one code from another's."""


class ApplicationError(Exception):
    """A business rule said no. `message` is safe to show to the person who asked.

    `field` names the input at fault, when there is one, so an API can answer with DRF's
    field-error shape ({"start": ["..."]}) instead of {"detail": "..."}. `code`, when given,
    is a stable word for a client to tell one refusal from another of the same status (e.g.
    "note_signed"), answered beside `detail`.
    """

    status_code = 400

    def __init__(self, message: str, *, field: str | None = None, code: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.code = code


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


class NotYoursError(NotFoundError):
    """It exists, but the caller has no part in it (another patient's visit, a visit room for
    clinic staff). HTTP answers it as not found, so an address confirms nothing; the visit
    room's socket, already past that, says "not allowed"."""


class NotSignedInError(ApplicationError):
    """No signed-in, active account asked: anonymous, or the account is deactivated."""

    status_code = 401


class NotOpenError(ConflictError):
    """Yours, but not open now: e.g. a visit room outside its join window."""


class PayloadTooLargeError(ApplicationError):
    """The request's body is over what this endpoint takes (e.g. a recording chunk)."""

    status_code = 413
