"""How the API knows who is calling. A module of its own, importing no DRF views: DRF reads
DEFAULT_AUTHENTICATION_CLASSES while its views module is being imported."""

from rest_framework.authentication import SessionAuthentication
from rest_framework_simplejwt.authentication import JWTAuthentication

from visits.models import User


class _UsersWithPatientProfile:
    """What JWTAuthentication asks for a user (`objects.get`, `DoesNotExist`), with the patient
    profile joined in."""

    objects = User.objects.select_related("patient")
    DoesNotExist = User.DoesNotExist


class ProfileJWTAuthentication(JWTAuthentication):
    """simplejwt's JWT authentication, every check of it unchanged (the user exists, is
    active, the token's password digest matches), with the patient profile loaded in the same
    query: a booking asks `request.user.patient`, which was a query of its own. Only where
    the profile is used: the join costs the other views more than it saves them."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.user_model = _UsersWithPatientProfile


# DEFAULT_AUTHENTICATION_CLASSES (clinic/settings.py) with the JWT loading the patient too.
WITH_PATIENT_PROFILE = [ProfileJWTAuthentication, SessionAuthentication]
