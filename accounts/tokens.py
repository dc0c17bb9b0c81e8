"""JWT issue, rotation and revocation on top of simplejwt.

Tokens carry ``user_id`` and ``is_staff`` so the telemetry role can authorize a request from
the token alone. ``is_staff`` is read from the user at every issue and rotation, never
copied from the previous token, so a demotion takes effect at the next refresh.
"""

from __future__ import annotations

from dataclasses import dataclass

from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.tokens import RefreshToken


@dataclass(frozen=True)
class TokenPair:
    access: str
    refresh: str


class InvalidRefreshToken(Exception):
    """The refresh token is malformed, expired, rotated, revoked or its user is inactive."""


def token_pair_for(user) -> TokenPair:
    refresh = RefreshToken.for_user(user)
    # simplejwt writes the id as a string; devices store owner_id as an integer.
    refresh["user_id"] = int(user.pk)
    refresh["is_staff"] = bool(user.is_staff)
    return TokenPair(access=str(refresh.access_token), refresh=str(refresh))


def refresh_token_parse(raw: str) -> RefreshToken:
    """A verified refresh token (signature, expiry, issuer, audience, type, not blacklisted)."""
    try:
        return RefreshToken(raw)
    except TokenError as exc:
        raise InvalidRefreshToken(str(exc)) from None


def refresh_token_revoke(token: RefreshToken) -> bool:
    """Blacklist ``token``; False when it was already revoked (a concurrent rotation won)."""
    _, created = token.blacklist()
    return created
