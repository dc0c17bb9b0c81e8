from django.urls import path

from accounts import apis, views

urlpatterns = [
    path("auth/register", apis.RegisterApi.as_view(), name="auth-register"),
    path("auth/login", apis.LoginApi.as_view(), name="auth-login"),
    path("auth/refresh", apis.RefreshApi.as_view(), name="auth-refresh"),
    path("auth/logout", apis.LogoutApi.as_view(), name="auth-logout"),
    path("auth/logout-all", apis.LogoutAllApi.as_view(), name="auth-logout-all"),
    path("auth/password", apis.PasswordChangeApi.as_view(), name="auth-password"),
    path("auth/password-reset", apis.PasswordResetApi.as_view(), name="auth-password-reset"),
    path(
        "auth/password-reset/confirm",
        apis.PasswordResetConfirmApi.as_view(),
        name="auth-password-reset-confirm",
    ),
    path("auth/me", apis.MeApi.as_view(), name="auth-me"),
    path("users", apis.UserListApi.as_view(), name="users-list"),
    path("users/<int:user_id>", apis.UserDetailApi.as_view(), name="users-detail"),
    path("auth/session/csrf", apis.CsrfApi.as_view(), name="auth-session-csrf"),
    path("auth/session/login", apis.SessionLoginApi.as_view(), name="auth-session-login"),
    path("auth/session/refresh", apis.SessionRefreshApi.as_view(), name="auth-session-refresh"),
    path("auth/session/logout", apis.SessionLogoutApi.as_view(), name="auth-session-logout"),
    path(".well-known/jwks.json", apis.JwksApi.as_view(), name="jwks"),
]

# DRF's browsable API shows its "Log in" / "Log out" links when these names exist under the
# `rest_framework` namespace (mounted at /api-auth/ in iotserver.urls).
browsable_api_login = (
    [
        path("login/", views.BrowsableApiLoginView.as_view(), name="login"),
        path("logout/", views.BrowsableApiLogoutView.as_view(), name="logout"),
    ],
    "rest_framework",
)
