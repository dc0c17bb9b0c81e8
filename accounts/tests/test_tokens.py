"""Access and refresh tokens: claims, rotation, revocation and forged tokens."""

import base64
import json
from datetime import timedelta

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.conf import settings
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

pytestmark = pytest.mark.django_db


def claims(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


def me(token: str):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client.get("/auth/me")


def forge(payload: dict, key, algorithm: str, headers=None) -> str:
    return jwt.encode(payload, key, algorithm=algorithm, headers=headers)


def test_access_token_carries_contract_claims(tokens, user):
    access = claims(tokens["auth_token"])
    assert access["user_id"] == user.pk and isinstance(access["user_id"], int)
    assert access["is_staff"] is False
    assert access["iss"] == "iotserver" and access["aud"] == "iotserver"
    assert access["token_type"] == "access"
    assert access["jti"] and access["exp"] - access["iat"] == 15 * 60
    assert jwt.get_unverified_header(tokens["auth_token"])["alg"] == "RS256"
    refresh = claims(tokens["refresh_token"])
    assert refresh["token_type"] == "refresh" and refresh["exp"] - refresh["iat"] == 24 * 3600


def test_me_returns_the_user(authed, user):
    response = authed.get("/auth/me")
    assert response.status_code == 200
    assert response.json() == {
        "data": {"id": user.pk, "email": user.email, "username": user.username, "active": True}
    }


def test_me_without_token_is_401(api_client):
    response = api_client.get("/auth/me")
    assert response.status_code == 401
    assert response.json()["detail"]


def test_token_in_query_string_is_ignored(api_client, tokens):
    response = api_client.get(f"/auth/me?token={tokens['auth_token']}")
    assert response.status_code == 401


def test_expired_access_token_is_401(user):
    token = AccessToken()
    token["user_id"] = user.pk
    token.set_exp(lifetime=-timedelta(seconds=1))
    response = me(str(token))
    assert response.status_code == 401


def test_tampered_signature_is_401(tokens):
    head, body, sig = tokens["auth_token"].split(".")
    payload = json.loads(base64.urlsafe_b64decode(body + "=="))
    payload["is_staff"] = True
    forged_body = base64.urlsafe_b64encode(json.dumps(payload).encode()).rstrip(b"=").decode()
    assert me(f"{head}.{forged_body}.{sig}").status_code == 401


def test_alg_none_is_401(tokens):
    payload = claims(tokens["auth_token"])
    token = forge(payload, None, "none")
    assert me(token).status_code == 401


def test_hs256_signed_with_public_key_is_401(tokens):
    """Algorithm confusion: the public key used as an HMAC secret."""
    payload = claims(tokens["auth_token"])
    public = settings.SIMPLE_JWT["VERIFYING_KEY"].encode()
    header = base64.urlsafe_b64encode(b'{"alg":"HS256","typ":"JWT"}').rstrip(b"=")
    body = base64.urlsafe_b64encode(json.dumps(payload).encode()).rstrip(b"=")
    import hashlib
    import hmac

    sig = base64.urlsafe_b64encode(hmac.new(public, header + b"." + body, hashlib.sha256).digest())
    token = (header + b"." + body + b"." + sig.rstrip(b"=")).decode()
    assert me(token).status_code == 401


def test_token_signed_with_another_rsa_key_is_401(tokens):
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = other.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    assert me(forge(claims(tokens["auth_token"]), pem, "RS256")).status_code == 401


@pytest.mark.parametrize("claim,value", [("iss", "someone-else"), ("aud", "another-api")])
def test_wrong_issuer_or_audience_is_401(tokens, claim, value):
    payload = {**claims(tokens["auth_token"]), claim: value}
    token = forge(payload, settings.SIMPLE_JWT["SIGNING_KEY"], "RS256")
    assert me(token).status_code == 401


def test_refresh_token_is_not_an_access_token(tokens):
    assert me(tokens["refresh_token"]).status_code == 401


def test_refresh_rotates_and_old_token_is_revoked(api_client, tokens):
    response = api_client.post(
        "/auth/refresh", {"refresh_token": tokens["refresh_token"]}, format="json"
    )
    assert response.status_code == 200
    fresh = response.json()
    assert set(fresh) == {"auth_token", "refresh_token"}
    assert fresh["refresh_token"] != tokens["refresh_token"]
    assert me(fresh["auth_token"]).status_code == 200
    reuse = api_client.post(
        "/auth/refresh", {"refresh_token": tokens["refresh_token"]}, format="json"
    )
    assert reuse.status_code == 401
    assert reuse.json()["detail"]


def test_refresh_picks_up_staff_change(api_client, tokens, user):
    user.is_staff = True
    user.save()
    fresh = api_client.post(
        "/auth/refresh", {"refresh_token": tokens["refresh_token"]}, format="json"
    )
    assert claims(fresh.json()["auth_token"])["is_staff"] is True


def test_access_token_cannot_refresh(api_client, tokens):
    response = api_client.post(
        "/auth/refresh", {"refresh_token": tokens["auth_token"]}, format="json"
    )
    assert response.status_code == 401


def test_refresh_with_garbage_is_401_and_missing_is_400(api_client):
    assert (
        api_client.post("/auth/refresh", {"refresh_token": "abc"}, format="json").status_code == 401
    )
    missing = api_client.post("/auth/refresh", {}, format="json")
    assert missing.status_code == 400
    assert "refresh_token" in missing.json()


def test_logout_revokes_refresh_token(api_client, tokens):
    response = api_client.post(
        "/auth/logout", {"refresh_token": tokens["refresh_token"]}, format="json"
    )
    assert response.status_code == 204
    after = api_client.post(
        "/auth/refresh", {"refresh_token": tokens["refresh_token"]}, format="json"
    )
    assert after.status_code == 401
    again = api_client.post(
        "/auth/logout", {"refresh_token": tokens["refresh_token"]}, format="json"
    )
    assert again.status_code == 401


def test_deactivated_users_refresh_and_me_are_401(api_client, tokens, user):
    user.is_active = False
    user.save()
    response = api_client.post(
        "/auth/refresh", {"refresh_token": tokens["refresh_token"]}, format="json"
    )
    assert response.status_code == 401
    assert me(tokens["auth_token"]).status_code == 401


def test_jwks_publishes_the_verification_key(api_client, tokens):
    response = api_client.get("/.well-known/jwks.json")
    assert response.status_code == 200
    (key,) = response.json()["keys"]
    assert key["kty"] == "RSA" and key["alg"] == "RS256" and key["use"] == "sig" and key["kid"]
    assert "d" not in key  # never the private part
    public = jwt.PyJWK(key).key
    decoded = jwt.decode(tokens["auth_token"], public, algorithms=["RS256"], audience="iotserver")
    assert decoded["token_type"] == "access"
