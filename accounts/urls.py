from django.urls import path

from accounts import apis

urlpatterns = [
    path("auth/register", apis.RegisterApi.as_view(), name="auth-register"),
    path("auth/login", apis.LoginApi.as_view(), name="auth-login"),
    path("auth/refresh", apis.RefreshApi.as_view(), name="auth-refresh"),
    path("auth/logout", apis.LogoutApi.as_view(), name="auth-logout"),
    path("auth/me", apis.MeApi.as_view(), name="auth-me"),
    path("users", apis.UserListApi.as_view(), name="users-list"),
    path("users/<int:user_id>", apis.UserDetailApi.as_view(), name="users-detail"),
    path(".well-known/jwks.json", apis.JwksApi.as_view(), name="jwks"),
]
