"""Reads of the accounts app."""

from __future__ import annotations

from django.db.models import QuerySet

from accounts.models import User, normalize_email


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
