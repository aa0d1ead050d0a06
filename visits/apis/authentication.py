"""How the API knows who is calling. A module of its own, importing no DRF views: DRF reads
DEFAULT_AUTHENTICATION_CLASSES while its views module is being imported."""

from rest_framework_simplejwt.authentication import JWTAuthentication

from visits.models import User


class _UserLookup:
    """What JWTAuthentication asks of its user model (`objects.get`, `DoesNotExist`), with the
    given profiles joined in."""

    DoesNotExist = User.DoesNotExist

    def __init__(self, profiles: tuple[str, ...]) -> None:
        self.objects = User.objects.select_related(*profiles) if profiles else User.objects


class ProfileJWTAuthentication(JWTAuthentication):
    """simplejwt's JWT authentication, every check of it unchanged (the user exists, is
    active, the token's password digest matches), whose user query also loads the profiles a
    view names in `user_profiles` (e.g. ("patient",) where a booking asks
    `request.user.patient`, a query of its own otherwise). Views that name none get the plain
    query: for them the join would cost more than it saves."""

    def authenticate(self, request):
        view = (request.parser_context or {}).get("view")
        self.user_model = _UserLookup(tuple(getattr(view, "user_profiles", ())))
        return super().authenticate(request)
