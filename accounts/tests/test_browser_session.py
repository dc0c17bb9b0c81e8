"""Cookie sessions for the dashboard: refresh token in an HttpOnly cookie, CSRF-protected."""

import pytest
from django.test import Client

from accounts.tests.factories import PASSWORD

pytestmark = pytest.mark.django_db


@pytest.fixture
def browser():
    return Client(enforce_csrf_checks=True)


def csrf(browser: Client) -> str:
    assert browser.get("/auth/session/csrf").status_code == 204
    return browser.cookies["csrftoken"].value


def session_login(browser, email, token):
    return browser.post(
        "/auth/session/login",
        {"email": email, "password": PASSWORD},
        content_type="application/json",
        HTTP_X_CSRFTOKEN=token,
    )


def test_login_sets_httponly_strict_cookie_and_returns_access_only(browser, user):
    response = session_login(browser, user.email, csrf(browser))
    assert response.status_code == 200
    assert set(response.json()) == {"auth_token"}
    cookie = response.cookies["iot_refresh"]
    assert (
        cookie["httponly"] and cookie["samesite"] == "Strict" and cookie["path"] == "/auth/session"
    )


def test_login_without_csrf_token_is_403(browser, user):
    csrf(browser)
    response = browser.post(
        "/auth/session/login",
        {"email": user.email, "password": PASSWORD},
        content_type="application/json",
    )
    assert response.status_code == 403
    assert "iot_refresh" not in response.cookies


def test_refresh_rotates_cookie_and_logout_revokes_it(browser, user):
    token = csrf(browser)
    session_login(browser, user.email, token)
    first = browser.cookies["iot_refresh"].value
    refreshed = browser.post("/auth/session/refresh", HTTP_X_CSRFTOKEN=token)
    assert refreshed.status_code == 200 and refreshed.json()["auth_token"]
    second = browser.cookies["iot_refresh"].value
    assert second != first
    assert browser.post("/auth/session/logout", HTTP_X_CSRFTOKEN=token).status_code == 204
    assert browser.cookies["iot_refresh"].value == ""
    # the revoked token is refused even if replayed by hand
    browser.cookies["iot_refresh"] = second
    assert browser.post("/auth/session/refresh", HTTP_X_CSRFTOKEN=token).status_code == 401


def test_refresh_without_cookie_is_401(browser):
    token = csrf(browser)
    response = browser.post("/auth/session/refresh", HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 401
    assert response.json()["detail"]


@pytest.mark.parametrize("path", ["/auth/session/login", "/auth/session/refresh"])
def test_csrf_failure_and_unknown_method_answer_json(browser, path):
    refused = browser.post(path, {}, content_type="application/json")
    unknown = browser.generic("QUERY", path)

    assert refused.status_code == 403 and refused.json()["detail"].startswith("CSRF Failed")
    assert unknown.status_code == 405 and unknown.json() == {
        "detail": 'Method "QUERY" not allowed.'
    }
