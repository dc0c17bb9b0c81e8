"""Auth role endpoints: one view per operation, logic in services and selectors."""

from __future__ import annotations

import base64
import hashlib
import json
from functools import lru_cache

from django.conf import settings
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from jwt.algorithms import RSAAlgorithm
from rest_framework import serializers, status
from rest_framework.exceptions import AuthenticationFailed, NotFound
from rest_framework.pagination import PageNumberPagination
from rest_framework.permissions import AllowAny, IsAdminUser, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.authentication import JWTAuthentication

from accounts import selectors, services
from accounts.serializers import (
    ErrorOutput,
    LoginInput,
    LoginOutput,
    RefreshInput,
    RegisterInput,
    TokenPairOutput,
    UserEnvelope,
    UserListEnvelope,
    UserOutput,
)
from accounts.throttles import LoginEmailThrottle, LoginIPThrottle, RegisterIPThrottle
from accounts.tokens import InvalidRefreshToken

LOGIN_FAILED = "Invalid email or password."
REFRESH_FAILED = "Refresh token is invalid, expired or revoked."

_errors = {
    400: OpenApiResponse(ErrorOutput, description="Invalid input; field errors alongside detail"),
    401: OpenApiResponse(ErrorOutput, description="Not authenticated"),
    429: OpenApiResponse(ErrorOutput, description="Too many requests; see Retry-After"),
}


class _PublicView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    def get_authenticate_header(self, request):
        # Without an authenticator DRF would turn our 401s into 403s.
        return 'Bearer realm="api"'


class _UserView(APIView):
    """Authenticated against the users table, so a deactivated user's access token fails."""

    authentication_classes = [JWTAuthentication]
    permission_classes = [IsAuthenticated]


class RegisterApi(_PublicView):
    throttle_classes = [RegisterIPThrottle]

    @extend_schema(
        operation_id="auth_register",
        request=RegisterInput,
        responses={201: UserOutput, **_errors},
    )
    def post(self, request):
        body = RegisterInput(data=request.data)
        body.is_valid(raise_exception=True)
        user = services.user_create(**body.validated_data)
        return Response(UserOutput(user).data, status=status.HTTP_201_CREATED)


class LoginApi(_PublicView):
    throttle_classes = [LoginIPThrottle, LoginEmailThrottle]

    @extend_schema(
        operation_id="auth_login", request=LoginInput, responses={200: LoginOutput, **_errors}
    )
    def post(self, request):
        body = LoginInput(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            _, pair = services.user_login(request=request, **body.validated_data)
        except services.InvalidCredentials:
            raise AuthenticationFailed(LOGIN_FAILED) from None
        return Response(
            {
                "message": "Successfully logged in.",
                "auth_token": pair.access,
                "refresh_token": pair.refresh,
            }
        )


class RefreshApi(_PublicView):
    @extend_schema(
        operation_id="auth_refresh",
        request=RefreshInput,
        responses={200: TokenPairOutput, **_errors},
    )
    def post(self, request):
        body = RefreshInput(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            pair = services.token_rotate(refresh_token=body.validated_data["refresh_token"])
        except InvalidRefreshToken:
            raise AuthenticationFailed(REFRESH_FAILED) from None
        return Response({"auth_token": pair.access, "refresh_token": pair.refresh})


class LogoutApi(_PublicView):
    @extend_schema(
        operation_id="auth_logout",
        request=RefreshInput,
        responses={204: OpenApiResponse(description="Logged out"), **_errors},
    )
    def post(self, request):
        body = RefreshInput(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            services.token_revoke(refresh_token=body.validated_data["refresh_token"])
        except InvalidRefreshToken:
            raise AuthenticationFailed(REFRESH_FAILED) from None
        return Response(status=status.HTTP_204_NO_CONTENT)


class MeApi(_UserView):
    @extend_schema(operation_id="auth_me", responses={200: UserEnvelope, 401: _errors[401]})
    def get(self, request):
        return Response({"data": UserOutput(request.user).data})


class UserPagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500


class UserListApi(_UserView):
    permission_classes = [IsAuthenticated, IsAdminUser]

    @extend_schema(
        operation_id="users_list",
        responses={200: UserListEnvelope, 401: _errors[401], 403: ErrorOutput},
    )
    def get(self, request):
        paginator = UserPagination()
        page = paginator.paginate_queryset(selectors.user_list(), request, view=self)
        return Response(
            {
                "data": {
                    "users": UserOutput(page, many=True).data,
                    "count": paginator.page.paginator.count,
                    "next": paginator.get_next_link(),
                    "previous": paginator.get_previous_link(),
                }
            }
        )


class UserDetailApi(_UserView):
    @extend_schema(operation_id="users_detail", responses={200: UserEnvelope, 404: ErrorOutput})
    def get(self, request, user_id: int):
        user = selectors.user_get_visible(user_id=user_id, viewer=request.user)
        if user is None:
            raise NotFound("User not found.")
        return Response({"data": UserOutput(user).data})


@lru_cache(maxsize=1)
def _jwks() -> dict:
    jwk = json.loads(
        RSAAlgorithm.to_jwk(
            RSAAlgorithm(RSAAlgorithm.SHA256).prepare_key(settings.SIMPLE_JWT["VERIFYING_KEY"])
        )
    )
    # RFC 7638 thumbprint as the key id.
    canonical = json.dumps(
        {k: jwk[k] for k in ("e", "kty", "n")}, separators=(",", ":"), sort_keys=True
    )
    kid = (
        base64.urlsafe_b64encode(hashlib.sha256(canonical.encode()).digest()).rstrip(b"=").decode()
    )
    return {"keys": [{**jwk, "kid": kid, "use": "sig", "alg": "RS256"}]}


class JwksApi(_PublicView):
    @extend_schema(
        operation_id="jwks",
        responses={
            200: inline_serializer(
                "Jwks", {"keys": serializers.ListField(child=serializers.DictField())}
            )
        },
    )
    def get(self, request):
        return Response(_jwks())
