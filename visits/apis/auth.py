from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.serializers import TokenObtainPairSerializer
from rest_framework_simplejwt.views import TokenObtainPairView, TokenRefreshView

from visits.apis import errors
from visits.apis.throttles import LoginFailureThrottle


class RoleTokenObtainPairSerializer(TokenObtainPairSerializer):
    @classmethod
    def get_token(cls, user):
        token = super().get_token(user)
        token["role"] = user.role  # lets a client route by role without another request
        return token


class TokenObtainApi(TokenObtainPairView):
    throttle_classes = [LoginFailureThrottle]

    class TokenPairSerializer(serializers.Serializer):
        access = serializers.CharField()
        refresh = serializers.CharField()

    @extend_schema(
        operation_id="auth_token_obtain",
        responses={
            200: TokenPairSerializer,
            400: errors.BAD_REQUEST,
            401: errors.UNAUTHENTICATED,
            429: errors.THROTTLED,
        },
        auth=[],
    )
    def post(self, request, *args, **kwargs):
        try:
            return super().post(request, *args, **kwargs)
        except AuthenticationFailed:
            for throttle in self.get_throttles():
                throttle.record_failure(request, self)
            raise


class TokenRefreshApi(TokenRefreshView):
    class AccessTokenSerializer(serializers.Serializer):
        access = serializers.CharField()

    @extend_schema(
        operation_id="auth_token_refresh",
        responses={
            200: AccessTokenSerializer,
            400: errors.BAD_REQUEST,
            401: errors.UNAUTHENTICATED,
        },
        auth=[],
    )
    def post(self, request, *args, **kwargs):
        return super().post(request, *args, **kwargs)


class MeApi(APIView):
    class MeSerializer(serializers.Serializer):
        id = serializers.IntegerField()
        username = serializers.CharField()
        role = serializers.CharField()
        display_name = serializers.CharField()
        doctor_id = serializers.IntegerField(allow_null=True)
        patient_id = serializers.IntegerField(allow_null=True)

    @extend_schema(operation_id="me", responses={200: MeSerializer, 401: errors.UNAUTHENTICATED})
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
