"""The browsable API's login and logout pages (DRF's templates, Django's session views).

Login also sets the access token in an HttpOnly cookie, so that the telemetry role, which
keeps no sessions, can render its browsable pages for that person; logout clears it. API
clients keep logging in at /auth/login and sending ``Authorization: Bearer``.
"""

from __future__ import annotations

import logging
import math

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.http import HttpRequest, HttpResponse
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request

from accounts.throttles import LoginEmailThrottle, LoginIPThrottle
from accounts.tokens import access_token_for

logger = logging.getLogger(__name__)


class _FormLoginEmailThrottle(LoginEmailThrottle):
    # DRF's login form names its email field "username"; the rate and counter are /auth/login's.
    email_field = "username"


def login_attempt_wait(request: HttpRequest) -> float | None:
    """Seconds to wait when this form login exceeds /auth/login's limits (per client address
    and per email, counted together with that endpoint's attempts), else None."""
    attempt = Request(request, parsers=[FormParser(), MultiPartParser()])
    refused = [
        throttle
        for throttle in (LoginIPThrottle(), _FormLoginEmailThrottle())
        if not throttle.allow_request(attempt, None)
    ]
    if not refused:
        return None
    # wait() is None when the history is already over the limit: then a whole window.
    return max(throttle.wait() or throttle.duration for throttle in refused)


def access_cookie_set(response: HttpResponse, access_token: str) -> HttpResponse:
    response.set_cookie(
        settings.BROWSABLE_API_TOKEN_COOKIE,
        access_token,
        max_age=int(settings.SIMPLE_JWT["ACCESS_TOKEN_LIFETIME"].total_seconds()),
        path="/",
        secure=not settings.DEBUG,
        httponly=True,
        samesite="Strict",
    )
    return response


def access_cookie_delete(response: HttpResponse) -> HttpResponse:
    response.delete_cookie(settings.BROWSABLE_API_TOKEN_COOKIE, path="/", samesite="Strict")
    return response


def _too_many_attempts(wait: float) -> HttpResponse:
    seconds = max(1, math.ceil(wait))
    response = HttpResponse(
        f"Too many login attempts; try again in {seconds} seconds.\n",
        status=429,
        content_type="text/plain; charset=utf-8",
    )
    response["Retry-After"] = str(seconds)
    return response


def admin_login(request: HttpRequest, extra_context=None) -> HttpResponse:
    """Django admin's login under /auth/login's limits (per client address and per email,
    counted together): each attempt costs an Argon2 hash with 100 MiB of memory."""
    if request.method == "POST":
        wait = login_attempt_wait(request)
        if wait is not None:
            return _too_many_attempts(wait)
    from django.contrib import admin

    return admin.site.login(request, extra_context=extra_context)


class BrowsableApiLoginView(auth_views.LoginView):
    """Email and password (the form's "username" field holds the email, see the user model)."""

    template_name = "rest_framework/login.html"
    next_page = "auth-me"  # without ?next=: the page that shows who is logged in

    def post(self, request, *args, **kwargs):
        wait = login_attempt_wait(request)
        if wait is not None:
            return _too_many_attempts(wait)
        return super().post(request, *args, **kwargs)

    def form_valid(self, form):
        response = super().form_valid(form)  # the session login (and last_login)
        user = form.get_user()
        logger.info("browsable API login: user id=%s", user.pk)
        return access_cookie_set(response, access_token_for(user))


class BrowsableApiLogoutView(auth_views.LogoutView):
    """POST only (Django's rule); back to ?next= (DRF's link sends the page) or the login."""

    next_page = "rest_framework:login"

    def post(self, request, *args, **kwargs):
        return access_cookie_delete(super().post(request, *args, **kwargs))
