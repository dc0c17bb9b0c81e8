"""Password change (signed in) and password reset by email; both end every session."""

import logging
import re
import smtplib

import pytest
from celery import current_app
from django.core import mail
from rest_framework.test import APIClient

from accounts import services, tasks
from accounts.models import RefreshChain
from accounts.tests.conftest import login
from accounts.tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def eager_tasks(monkeypatch):
    """The reset email's task runs in the request, as without ``REDIS_URL``: with it (the
    suite's PostgreSQL + Redis pass) it would wait in Redis for a worker this test has not."""
    monkeypatch.setattr(current_app.conf, "CELERY_TASK_ALWAYS_EAGER", True)


NEW_PASSWORD = "Quartz-violet-lantern-42"
RESET_BODY = {
    "message": "If an active account uses this email, a password reset link has been sent to it."
}


def refresh(client: APIClient, token: str):
    return client.post("/auth/refresh", {"refresh_token": token}, format="json")


def change(client: APIClient, current: str, new: str):
    return client.post(
        "/auth/password", {"current_password": current, "new_password": new}, format="json"
    )


def reset_request(client: APIClient, email: str, **extra):
    return client.post("/auth/password-reset", {"email": email}, format="json", **extra)


def confirm(client: APIClient, uid: str, token: str, new_password: str = NEW_PASSWORD):
    return client.post(
        "/auth/password-reset/confirm",
        {"uid": uid, "token": token, "new_password": new_password},
        format="json",
    )


def emailed_uid_and_token(message) -> tuple[str, str]:
    uid = re.search(r"^uid:\s+(\S+)$", message.body, re.M).group(1)
    token = re.search(r"^token:\s+(\S+)$", message.body, re.M).group(1)
    return uid, token


# --- POST /auth/password --------------------------------------------------------------


def test_change_with_wrong_current_password_is_400_naming_the_field(authed, user):
    response = change(authed, "Not-my-password-1", NEW_PASSWORD)
    assert response.status_code == 400
    body = response.json()
    assert body["current_password"] == ["Current password is incorrect."]
    assert "new_password" not in body and body["detail"]
    user.refresh_from_db()
    assert user.check_password(PASSWORD)


@pytest.mark.parametrize("weak", ["short1", "password123", "12345678901"])
def test_change_to_a_weak_password_is_400_with_the_rules(authed, user, weak):
    response = change(authed, PASSWORD, weak)
    assert response.status_code == 400
    assert response.json()["new_password"]
    user.refresh_from_db()
    assert user.check_password(PASSWORD)


def test_change_sets_the_password_and_revokes_every_refresh_token(api_client, authed, user, tokens):
    other_device = login(api_client, user.email).json()
    response = change(authed, PASSWORD, NEW_PASSWORD)
    assert response.status_code == 204
    assert refresh(api_client, tokens["refresh_token"]).status_code == 401
    assert refresh(api_client, other_device["refresh_token"]).status_code == 401
    assert set(RefreshChain.objects.values_list("revoked_reason", flat=True)) == {
        RefreshChain.EndReason.PASSWORD_CHANGE
    }
    assert login(api_client, user.email, PASSWORD).status_code == 401
    assert login(api_client, user.email, NEW_PASSWORD).status_code == 200


def test_change_needs_an_access_token(api_client, user):
    assert change(api_client, PASSWORD, NEW_PASSWORD).status_code == 401


def test_change_attempts_spend_the_accounts_login_budget(authed, api_client, user):
    # The login that issued the access token was the first of the 5 a minute.
    for _ in range(4):
        assert change(authed, "Guess-guess-1", NEW_PASSWORD).status_code == 400
    assert change(authed, PASSWORD, NEW_PASSWORD).status_code == 429
    assert login(api_client, user.email).status_code == 429


def test_change_never_logs_the_passwords(authed, caplog):
    caplog.set_level(logging.DEBUG)
    change(authed, "Wrong-guess-xyz-1", NEW_PASSWORD)
    change(authed, PASSWORD, NEW_PASSWORD)
    assert "password set: user id=" in caplog.text
    for secret in (PASSWORD, NEW_PASSWORD, "Wrong-guess-xyz-1"):
        assert secret not in caplog.text


# --- POST /auth/password-reset and /confirm -------------------------------------------


def test_reset_emails_a_working_token_that_revokes_sessions(api_client, user, tokens):
    response = reset_request(api_client, user.email.upper())
    assert response.status_code == 202
    assert response.json() == RESET_BODY
    (message,) = mail.outbox
    assert message.to == [user.email]
    uid, token = emailed_uid_and_token(message)
    assert f"http://testserver/reset-password#uid={uid}&token={token}" in message.body
    assert "/auth/password-reset/confirm" in message.body

    assert confirm(api_client, uid, token).status_code == 204
    assert login(api_client, user.email, PASSWORD).status_code == 401
    assert refresh(api_client, tokens["refresh_token"]).status_code == 401
    assert RefreshChain.objects.get(user=user).revoked_reason == (
        RefreshChain.EndReason.PASSWORD_RESET
    )
    assert login(api_client, user.email, NEW_PASSWORD).status_code == 200


def test_reset_token_works_once(api_client, user):
    reset_request(api_client, user.email)
    uid, token = emailed_uid_and_token(mail.outbox[0])
    assert confirm(api_client, uid, token).status_code == 204
    again = confirm(api_client, uid, token, "Another-fine-passphrase-7")
    assert again.status_code == 400
    assert "token" in again.json()
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD)


@pytest.mark.parametrize("email", ["nobody@example.com", "inactive"])
def test_reset_for_no_active_account_answers_the_same_and_sends_nothing(api_client, user, email):
    if email == "inactive":
        email = UserFactory(is_active=False).email
    known = reset_request(api_client, user.email)
    mail.outbox.clear()
    unknown = reset_request(api_client, email)
    assert unknown.status_code == known.status_code == 202
    assert unknown.json() == known.json() == RESET_BODY
    assert mail.outbox == []


@pytest.mark.parametrize(
    "uid,token",
    [("MQ", "bad-token"), ("not-base64!", "x"), ("OTk5OTk5", "c5z1t0-0123456789abcdef")],
)
def test_confirm_with_a_bad_uid_or_token_is_400(api_client, user, uid, token):
    response = confirm(api_client, uid, token)
    assert response.status_code == 400
    assert response.json()["token"] == [
        "This reset link is invalid or has expired; request a new one."
    ]
    user.refresh_from_db()
    assert user.check_password(PASSWORD)


def test_confirm_with_a_weak_password_is_400_and_keeps_the_token(api_client, user):
    reset_request(api_client, user.email)
    uid, token = emailed_uid_and_token(mail.outbox[0])
    weak = confirm(api_client, uid, token, "password")
    assert weak.status_code == 400
    assert weak.json()["new_password"]
    assert confirm(api_client, uid, token).status_code == 204


def test_reset_token_expires_when_the_user_logs_in(api_client, user):
    reset_request(api_client, user.email)
    uid, token = emailed_uid_and_token(mail.outbox[0])
    assert login(api_client, user.email).status_code == 200
    assert confirm(api_client, uid, token).status_code == 400


def test_reset_link_base_comes_from_settings(api_client, user, settings):
    settings.PASSWORD_RESET_URL = "https://iot.example.com/account/reset"
    reset_request(api_client, user.email)
    assert "https://iot.example.com/account/reset#uid=" in mail.outbox[0].body


def test_reset_is_throttled_per_email_like_login(api_client, user):
    for i in range(5):
        assert reset_request(api_client, user.email, REMOTE_ADDR=f"10.0.1.{i}").status_code == 202
    throttled = reset_request(api_client, user.email, REMOTE_ADDR="10.0.1.99")
    assert throttled.status_code == 429
    assert int(throttled["Retry-After"]) > 0
    assert len(mail.outbox) == 5


def test_reset_is_throttled_per_ip_like_login(api_client, db):
    for i in range(30):
        assert reset_request(api_client, f"x{i}@example.com").status_code == 202
    assert reset_request(api_client, "x99@example.com").status_code == 429
    assert confirm(api_client, "MQ", "x").status_code == 429


def test_reset_answers_the_same_when_mail_or_broker_fails(api_client, user, monkeypatch):
    def refuse(*args, **kwargs):
        raise smtplib.SMTPServerDisconnected("gone")

    monkeypatch.setattr(services, "send_mail", refuse)
    assert reset_request(api_client, user.email).json() == RESET_BODY

    def broker_down(*args, **kwargs):
        raise ConnectionError("redis down")

    monkeypatch.setattr(tasks.password_reset_email_send, "delay", broker_down)
    response = reset_request(api_client, user.email)
    assert response.status_code == 202 and response.json() == RESET_BODY


def test_reset_never_logs_the_token_or_password(api_client, user, caplog):
    caplog.set_level(logging.DEBUG)
    reset_request(api_client, user.email)
    uid, token = emailed_uid_and_token(mail.outbox[0])
    confirm(api_client, uid, token)
    assert "password reset email sent: user id=" in caplog.text
    assert token not in caplog.text and NEW_PASSWORD not in caplog.text


def test_reset_request_needs_a_valid_email(api_client):
    response = reset_request(api_client, "not-an-email")
    assert response.status_code == 400
    assert "email" in response.json()
