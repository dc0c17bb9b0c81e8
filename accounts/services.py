"""Writes of the accounts app: registration, login, token rotation and revocation, passwords."""

from __future__ import annotations

import logging
import smtplib
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth import authenticate
from django.contrib.auth.models import update_last_login
from django.contrib.auth.tokens import default_token_generator
from django.core.mail import send_mail
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.crypto import constant_time_compare
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from rest_framework_simplejwt.tokens import RefreshToken

from accounts import selectors
from accounts.models import AccountEvent, RefreshChain, User, normalize_email
from accounts.outbox import account_event_record
from accounts.tokens import (
    InvalidRefreshToken,
    TokenPair,
    refresh_token_chain_id,
    refresh_token_parse,
    refresh_token_revoke,
    token_pair_for,
)

logger = logging.getLogger(__name__)

EndReason = RefreshChain.EndReason


class InvalidCredentials(Exception):
    """Wrong password, unknown email or inactive user: deliberately indistinguishable."""


def user_create(*, email: str, username: str, password: str) -> User:
    """Create an active user. Inputs are validated by the caller's serializer."""
    user = User.objects.create_user(email=email, username=username, password=password)
    logger.info("user registered: id=%s", user.pk)
    return user


@transaction.atomic
def user_login(*, email: str, password: str, request=None) -> tuple[User, TokenPair]:
    """Authenticate and start a refresh token chain, which ends ``JWT_SESSION_MAX_DAYS``
    from now however often it is rotated."""
    user = authenticate(request, email=normalize_email(email), password=password)
    if user is None:
        logger.info("login failed")
        raise InvalidCredentials
    update_last_login(None, user)
    # After authenticate(), which may have rehashed the password with the current hasher.
    chain = RefreshChain.objects.create(user=user, auth_hash=user.get_session_auth_hash())
    logger.info("login: user id=%s", user.pk)
    return user, token_pair_for(user, chain=chain)


def _chain_for_update(token: RefreshToken) -> RefreshChain:
    """The token's chain, locked, if it has not ended; else ``InvalidRefreshToken``."""
    chain_id = refresh_token_chain_id(token)
    chain = (
        RefreshChain.objects.select_for_update(of=("self",))
        .select_related("user")
        .filter(pk=chain_id)
        .first()
        if chain_id
        else None
    )
    if chain is None or chain.user_id != token.get("user_id"):
        raise InvalidRefreshToken("token belongs to no session")  # or predates sessions
    if chain.revoked_at is not None:
        raise InvalidRefreshToken("session revoked")
    return chain


def _chain_end(chain: RefreshChain, *, reason: str) -> None:
    chain.revoked_at = timezone.now()
    chain.revoked_reason = reason
    chain.save(update_fields=["revoked_at", "revoked_reason"])


def _chain_reused(chain: RefreshChain) -> InvalidRefreshToken:
    # Called after the chain's end is committed: raising inside the atomic block would undo it.
    logger.warning(
        "refresh token presented again after rotation: session %s of user id=%s revoked",
        chain.pk,
        chain.user_id,
    )
    return InvalidRefreshToken("token reused; session revoked")


def token_rotate(*, refresh_token: str) -> TokenPair:
    """Exchange a refresh token for a new pair in the same chain; the old one is revoked.

    A token that was already rotated (or logged out) ends its whole chain, so the newest
    token, whoever holds it, stops working too (OAuth 2.0 Security BCP, refresh token
    rotation). That includes two clients racing with one token: the loser ends the session.
    An ended or expired chain, a password set since the login, or a deactivated or deleted
    user raises ``InvalidRefreshToken``.
    """
    token = refresh_token_parse(refresh_token)
    with transaction.atomic():
        chain = _chain_for_update(token)
        user = chain.user
        if not user.is_active:
            raise InvalidRefreshToken("user is inactive")
        if timezone.now() >= chain.ends_at:
            raise InvalidRefreshToken("session reached JWT_SESSION_MAX_DAYS")
        if not constant_time_compare(chain.auth_hash, user.get_session_auth_hash()):
            raise InvalidRefreshToken("password changed since login")
        if refresh_token_revoke(token):
            return token_pair_for(user, chain=chain)
        _chain_end(chain, reason=EndReason.REUSE)
    raise _chain_reused(chain)


def token_revoke(*, refresh_token: str) -> None:
    """Log out: the token's chain ends. A token already rotated or revoked is an error, and
    ends the chain too (the newest token may be in a thief's hands)."""
    token = refresh_token_parse(refresh_token)
    with transaction.atomic():
        chain = _chain_for_update(token)
        fresh = refresh_token_revoke(token)
        _chain_end(chain, reason=EndReason.LOGOUT if fresh else EndReason.REUSE)
    if not fresh:
        raise _chain_reused(chain)
    logger.info("logout: user id=%s", chain.user_id)


def user_sessions_end(*, user: User, reason: str) -> int:
    """End every refresh token chain of ``user``; how many were still live.

    Access tokens already issued stay valid until they expire (``JWT_ACCESS_MINUTES``):
    they are verified without a database, by the telemetry role too.
    """
    ended = RefreshChain.objects.filter(user=user, revoked_at__isnull=True).update(
        revoked_at=timezone.now(), revoked_reason=reason
    )
    logger.info("sessions ended: user id=%s reason=%s count=%s", user.pk, reason, ended)
    return ended


@transaction.atomic
def user_password_set(*, user: User, password: str, reason: str) -> None:
    """Set a password already validated by the caller and end every session of the user."""
    user.set_password(password)
    user.save(update_fields=["password"])
    user_sessions_end(user=user, reason=reason)
    account_event_record(user=user, type=AccountEvent.Type.PASSWORD_CHANGED)
    logger.info("password set: user id=%s reason=%s", user.pk, reason)


def _user_locked(user: User) -> User:
    """The user's row, locked for the transaction: one user's events get their seqs in turn."""
    return User.objects.select_for_update().get(pk=user.pk)


@transaction.atomic
def user_active_set(*, user: User, active: bool) -> User:
    """Deactivate or reactivate an account; the telemetry side hears of it by the outbox.

    Deactivating ends every session (refresh tokens); the user's devices are then disabled
    by the telemetry side, and enabled again at reactivation. Setting the state the account
    already has changes nothing and records no event.
    """
    locked = _user_locked(user)
    if locked.is_active == active:
        user.is_active = active
        return user
    locked.is_active = user.is_active = active
    locked.save(update_fields=["is_active"])
    if not active:
        user_sessions_end(user=locked, reason=EndReason.DEACTIVATED)
    kind = AccountEvent.Type.REACTIVATED if active else AccountEvent.Type.DEACTIVATED
    account_event_record(user=locked, type=kind)
    logger.info("user id=%s %s", user.pk, "reactivated" if active else "deactivated")
    return user


@transaction.atomic
def user_delete(*, user: User) -> None:
    """Delete an account; the telemetry side deletes its devices and, with
    ``ACCOUNT_DELETE_DATA=purge``, their readings (``keep``: kept for staff)."""
    locked = _user_locked(user)
    account_event_record(user=locked, type=AccountEvent.Type.DELETED)
    user_id = locked.pk
    locked.delete()
    logger.info("user id=%s deleted", user_id)


def password_reset_request(*, email: str, reset_url: str) -> None:
    """Queue the reset email if an active user has this email; do nothing visible otherwise.

    The email is sent by a Celery task (a worker when ``REDIS_URL`` is set), so the answer
    takes as long whether the account exists or not. The token is made by the task, so it
    never passes through the broker.
    """
    user = selectors.user_get_for_password_reset(email=email)
    if user is None:
        logger.info("password reset requested for no active account")
        return
    from accounts import tasks  # tasks import this module

    try:
        tasks.password_reset_email_send.delay(user_id=user.pk, reset_url=reset_url)
    except Exception as exc:  # a broker outage must not answer differently for real accounts
        logger.error("password reset email not queued: user id=%s: %r", user.pk, exc)


def password_reset_email_send(*, user_id: int, reset_url: str) -> bool:
    """Email the user a link carrying ``uid`` and a ``default_token_generator`` token (valid
    ``PASSWORD_RESET_TIMEOUT``, until the password changes or they log in). False when not
    sent; the token and the email body are never logged."""
    user = selectors.user_get_for_password_reset(user_id=user_id)
    if user is None:
        return False
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    token = default_token_generator.make_token(user)
    # In the fragment, which browsers never send to a server, so no access log keeps it.
    link = f"{reset_url}#{urlencode({'uid': uid, 'token': token})}"
    valid_hours = settings.PASSWORD_RESET_TIMEOUT // 3600
    context = {"user": user, "uid": uid, "token": token, "link": link, "valid_hours": valid_hours}
    try:
        send_mail(
            subject="Reset your iotserver password",
            message=render_to_string("accounts/password_reset_email.txt", context),
            from_email=None,
            recipient_list=[user.email],
        )
    except (smtplib.SMTPException, OSError) as exc:
        logger.warning("password reset email not sent: user id=%s: %s", user.pk, type(exc).__name__)
        return False
    logger.info("password reset email sent: user id=%s", user.pk)
    return True


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
