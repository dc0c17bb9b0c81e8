"""Writes of the accounts app: registration, login, token rotation and revocation."""

from __future__ import annotations

import logging

from django.contrib.auth import authenticate
from django.contrib.auth.models import update_last_login
from django.db import transaction

from accounts.models import User, normalize_email
from accounts.tokens import (
    InvalidRefreshToken,
    TokenPair,
    refresh_token_parse,
    refresh_token_revoke,
    token_pair_for,
)

logger = logging.getLogger(__name__)


class InvalidCredentials(Exception):
    """Wrong password, unknown email or inactive user: deliberately indistinguishable."""


def user_create(*, email: str, username: str, password: str) -> User:
    """Create an active user. Inputs are validated by the caller's serializer."""
    user = User.objects.create_user(email=email, username=username, password=password)
    logger.info("user registered: id=%s", user.pk)
    return user


def user_login(*, email: str, password: str, request=None) -> tuple[User, TokenPair]:
    user = authenticate(request, email=normalize_email(email), password=password)
    if user is None:
        logger.info("login failed")
        raise InvalidCredentials
    update_last_login(None, user)
    logger.info("login: user id=%s", user.pk)
    return user, token_pair_for(user)


@transaction.atomic
def token_rotate(*, refresh_token: str) -> TokenPair:
    """Exchange a refresh token for a new pair; the old one is revoked.

    Reuse of a rotated token, a revoked token, or a token of a deactivated or deleted user
    raises ``InvalidRefreshToken``.
    """
    token = refresh_token_parse(refresh_token)
    user = User.objects.filter(pk=token.get("user_id"), is_active=True).first()
    if user is None:
        raise InvalidRefreshToken("user is inactive or deleted")
    if not refresh_token_revoke(token):
        raise InvalidRefreshToken("token already rotated")
    return token_pair_for(user)


def token_revoke(*, refresh_token: str) -> None:
    """Log out: the refresh token stops working. A token already revoked is an error."""
    token = refresh_token_parse(refresh_token)
    if not refresh_token_revoke(token):
        raise InvalidRefreshToken("token already revoked")


def user_ensure(*, email: str, username: str, password: str, is_staff: bool = False) -> User:
    """Create the user, or reset the password and flags of an existing one (demo accounts)."""
    user = User.objects.filter(email=normalize_email(email)).first()
    if user is None:
        user = User(email=email, username=username)
    user.is_active = True
    user.is_staff = user.is_superuser = is_staff
    user.set_password(password)
    user.save()
    return user
