"""Refresh token chains: theft detection on reuse, absolute lifetime, logout-all."""

import logging
from datetime import timedelta

import jwt
import pytest
from django.utils import timezone
from rest_framework.test import APIClient
from rest_framework_simplejwt.token_blacklist.models import OutstandingToken
from rest_framework_simplejwt.tokens import RefreshToken

from accounts.models import RefreshChain
from accounts.tests.conftest import login
from accounts.tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db


def claims(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


def refresh(client: APIClient, token: str):
    return client.post("/auth/refresh", {"refresh_token": token}, format="json")


def bearer(access: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    return client


def chain_of(token: str) -> RefreshChain:
    return RefreshChain.objects.get(pk=claims(token)["sid"])


def test_rotation_stays_in_the_login_chain(api_client, tokens):
    second = refresh(api_client, tokens["refresh_token"]).json()
    assert claims(second["refresh_token"])["sid"] == claims(tokens["refresh_token"])["sid"]
    assert RefreshChain.objects.count() == 1


def test_reusing_a_rotated_token_revokes_the_whole_chain(api_client, tokens, caplog):
    caplog.set_level(logging.WARNING)
    second = refresh(api_client, tokens["refresh_token"])
    assert second.status_code == 200
    newest = second.json()["refresh_token"]

    reuse = refresh(api_client, tokens["refresh_token"])
    assert reuse.status_code == 401
    assert reuse.json() == {"detail": "Refresh token is invalid, expired or revoked."}
    # The legitimate holder's newest token is dead too: the thief's copy could be this one.
    assert refresh(api_client, newest).status_code == 401
    assert chain_of(newest).revoked_reason == RefreshChain.EndReason.REUSE
    assert "presented again after rotation" in caplog.text
    assert tokens["refresh_token"] not in caplog.text and newest not in caplog.text


def test_reuse_ends_only_that_chain(api_client, user, tokens):
    other_login = login(api_client, user.email).json()
    refresh(api_client, tokens["refresh_token"])
    refresh(api_client, tokens["refresh_token"])  # reuse: this chain ends
    assert refresh(api_client, other_login["refresh_token"]).status_code == 200


def test_logout_with_a_rotated_token_ends_the_chain(api_client, tokens):
    newest = refresh(api_client, tokens["refresh_token"]).json()["refresh_token"]
    stale = api_client.post(
        "/auth/logout", {"refresh_token": tokens["refresh_token"]}, format="json"
    )
    assert stale.status_code == 401
    assert refresh(api_client, newest).status_code == 401


def test_refresh_after_the_session_max_days_is_401(api_client, tokens, settings):
    assert settings.JWT_SESSION_MAX_DAYS == 30
    newest = refresh(api_client, tokens["refresh_token"]).json()["refresh_token"]
    chain = chain_of(newest)
    chain.started_at = timezone.now() - timedelta(days=30, seconds=1)
    chain.save()
    # The token's own exp (24 h after its rotation) has not passed; the chain's end has.
    assert claims(newest)["exp"] > timezone.now().timestamp()
    assert refresh(api_client, newest).status_code == 401


def test_rotated_token_never_outlives_the_chain(api_client, tokens):
    chain = chain_of(tokens["refresh_token"])
    chain.started_at = timezone.now() - timedelta(days=30) + timedelta(hours=1)
    chain.save()
    ends_at = int(chain.ends_at.timestamp())

    fresh = refresh(api_client, tokens["refresh_token"]).json()
    assert claims(fresh["refresh_token"])["exp"] == ends_at  # not 24 h from now
    assert claims(fresh["auth_token"])["exp"] <= ends_at
    again = refresh(api_client, fresh["refresh_token"]).json()
    assert claims(again["refresh_token"])["exp"] == ends_at
    recorded = OutstandingToken.objects.get(jti=claims(again["refresh_token"])["jti"])
    assert int(recorded.expires_at.timestamp()) == ends_at


def test_session_max_days_comes_from_settings(api_client, tokens, settings):
    settings.JWT_SESSION_MAX_DAYS = 1
    chain = chain_of(tokens["refresh_token"])
    chain.started_at = timezone.now() - timedelta(hours=25)
    chain.save()
    assert refresh(api_client, tokens["refresh_token"]).status_code == 401


def test_token_without_a_chain_is_401(api_client, user):
    """Refresh tokens issued before chains existed: log in again."""
    legacy = RefreshToken.for_user(user)
    legacy["user_id"] = user.pk
    assert refresh(api_client, str(legacy)).status_code == 401


def test_session_cookie_reuse_ends_the_session(api_client, user):
    response = api_client.post(
        "/auth/session/login", {"email": user.email, "password": PASSWORD}, format="json"
    )
    assert response.status_code == 200
    first = response.cookies["iot_refresh"].value
    assert 0 < int(response.cookies["iot_refresh"]["max-age"]) <= 24 * 3600
    rotated = api_client.post("/auth/session/refresh")
    assert rotated.status_code == 200
    newest = rotated.cookies["iot_refresh"].value

    thief = APIClient()
    thief.cookies["iot_refresh"] = first
    assert thief.post("/auth/session/refresh").status_code == 401
    api_client.cookies["iot_refresh"] = newest
    assert api_client.post("/auth/session/refresh").status_code == 401


def test_outstanding_tokens_keep_no_copy_of_the_token(tokens):
    recorded = OutstandingToken.objects.get(jti=claims(tokens["refresh_token"])["jti"])
    assert recorded.token == ""


def test_password_set_outside_the_api_ends_sessions(api_client, tokens, user):
    """The admin's or changepassword's password change: the chain remembers the old one."""
    user.set_password("An0ther-long-passphrase")
    user.save()
    assert refresh(api_client, tokens["refresh_token"]).status_code == 401


def test_logout_all_revokes_every_refresh_token_of_the_user(api_client, user, tokens):
    second_device = login(api_client, user.email).json()
    rotated = refresh(api_client, second_device["refresh_token"]).json()
    stranger = UserFactory()
    stranger_tokens = login(api_client, stranger.email).json()

    response = bearer(tokens["auth_token"]).post("/auth/logout-all")
    assert response.status_code == 204
    assert refresh(api_client, tokens["refresh_token"]).status_code == 401
    assert refresh(api_client, rotated["refresh_token"]).status_code == 401
    assert set(RefreshChain.objects.filter(user=user).values_list("revoked_reason", flat=True)) == {
        RefreshChain.EndReason.LOGOUT_ALL
    }
    # Another user's sessions are untouched.
    assert refresh(api_client, stranger_tokens["refresh_token"]).status_code == 200
    # Access tokens are stateless: the one in hand works until it expires (documented).
    assert bearer(tokens["auth_token"]).get("/auth/me").status_code == 200


def test_logout_all_needs_an_access_token(api_client, tokens):
    assert api_client.post("/auth/logout-all").status_code == 401
    refresh_as_bearer = bearer(tokens["refresh_token"]).post("/auth/logout-all")
    assert refresh_as_bearer.status_code == 401
    assert refresh(api_client, tokens["refresh_token"]).status_code == 200
