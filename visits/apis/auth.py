from django.core.exceptions import ObjectDoesNotExist
from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import APIException, AuthenticationFailed
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.serializers import TokenObtainPairSerializer, TokenRefreshSerializer
from rest_framework_simplejwt.views import (
    TokenBlacklistView,
    TokenObtainPairView,
    TokenRefreshView,
)

from clinic import openapi
from visits.lockout import account_failures_forgive, lockout_message, lockout_seconds
from visits.models import AccessLogEntry, User
from visits.services.access_log import record_security_event, request_address


class ProfileJWTScheme(SimpleJWTScheme):
    """The schema's bearer-token scheme (jwtAuth) for the API's JWT authentication, a subclass
    of simplejwt's that drf-spectacular would not recognise by itself."""

    target_class = "visits.apis.authentication.ProfileJWTAuthentication"


LOCKED_OUT = OpenApiResponse(
    openapi.ERROR_DETAIL,
    description=(
        "Too many failed sign-ins for this username or from this address: refused, even with "
        "the right password, until the lockout ends (see Retry-After) or the clinic unlocks it."
    ),
)


class SignInLockedOut(APIException):
    status_code = status.HTTP_429_TOO_MANY_REQUESTS
    default_code = "locked_out"

    def __init__(self) -> None:
        super().__init__(lockout_message())
        self.wait = lockout_seconds()  # the exception handler turns it into Retry-After


class RoleTokenObtainPairSerializer(TokenObtainPairSerializer):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # No account has a longer username: a longer one is refused as input, before it reaches
        # the lockout's records (255 characters; PostgreSQL would refuse the insert, a 500).
        self.fields[self.username_field] = serializers.CharField(
            write_only=True, max_length=User._meta.get_field(User.USERNAME_FIELD).max_length
        )

    def validate(self, attrs):
        data = super().validate(attrs)
        account_failures_forgive(username=attrs[self.username_field])
        # Django's user_logged_in is the portal's and the admin's; a token is issued here.
        record_security_event(
            event=AccessLogEntry.Event.SIGNED_IN,
            user=self.user,
            channel=AccessLogEntry.Channel.API,
            address=request_address(self.context.get("request")),
        )
        return data

    @classmethod
    def get_token(cls, user):
        token = super().get_token(user)
        token["role"] = user.role  # lets a client route by role without another request
        return token


class TokenObtainApi(TokenObtainPairView):
    class TokenPairSerializer(serializers.Serializer):
        access = serializers.CharField()
        refresh = serializers.CharField()

    @extend_schema(
        operation_id="auth_token_obtain",
        responses={
            200: TokenPairSerializer,
            400: openapi.BAD_REQUEST,
            401: openapi.UNAUTHENTICATED,
            429: LOCKED_OUT,
        },
        auth=[],
    )
    def post(self, request, *args, **kwargs):
        try:
            return super().post(request, *args, **kwargs)
        except AuthenticationFailed:
            # Axes marks the DRF request it was handed (simplejwt passes it to authenticate()),
            # which its middleware never sees: the lockout answer is given here.
            if getattr(request, "axes_locked_out", False):
                raise SignInLockedOut() from None
            raise


class RotatingTokenRefreshSerializer(TokenRefreshSerializer):
    def validate(self, attrs):
        try:
            return super().validate(attrs)
        except ObjectDoesNotExist:
            # A token of a deleted account: simplejwt looks the user up without catching this.
            raise AuthenticationFailed(
                self.error_messages["no_active_account"], "no_active_account"
            ) from None


class TokenRefreshApi(TokenRefreshView):
    serializer_class = RotatingTokenRefreshSerializer

    class RefreshedTokenPairSerializer(serializers.Serializer):
        access = serializers.CharField()
        refresh = serializers.CharField(
            help_text="A new refresh token: the one sent is now spent and will be refused."
        )

    @extend_schema(
        operation_id="auth_token_refresh",
        responses={
            200: RefreshedTokenPairSerializer,
            400: openapi.BAD_REQUEST,
            401: openapi.UNAUTHENTICATED,
        },
        auth=[],
    )
    def post(self, request, *args, **kwargs):
        return super().post(request, *args, **kwargs)


class LogoutApi(TokenBlacklistView):
    """Revokes a refresh token, so it can neither be refreshed nor reused. The access tokens
    already handed out stay valid until they expire (JWT_ACCESS_MINUTES); a password change or
    deactivation revokes those too."""

    @extend_schema(
        operation_id="auth_logout",
        responses={
            204: OpenApiResponse(description="The refresh token is revoked."),
            400: openapi.BAD_REQUEST,
            401: openapi.UNAUTHENTICATED,
        },
        auth=[],
    )
    def post(self, request, *args, **kwargs):
        super().post(request, *args, **kwargs)
        return Response(status=status.HTTP_204_NO_CONTENT)


class MeApi(APIView):
    class MeSerializer(serializers.Serializer):
        id = serializers.IntegerField()
        username = serializers.CharField()
        role = serializers.CharField()
        display_name = serializers.CharField()
        doctor_id = serializers.IntegerField(allow_null=True)
        patient_id = serializers.IntegerField(allow_null=True)

    @extend_schema(operation_id="me", responses={200: MeSerializer, 401: openapi.UNAUTHENTICATED})
    def get(self, request):
        user = request.user
        doctor = getattr(user, "doctor", None)
        patient = getattr(user, "patient", None)
        data = {
            "id": user.id,
            "username": user.username,
            "role": user.role,
            "display_name": doctor.display_name if doctor else user.display_name,
            "doctor_id": doctor.id if doctor else None,
            "patient_id": patient.id if patient else None,
        }
        return Response(self.MeSerializer(data).data)
