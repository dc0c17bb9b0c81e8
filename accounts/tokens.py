"""JWT issue, rotation and revocation on top of simplejwt.

Tokens carry ``user_id`` and ``is_staff`` so the telemetry role can authorize a request from
the token alone. ``is_staff`` is read from the user at every issue and rotation, never
copied from the previous token, so a demotion takes effect at the next refresh. Refresh
tokens also carry ``sid``, the id of their ``RefreshChain`` (the login they descend from),
and never outlive that chain's end; neither does the access token issued with them.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.token_blacklist.models import OutstandingToken
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken, Token
from rest_framework_simplejwt.utils import datetime_from_epoch, datetime_to_epoch

from accounts.models import RefreshChain

CHAIN_CLAIM = "sid"


@dataclass(frozen=True)
class TokenPair:
    access: str
    refresh: str
    refresh_expires_at: datetime


class InvalidRefreshToken(Exception):
    """The refresh token is malformed, expired, rotated, revoked or its user is inactive."""


class _ChainedRefreshToken(RefreshToken):
    """simplejwt's refresh token without the blacklist check at decode: rotation and logout
    read a blacklisted (already rotated) token as reuse, which ends its whole chain, rather
    than as garbage."""

    def check_blacklist(self) -> None:
        return None


def _with_user_claims(token: Token, user) -> Token:
    # simplejwt writes the id as a string; devices store owner_id as an integer.
    token["user_id"] = int(user.pk)
    token["is_staff"] = bool(user.is_staff)
    return token


def token_pair_for(user, *, chain: RefreshChain) -> TokenPair:
    """A new pair in ``chain``: the refresh token expires after ``REFRESH_TOKEN_LIFETIME`` or
    at the chain's end, whichever comes first."""
    refresh = _with_user_claims(RefreshToken(), user)
    refresh[CHAIN_CLAIM] = str(chain.pk)
    expires_at = min(datetime_from_epoch(refresh["exp"]), chain.ends_at)
    refresh["exp"] = datetime_to_epoch(expires_at)
    # What simplejwt's for_user records, minus the token itself: the table is a revocation
    # list, and a copy of every live refresh token would hand them out to a database read.
    OutstandingToken.objects.create(
        user=user,
        jti=refresh[api_settings.JTI_CLAIM],
        token="",
        created_at=refresh.current_time,
        expires_at=expires_at,
    )
    access = refresh.access_token
    # Access tokens stay stateless and carry the claims of every other access token.
    del access[CHAIN_CLAIM]
    access["exp"] = min(access["exp"], refresh["exp"])
    return TokenPair(access=str(access), refresh=str(refresh), refresh_expires_at=expires_at)


def access_token_for(user) -> str:
    """An access token with the same claims and lifetime as ``token_pair_for``'s, and no
    refresh token (the browsable API's login keeps none)."""
    return str(_with_user_claims(AccessToken.for_user(user), user))


def refresh_token_parse(raw: str) -> RefreshToken:
    """A verified refresh token (signature, expiry, issuer, audience, type). Whether it was
    already rotated or revoked is for the caller to find out: see ``refresh_token_revoke``."""
    try:
        return _ChainedRefreshToken(raw)
    except TokenError as exc:
        raise InvalidRefreshToken(str(exc)) from None


def refresh_token_chain_id(token: RefreshToken) -> str | None:
    """The ``sid`` claim; None for tokens issued before chains existed."""
    value = token.get(CHAIN_CLAIM)
    try:
        return str(uuid.UUID(value)) if isinstance(value, str) else None
    except ValueError:
        return None


def refresh_token_revoke(token: RefreshToken) -> bool:
    """Blacklist ``token``; False when it was already revoked (rotated, logged out, or a
    concurrent rotation won)."""
    _, created = token.blacklist()
    return created
