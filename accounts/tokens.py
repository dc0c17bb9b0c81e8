"""JWT issue, rotation and revocation on top of simplejwt.

Tokens carry ``user_id`` and ``is_staff`` so the telemetry role can authorize a request from
the token alone. ``is_staff`` is read from the user at every issue and rotation, never
copied from the previous token, so a demotion takes effect at the next refresh.
"""

from __future__ import annotations

from dataclasses import dataclass

from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken, Token


@dataclass(frozen=True)
class TokenPair:
    access: str
    refresh: str


class InvalidRefreshToken(Exception):
    """The refresh token is malformed, expired, rotated, revoked or its user is inactive."""


def _with_user_claims(token: Token, user) -> Token:
    # simplejwt writes the id as a string; devices store owner_id as an integer.
    token["user_id"] = int(user.pk)
    token["is_staff"] = bool(user.is_staff)
    return token


def token_pair_for(user) -> TokenPair:
    refresh = _with_user_claims(RefreshToken.for_user(user), user)
    return TokenPair(access=str(refresh.access_token), refresh=str(refresh))


def access_token_for(user) -> str:
    """An access token with the same claims and lifetime as ``token_pair_for``'s, and no
    refresh token (the browsable API's login keeps none)."""
    return str(_with_user_claims(AccessToken.for_user(user), user))


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
