from django.contrib.auth import user_login_failed
from django.core.exceptions import ObjectDoesNotExist
from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import APIException, AuthenticationFailed
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.serializers import TokenObtainPairSerializer, TokenRefreshSerializer
from rest_framework_simplejwt.settings import api_settings as jwt_settings
from rest_framework_simplejwt.state import token_backend
from rest_framework_simplejwt.views import (
    TokenBlacklistView,
    TokenObtainPairView,
    TokenRefreshView,
)

from clinic import openapi
from visits import selectors
from visits.lockout import account_failures_forgive, lockout_message, lockout_seconds
from visits.mfa_gate import ENROL_FIRST, MFA_ENROLMENT_REQUIRED, MFA_REQUIRED
from visits.models import AccessLogEntry, User
from visits.services.access_log import record_security_event, request_address
from visits.services.mfa import mfa_verify


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


SIGN_IN_ERROR = inline_serializer(
    "SignInError",
    fields={
        "detail": serializers.CharField(),
        "code": serializers.CharField(
            required=False, help_text="mfa_required, mfa_invalid or mfa_enrolment_required"
        ),
    },
)
SECOND_FACTOR_MISSING_OR_WRONG = OpenApiResponse(
    SIGN_IN_ERROR,
    description=(
        "Wrong username or password; or, for an account with two-step sign-in, `code` "
        "`mfa_required` (send `otp`) or `mfa_invalid` (a wrong code: a failed sign-in)."
    ),
)
NOT_ENROLLED = OpenApiResponse(
    SIGN_IN_ERROR,
    description=(
        "`mfa_enrolment_required`: the account's role requires two-step sign-in and it has "
        "none yet; set it up by signing in to the portal in a browser."
    ),
)


class SignInLockedOut(APIException):
    status_code = status.HTTP_429_TOO_MANY_REQUESTS
    default_code = "locked_out"

    def __init__(self) -> None:
        super().__init__(lockout_message())
        self.wait = lockout_seconds()  # the exception handler turns it into Retry-After


class SecondFactorMissing(AuthenticationFailed):
    default_detail = "This account signs in with two steps: send the code as `otp`."
    default_code = MFA_REQUIRED


class SecondFactorWrong(AuthenticationFailed):
    default_detail = "The `otp` code is not right."
    default_code = "mfa_invalid"


class SecondFactorNotEnrolled(APIException):
    status_code = status.HTTP_403_FORBIDDEN
    default_detail = ENROL_FIRST
    default_code = MFA_ENROLMENT_REQUIRED


def _with_code(error: APIException) -> APIException:
    # The body names the case ({"detail", "code"}), so a client knows to ask for the code.
    error.detail = {"detail": error.detail, "code": error.default_code}
    return error


class RoleTokenObtainPairSerializer(TokenObtainPairSerializer):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # No account has a longer username: a longer one is refused as input, before it reaches
        # the lockout's records (255 characters; PostgreSQL would refuse the insert, a 500).
        self.fields[self.username_field] = serializers.CharField(
            write_only=True, max_length=User._meta.get_field(User.USERNAME_FIELD).max_length
        )
        self.fields["otp"] = serializers.CharField(
            write_only=True,
            required=False,
            max_length=32,
            help_text=(
                "The code of the account's second factor (its authenticator app's, or a "
                "recovery code): required for the roles in MFA_REQUIRED_ROLES and for anyone "
                "who has set up two-step sign-in."
            ),
        )

    def validate(self, attrs):
        data = super().validate(attrs)
        self._check_second_factor(attrs.get("otp", ""))
        account_failures_forgive(username=attrs[self.username_field])
        # Django's user_logged_in is the portal's and the admin's; a token is issued here.
        record_security_event(
            event=AccessLogEntry.Event.SIGNED_IN,
            user=self.user,
            channel=AccessLogEntry.Channel.API,
            address=request_address(self.context.get("request")),
        )
        return data

    def _check_second_factor(self, code: str) -> None:
        """After the password: the code, for whoever has a second factor or must have one."""
        user = self.user
        if not selectors.mfa_enrolled(user):
            if selectors.mfa_required_for(user):
                raise _with_code(SecondFactorNotEnrolled())
            return
        if not code:
            raise _with_code(SecondFactorMissing())
        if mfa_verify(user=user, code=code) is None:
            # A failed sign-in for the lockout, like a wrong password (axes marks the request
            # when this one locks the account; the view answers 429 then).
            user_login_failed.send(
                sender=__name__,
                credentials={self.username_field: user.get_username()},
                request=self.context["request"],
            )
            self._second_factor_event(AccessLogEntry.Event.MFA_FAILED)
            raise _with_code(SecondFactorWrong())
        self._second_factor_event(AccessLogEntry.Event.MFA_VERIFIED)

    def _second_factor_event(self, event: str) -> None:
        record_security_event(
            event=event,
            user=self.user,
            channel=AccessLogEntry.Channel.API,
            address=request_address(self.context.get("request")),
        )

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
            401: SECOND_FACTOR_MISSING_OR_WRONG,
            403: NOT_ENROLLED,
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
        super().post(request, *args, **kwargs)  # refuses a missing, broken or spent token
        # Signed, so whose it was is known without asking the blacklist again.
        claims = token_backend.decode(request.data["refresh"])
        record_security_event(
            event=AccessLogEntry.Event.SIGNED_OUT,
            user=User.objects.filter(pk=claims.get(jwt_settings.USER_ID_CLAIM)).first(),
            channel=AccessLogEntry.Channel.API,
            address=request_address(request),
        )
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
