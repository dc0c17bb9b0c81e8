"""Auth role endpoints: one view per operation, logic in services and selectors."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
from functools import lru_cache

from django.conf import settings
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.views.decorators.csrf import ensure_csrf_cookie
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from jwt.algorithms import RSAAlgorithm
from rest_framework import serializers, status
from rest_framework.authentication import SessionAuthentication
from rest_framework.exceptions import (
    AuthenticationFailed,
    NotFound,
    PermissionDenied,
    ValidationError,
)
from rest_framework.pagination import PageNumberPagination
from rest_framework.permissions import SAFE_METHODS, AllowAny, IsAdminUser, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.authentication import JWTAuthentication

from accounts import selectors, services
from accounts.authentication import BrowsableAPISessionAuthentication
from accounts.models import RefreshChain
from accounts.serializers import (
    ErrorOutput,
    JSONInput,
    LoginInput,
    LoginOutput,
    MessageOutput,
    PasswordChangeInput,
    PasswordResetConfirmInput,
    PasswordResetInput,
    RefreshInput,
    RegisterInput,
    TokenPairOutput,
    UserEnvelope,
    UserListEnvelope,
    UserOutput,
)
from accounts.throttles import (
    LoginEmailThrottle,
    LoginIPThrottle,
    RegisterIPThrottle,
    SignedInAccountThrottle,
)
from accounts.tokens import InvalidRefreshToken, TokenPair

LOGIN_FAILED = "Invalid email or password."
REFRESH_FAILED = "Refresh token is invalid, expired or revoked."
RESET_REQUESTED = "If an active account uses this email, a password reset link has been sent to it."

_errors = {
    400: OpenApiResponse(ErrorOutput, description="Invalid input; field errors alongside detail"),
    401: OpenApiResponse(ErrorOutput, description="Not authenticated"),
    429: OpenApiResponse(ErrorOutput, description="Too many requests; see Retry-After"),
}


def _login(request) -> TokenPair:
    """Validate the login body and authenticate; one 401 body for every failure."""
    body = LoginInput(data=request.data)
    body.is_valid(raise_exception=True)
    try:
        _, pair = services.user_login(request=request, **body.validated_data)
    except services.InvalidCredentials:
        raise AuthenticationFailed(LOGIN_FAILED) from None
    return pair


class _PublicView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    def get_authenticate_header(self, request):
        # Without an authenticator DRF would turn our 401s into 403s.
        return 'Bearer realm="api"'


class _UserView(APIView):
    """Authenticated against the users table, so a deactivated user's access token fails.

    The session of the browsable API's login (/api-auth/login/) counts as well, after the
    bearer token, for the HTML pages only (CSRF enforced on unsafe methods).
    """

    authentication_classes = [JWTAuthentication, BrowsableAPISessionAuthentication]
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
        pair = _login(request)
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


class LogoutAllApi(_UserView):
    @extend_schema(
        operation_id="auth_logout_all",
        request=None,
        responses={
            204: OpenApiResponse(description="Every refresh token of the user is revoked"),
            401: _errors[401],
        },
        description=(
            "Ends every session of the signed-in user: all their refresh tokens stop working. "
            "Access tokens already issued stay valid until they expire (stateless)."
        ),
    )
    def post(self, request):
        services.user_sessions_end(user=request.user, reason=RefreshChain.EndReason.LOGOUT_ALL)
        return _without_refresh_cookie(Response(status=status.HTTP_204_NO_CONTENT))


class PasswordChangeApi(_UserView):
    # Each attempt checks a password: /auth/login's limits (per client IP and per account).
    throttle_classes = [LoginIPThrottle, SignedInAccountThrottle]

    @extend_schema(
        operation_id="auth_password_change",
        request=PasswordChangeInput,
        responses={
            204: OpenApiResponse(description="Password changed; every refresh token revoked"),
            **_errors,
        },
        description=(
            "400 names `current_password` when it is wrong and `new_password` when it fails "
            "the password rules. Every refresh token of the user is revoked, this client's "
            "too: log in again with the new password. Access tokens already issued stay "
            "valid until they expire."
        ),
    )
    def post(self, request):
        body = PasswordChangeInput(data=request.data, context={"user": request.user})
        body.is_valid(raise_exception=True)
        services.user_password_set(
            user=request.user,
            password=body.validated_data["new_password"],
            reason=RefreshChain.EndReason.PASSWORD_CHANGE,
        )
        return _without_refresh_cookie(Response(status=status.HTTP_204_NO_CONTENT))


def _reset_url(request) -> str:
    base = settings.PASSWORD_RESET_URL
    # A path is completed with this request's host, which ALLOWED_HOSTS has vetted.
    return base if "://" in base else request.build_absolute_uri(base)


class PasswordResetApi(_PublicView):
    throttle_classes = [LoginIPThrottle, LoginEmailThrottle]

    @extend_schema(
        operation_id="auth_password_reset",
        request=PasswordResetInput,
        responses={
            202: MessageOutput,
            400: _errors[400],
            429: _errors[429],
        },
        description=(
            "Emails a reset link (uid and token) to the account with this email, if there is "
            "an active one. The answer is the same either way; limited like login."
        ),
    )
    def post(self, request):
        body = PasswordResetInput(data=request.data)
        body.is_valid(raise_exception=True)
        services.password_reset_request(
            email=body.validated_data["email"], reset_url=_reset_url(request)
        )
        return Response({"message": RESET_REQUESTED}, status=status.HTTP_202_ACCEPTED)


class PasswordResetConfirmApi(_PublicView):
    throttle_classes = [LoginIPThrottle]

    @extend_schema(
        operation_id="auth_password_reset_confirm",
        request=PasswordResetConfirmInput,
        responses={
            204: OpenApiResponse(description="Password set; every refresh token revoked"),
            400: _errors[400],
            429: _errors[429],
        },
        description=(
            "`uid` and `token` come from the reset email. 400 names `token` when the link is "
            "invalid, expired or already used, `new_password` when it fails the password "
            "rules. Every refresh token of the user is revoked."
        ),
    )
    def post(self, request):
        body = PasswordResetConfirmInput(data=request.data)
        body.is_valid(raise_exception=True)
        services.user_password_set(
            user=body.validated_data["user"],
            password=body.validated_data["new_password"],
            reason=RefreshChain.EndReason.PASSWORD_RESET,
        )
        return _without_refresh_cookie(Response(status=status.HTTP_204_NO_CONTENT))


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

    class PatchInput(JSONInput):  # true or false, not 0/1 or "yes"
        active = serializers.BooleanField(
            help_text="false deactivates (sessions end, devices disabled), true reactivates"
        )

    _staff_errors = {
        400: _errors[400],
        401: _errors[401],
        403: OpenApiResponse(
            ErrorOutput,
            description="Not staff (own id), a superuser changed by non-superuser staff",
        ),
        404: OpenApiResponse(ErrorOutput, description="No such user, or the caller is not staff"),
    }

    def _target_for_staff(self, request, user_id: int):
        """The user staff may change; 404 for non-staff as for GET, 403/400 for the rest."""
        viewer = request.user
        if not viewer.is_staff:
            if viewer.pk == user_id:
                raise PermissionDenied("Only staff may change or delete accounts.")
            raise NotFound("User not found.")
        user = selectors.user_get_visible(user_id=user_id, viewer=viewer)
        if user is None:
            raise NotFound("User not found.")
        if user.pk == viewer.pk:
            raise ValidationError({"detail": "Staff cannot deactivate or delete themselves here."})
        if user.is_superuser and not viewer.is_superuser:
            raise PermissionDenied("Only a superuser may change a superuser.")
        return user

    @extend_schema(
        operation_id="users_update",
        request=PatchInput,
        responses={200: UserEnvelope, **_staff_errors},
        description=(
            "Staff only. `active: false` deactivates the account: its refresh tokens stop "
            "working and its devices are disabled (broker logins refused) by the telemetry "
            "side; `true` reactivates it and enables the devices the deactivation disabled."
        ),
    )
    def patch(self, request, user_id: int):
        user = self._target_for_staff(request, user_id)
        body = self.PatchInput(data=request.data)
        body.is_valid(raise_exception=True)
        user = services.user_active_set(user=user, active=body.validated_data["active"])
        return Response({"data": UserOutput(user).data})

    @extend_schema(
        operation_id="users_delete",
        request=None,
        responses={204: OpenApiResponse(description="Account deleted"), **_staff_errors},
        description=(
            "Staff only. Deletes the account; the telemetry side deletes its devices and, "
            "with ACCOUNT_DELETE_DATA=purge (default), their readings and rollups (the device "
            "names are then free for anyone); with keep, the data stays for staff and the "
            "names stay reserved."
        ),
    )
    def delete(self, request, user_id: int):
        services.user_delete(user=self._target_for_staff(request, user_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


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


# --- Browser sessions ------------------------------------------------------------------
# The dashboard keeps the refresh token in an HttpOnly, SameSite=Strict cookie scoped to
# these paths, out of reach of page scripts; page scripts hold only the short-lived access
# token in memory. Cookie-authenticated endpoints are CSRF-protected.

SESSION_COOKIE = "iot_refresh"
SESSION_COOKIE_PATH = "/auth/session"


class AccessTokenOutput(serializers.Serializer):
    auth_token = serializers.CharField()


def _with_refresh_cookie(response: Response, pair: TokenPair) -> Response:
    response.set_cookie(
        SESSION_COOKIE,
        pair.refresh,
        # As long as the token itself: at most the refresh lifetime, less near the chain's end.
        max_age=max(0, int((pair.refresh_expires_at - timezone.now()).total_seconds())),
        path=SESSION_COOKIE_PATH,
        secure=not settings.DEBUG,
        httponly=True,
        samesite="Strict",
    )
    return response


def _without_refresh_cookie(response: Response) -> Response:
    response.delete_cookie(SESSION_COOKIE, path=SESSION_COOKIE_PATH, samesite="Strict")
    return response


class _CookieSessionView(_PublicView):
    """CSRF-checked as DRF's SessionAuthentication checks, inside DRF rather than by Django's
    ``csrf_protect``: a failed check answers a JSON 403, and a method the view does not
    have a JSON 405 (``csrf_protect`` answered both with its HTML 403 page)."""

    csrf_failed = OpenApiResponse(
        ErrorOutput, description="CSRF check failed: send the csrftoken cookie as X-CSRFToken"
    )

    def initial(self, request, *args, **kwargs):
        method = request.method.lower()
        if request.method not in SAFE_METHODS and hasattr(self, method):
            # On Django's request: DRF's would parse the body for csrfmiddlewaretoken first.
            SessionAuthentication().enforce_csrf(request._request)
        super().initial(request, *args, **kwargs)


class SessionLoginApi(_CookieSessionView):
    throttle_classes = [LoginIPThrottle, LoginEmailThrottle]

    @extend_schema(
        operation_id="auth_session_login",
        request=LoginInput,
        responses={200: AccessTokenOutput, 403: _CookieSessionView.csrf_failed, **_errors},
        description="Browser login: refresh token set as an HttpOnly cookie; send X-CSRFToken.",
    )
    def post(self, request):
        pair = _login(request)
        return _with_refresh_cookie(Response({"auth_token": pair.access}), pair)


class SessionRefreshApi(_CookieSessionView):
    @extend_schema(
        operation_id="auth_session_refresh",
        request=None,
        responses={
            200: AccessTokenOutput,
            401: _errors[401],
            403: _CookieSessionView.csrf_failed,
        },
        description="Rotates the refresh cookie and answers a new access token. Needs X-CSRFToken.",
    )
    def post(self, request):
        raw = request.COOKIES.get(SESSION_COOKIE)
        try:
            if not raw:
                raise InvalidRefreshToken("no session")
            pair = services.token_rotate(refresh_token=raw)
        except InvalidRefreshToken:
            response = Response({"detail": REFRESH_FAILED}, status=status.HTTP_401_UNAUTHORIZED)
            return _without_refresh_cookie(response)
        return _with_refresh_cookie(Response({"auth_token": pair.access}), pair)


class SessionLogoutApi(_CookieSessionView):
    @extend_schema(
        operation_id="auth_session_logout",
        request=None,
        responses={
            204: OpenApiResponse(description="Signed out; the refresh cookie is revoked"),
            403: _CookieSessionView.csrf_failed,
        },
    )
    def post(self, request):
        raw = request.COOKIES.get(SESSION_COOKIE)
        if raw:
            # An already unusable token still gets its cookie cleared.
            with contextlib.suppress(InvalidRefreshToken):
                services.token_revoke(refresh_token=raw)
        return _without_refresh_cookie(Response(status=status.HTTP_204_NO_CONTENT))


@method_decorator(ensure_csrf_cookie, name="dispatch")
class CsrfApi(_PublicView):
    @extend_schema(
        operation_id="auth_session_csrf",
        responses={204: OpenApiResponse(description="Sets the csrftoken cookie")},
    )
    def get(self, request):
        return Response(status=status.HTTP_204_NO_CONTENT)
