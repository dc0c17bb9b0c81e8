"""Rate limits on the endpoints that check a password or send email (rates in
settings.REST_FRAMEWORK): login, register, password change and reset."""

from __future__ import annotations

from rest_framework.throttling import SimpleRateThrottle

from accounts.models import normalize_email


class _ClientIPThrottle(SimpleRateThrottle):
    """Keyed by client IP; behind the gateway DRF trusts exactly ``NUM_PROXIES`` hops."""

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class LoginIPThrottle(_ClientIPThrottle):
    scope = "login_ip"


class RegisterIPThrottle(_ClientIPThrottle):
    scope = "register_ip"


class LoginEmailThrottle(SimpleRateThrottle):
    """Keyed by the email being tried, so one account cannot be brute-forced from many IPs."""

    scope = "login_email"
    email_field = "email"

    def get_cache_key(self, request, view):
        data = request.data
        email = data.get(self.email_field) if hasattr(data, "get") else None
        if not isinstance(email, str) or not email.strip():
            return None  # nothing to key on; the serializer rejects the request
        return self.cache_format % {"scope": self.scope, "ident": normalize_email(email)}


class SignedInAccountThrottle(SimpleRateThrottle):
    """/auth/login's per-email counter, keyed by the signed-in user's email: guessing the
    current password at /auth/password spends the same budget as guessing it at login."""

    scope = "login_email"

    def get_cache_key(self, request, view):
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return None
        return self.cache_format % {"scope": self.scope, "ident": normalize_email(user.email)}
