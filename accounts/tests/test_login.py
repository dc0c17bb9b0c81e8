import logging

import pytest

from accounts.tests.conftest import login
from accounts.tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db


def test_login_returns_original_shape_plus_refresh(api_client, user):
    response = login(api_client, user.email)
    assert response.status_code == 200
    body = response.json()
    assert body["message"] == "Successfully logged in."
    assert set(body) == {"message", "auth_token", "refresh_token"}


def test_login_email_is_case_insensitive(api_client, user):
    assert login(api_client, user.email.upper()).status_code == 200


def test_wrong_password_and_unknown_email_get_the_same_401(api_client, user):
    wrong = login(api_client, user.email, "Wrong-password-1")
    unknown = login(api_client, "nobody@example.com", PASSWORD)
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json() == {"detail": "Invalid email or password."}


def test_inactive_user_cannot_log_in_and_gets_the_same_body(api_client):
    user = UserFactory(is_active=False)
    response = login(api_client, user.email)
    assert response.status_code == 401
    assert response.json() == {"detail": "Invalid email or password."}


def test_login_missing_password_is_400(api_client, user):
    response = api_client.post("/auth/login", {"email": user.email}, format="json")
    assert response.status_code == 400
    assert "password" in response.json()


def test_login_throttled_per_email_across_ips(api_client, user):
    for i in range(5):
        r = api_client.post(
            "/auth/login",
            {"email": user.email, "password": "nope-nope-1"},
            format="json",
            REMOTE_ADDR=f"10.0.0.{i}",
        )
        assert r.status_code == 401
    response = api_client.post(
        "/auth/login",
        {"email": user.email, "password": PASSWORD},
        format="json",
        REMOTE_ADDR="10.0.0.99",
    )
    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    # another account from the same IP is unaffected
    other = UserFactory()
    assert login(api_client, other.email).status_code == 200


def test_login_throttled_per_ip_across_emails(api_client, db):
    for i in range(30):
        r = api_client.post(
            "/auth/login", {"email": f"x{i}@example.com", "password": "pw"}, format="json"
        )
        assert r.status_code == 401
    r = api_client.post(
        "/auth/login", {"email": "x99@example.com", "password": "pw"}, format="json"
    )
    assert r.status_code == 429


def test_password_and_tokens_never_reach_the_logs(api_client, user, caplog):
    caplog.set_level(logging.DEBUG)
    ok = login(api_client, user.email)
    login(api_client, user.email, "Wrong-password-xyz")
    tokens = ok.json()
    api_client.post("/auth/refresh", {"refresh_token": tokens["refresh_token"]}, format="json")
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "login" in text  # the login path does log
    for secret in (PASSWORD, "Wrong-password-xyz", tokens["auth_token"], tokens["refresh_token"]):
        assert secret not in text
