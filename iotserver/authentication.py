"""Stateless JWT authentication that checks each distinct token's signature once per process.

Decoding an RS256 access token and verifying its signature costs about 100 µs, and a client
sends the same token with every request until it expires. A token whose signature and claims
verified once is those same bytes on every later request, so its validated form is kept in a
bounded per-process LRU keyed by the raw token, and each later use checks only its expiry
again. Nothing else changes: an expired, malformed or foreign-signed token gets the same 401
as before (those are never cached), and no request reaches the auth role or the user table.
The keys, issuer and audience are fixed for the life of the process, as they are for
simplejwt's own token backend.

``BrowsableAPICookieAuthentication`` lets a person who logged in at /api-auth/login/ browse
the telemetry role, which keeps no sessions, with the access token that login sets in a cookie.
"""

from __future__ import annotations

import functools

from django.conf import settings
from rest_framework import exceptions
from rest_framework.authentication import CSRFCheck
from rest_framework.renderers import BrowsableAPIRenderer
from rest_framework_simplejwt.authentication import JWTStatelessUserAuthentication
from rest_framework_simplejwt.exceptions import InvalidToken, TokenError
from rest_framework_simplejwt.tokens import Token
from rest_framework_simplejwt.utils import aware_utcnow

# Distinct tokens in use per process; a cached token is a few kilobytes at most.
VERIFIED_TOKENS_PER_PROCESS = 2048


@functools.lru_cache(maxsize=VERIFIED_TOKENS_PER_PROCESS)
def _verified(raw_token: bytes) -> Token:
    """The fully validated token (signature, issuer, audience, type, expiry); raises, and
    then caches nothing, when it does not validate."""
    return JWTStatelessUserAuthentication().get_validated_token(raw_token)


class VerifiedOnceJWTAuthentication(JWTStatelessUserAuthentication):
    """``JWTStatelessUserAuthentication`` that verifies a given token's signature only once."""

    def get_validated_token(self, raw_token: bytes) -> Token:
        token = _verified(bytes(raw_token))
        try:
            token.check_exp(current_time=aware_utcnow())
        except TokenError:
            # Expired since it was cached: the full check answers with the usual error.
            return super().get_validated_token(raw_token)
        return token


class BrowsableAPICookieAuthentication(VerifiedOnceJWTAuthentication):
    """The access token of the browsable API's login, from its cookie, for HTML pages only.

    The cookie (``settings.BROWSABLE_API_TOKEN_COOKIE``: HttpOnly, SameSite=Strict, Path=/,
    the access token's lifetime) is set by /api-auth/login/ and cleared by /api-auth/logout/.
    It counts only when DRF negotiated ``BrowsableAPIRenderer`` for the response (negotiation
    runs before authentication), so an API client sending the cookie without a bearer token
    gets the same 401 as with nothing. Unsafe methods also need the CSRF token, checked as
    DRF's ``SessionAuthentication`` does: the cookie is sent by the browser on its own.
    """

    def authenticate(self, request):
        if not isinstance(getattr(request, "accepted_renderer", None), BrowsableAPIRenderer):
            return None
        raw = request.COOKIES.get(settings.BROWSABLE_API_TOKEN_COOKIE)
        if not raw:
            return None
        try:
            token = self.get_validated_token(raw.encode())
        except InvalidToken:
            raise exceptions.AuthenticationFailed(
                "Your browsable API login has expired or is invalid; log in again at "
                "/api-auth/login/.",
                code="browsable_login_expired",
            ) from None
        self.enforce_csrf(request)
        return self.get_user(token), token

    def enforce_csrf(self, request) -> None:
        check = CSRFCheck(lambda _request: None)
        check.process_request(request)  # reads the CSRF cookie into request.META
        reason = check.process_view(request, None, (), {})
        if reason:
            raise exceptions.PermissionDenied(f"CSRF Failed: {reason}")
