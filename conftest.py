"""Fixtures shared by every app's tests."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken


@pytest.fixture(autouse=True)
def _clear_cache():
    """Throttle counters and cached latest values must not leak between tests."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


def mint_access_token(*, user_id: int, is_staff: bool = False) -> str:
    """An access token as the auth role would issue it, without needing a user table."""
    token = AccessToken()
    token["user_id"] = user_id
    token["is_staff"] = is_staff
    return str(token)


@pytest.fixture
def token_for():
    return mint_access_token


@pytest.fixture
def client_for():
    """``client_for(user_id=1, is_staff=False)`` -> an APIClient sending that bearer token."""

    def make(*, user_id: int, is_staff: bool = False) -> APIClient:
        client = APIClient()
        client.credentials(
            HTTP_AUTHORIZATION=f"Bearer {mint_access_token(user_id=user_id, is_staff=is_staff)}"
        )
        return client

    return make
