"""The API's stateless JWT check: each distinct token's signature is verified once per process,
and a token is still refused once it expires."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

from conftest import mint_access_token
from iotserver.authentication import _verified

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _no_verified_tokens():
    _verified.cache_clear()
    yield
    _verified.cache_clear()


def topics(token: str):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client.get("/iot")


def other_private_key() -> bytes:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def test_a_token_is_verified_once_then_recognised():
    token = mint_access_token(user_id=5)
    assert topics(token).status_code == 200
    assert topics(token).status_code == 200
    assert topics(mint_access_token(user_id=6)).status_code == 200
    info = _verified.cache_info()
    assert (info.misses, info.hits, info.currsize) == (2, 1, 2)


def test_tokens_that_do_not_verify_are_refused_and_never_kept():
    good = mint_access_token(user_id=5)
    head, body, _ = good.split(".")
    claims = jwt.decode(good, options={"verify_signature": False})
    foreign_signed = jwt.encode(claims, other_private_key(), algorithm="RS256")
    for bad in (f"{head}.{body}.AAAA", "garbage", foreign_signed):
        response = topics(bad)
        assert response.status_code == 401, bad
        assert response.json()["code"] == "token_not_valid"
    assert _verified.cache_info().currsize == 0


def test_a_kept_token_is_refused_once_it_expires():
    token = AccessToken()
    token["user_id"] = 5
    expires = int(time.time()) + 2
    token["exp"] = expires
    assert topics(str(token)).status_code == 200
    assert _verified.cache_info().currsize == 1
    time.sleep(max(0.0, expires - time.time()) + 0.2)
    response = topics(str(token))
    assert response.status_code == 401
    assert response.json()["code"] == "token_not_valid"
    assert datetime.now(UTC).timestamp() > expires
