"""Reads of the accounts app."""

from __future__ import annotations

from django.contrib.auth.tokens import default_token_generator
from django.db.models import QuerySet
from django.utils.http import urlsafe_base64_decode

from accounts.models import AccountEvent, User, normalize_email


def user_list() -> QuerySet[User]:
    return User.objects.order_by("id")


def user_get_visible(*, user_id: int, viewer: User) -> User | None:
    """The user ``user_id`` if ``viewer`` may see them (themself or staff), else None."""
    if viewer.is_staff or viewer.pk == user_id:
        return User.objects.filter(pk=user_id).first()
    return None


def email_taken(*, email: str) -> bool:
    return User.objects.filter(email=normalize_email(email)).exists()


def username_taken(*, username: str) -> bool:
    return User.objects.filter(username__iexact=username).exists()


def user_get_for_password_reset(
    *, email: str | None = None, user_id: int | None = None
) -> User | None:
    """The active user with this email (or id) who has a usable password, else None: only
    they may reset a password by email (Django's ``PasswordResetForm`` rule)."""
    if email is None and user_id is None:
        return None
    users = User.objects.filter(is_active=True)
    users = users.filter(email=normalize_email(email)) if email is not None else users
    users = users.filter(pk=user_id) if user_id is not None else users
    user = users.first()
    return user if user is not None and user.has_usable_password() else None


def user_get_by_reset_token(*, uid: str, token: str) -> User | None:
    """The user of a password reset email's ``uid`` (base64 of the id) if ``token`` is a
    valid ``default_token_generator`` token for them, else None."""
    try:
        user_id = int(urlsafe_base64_decode(uid).decode())
    except (ValueError, TypeError, OverflowError, UnicodeDecodeError):
        return None
    user = user_get_for_password_reset(user_id=user_id)
    if user is None or not default_token_generator.check_token(user, token):
        return None
    return user


def account_event_oldest_unpublished() -> AccountEvent | None:
    """The oldest outbox event the relay has not published yet (the auth side's lag)."""
    return AccountEvent.objects.filter(published_at__isnull=True).order_by("id").first()
