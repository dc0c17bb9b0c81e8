"""Users of iotserver (email is the login, matched case-insensitively) and their refresh
token chains."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.db import models
from django.utils import timezone


def normalize_email(email: str) -> str:
    return (email or "").strip().lower()


class UserManager(BaseUserManager["User"]):
    def get_by_natural_key(self, username):
        return self.get(email=normalize_email(username))

    def create_user(self, email: str, username: str, password: str | None = None, **extra):
        if not email:
            raise ValueError("email is required")
        user = self.model(email=normalize_email(email), username=username, **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, username: str, password: str | None = None, **extra):
        extra.update(is_staff=True, is_superuser=True)
        return self.create_user(email, username, password, **extra)


class User(AbstractBaseUser, PermissionsMixin):
    """A person who owns devices. ``is_active`` is the original design's ``active`` flag."""

    # Stored lowercased (see save), so the unique index is also case-insensitive.
    email = models.EmailField(max_length=254, unique=True)
    username = models.CharField(
        max_length=128, unique=True, validators=[UnicodeUsernameValidator()]
    )
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False)
    date_joined = models.DateTimeField(default=timezone.now)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS = ["username"]

    class Meta:
        ordering = ["id"]

    def save(self, *args, **kwargs):
        self.email = normalize_email(self.email)
        super().save(*args, **kwargs)

    def __str__(self) -> str:
        return self.email


class RefreshChain(models.Model):
    """One login and every refresh token rotated from it, named by the tokens' ``sid`` claim.

    The chain, not the single token, is what ends: ``JWT_SESSION_MAX_DAYS`` after the login,
    when a token of it that was already rotated is presented again (theft detection), at
    logout, logout-all or a password change or reset. ``auth_hash`` is the user's
    ``get_session_auth_hash()`` at login, so a password set anywhere (admin,
    ``changepassword``) ends the chain as it ends Django sessions.
    """

    class EndReason(models.TextChoices):
        LOGOUT = "logout", "logged out"
        REUSE = "reuse", "a rotated refresh token was presented again"
        LOGOUT_ALL = "logout_all", "logged out everywhere"
        PASSWORD_CHANGE = "password_change", "password changed"
        PASSWORD_RESET = "password_reset", "password reset by email"
        DEACTIVATED = "deactivated", "account deactivated"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="refresh_chains")
    started_at = models.DateTimeField(default=timezone.now)
    auth_hash = models.CharField(max_length=128)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_reason = models.CharField(max_length=32, choices=EndReason.choices, blank=True)

    class Meta:
        ordering = ["started_at"]

    def __str__(self) -> str:
        return f"refresh chain {self.pk} of user {self.user_id}"

    @property
    def ends_at(self) -> datetime:
        # Read from settings at every use: lowering JWT_SESSION_MAX_DAYS shortens live chains.
        return self.started_at + timedelta(days=settings.JWT_SESSION_MAX_DAYS)


class AccountEvent(models.Model):
    """A change of an account the telemetry side must hear of: the transactional outbox.

    Written in the same transaction as the change (``accounts.outbox``), so an event exists
    exactly when its change was committed; the relay publishes it at least once and stamps
    ``published_at``. ``user_id`` is a plain integer: the event outlives a deleted user.
    ``seq`` counts the events of one user from 1; the consumer applies an event only when its
    ``seq`` is above the last it applied, so redeliveries and late arrivals change nothing.
    ``payload`` is the account's state after the change (``active``), so the newest event
    alone says where the account stands.
    """

    class Type(models.TextChoices):
        DEACTIVATED = "user.deactivated", "deactivated"
        REACTIVATED = "user.reactivated", "reactivated"
        DELETED = "user.deleted", "deleted"
        PASSWORD_CHANGED = "user.password_changed", "password changed"

    id = models.BigAutoField(primary_key=True)
    user_id = models.BigIntegerField()
    type = models.CharField(max_length=32, choices=Type.choices)
    payload = models.JSONField(default=dict)
    seq = models.PositiveIntegerField()
    created_at = models.DateTimeField(default=timezone.now)
    published_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["user_id", "seq"], name="accounts_event_user_seq_uniq")
        ]
        indexes = [
            models.Index(fields=["published_at", "id"], name="accounts_event_unpub_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.type} of user {self.user_id} (#{self.seq})"
