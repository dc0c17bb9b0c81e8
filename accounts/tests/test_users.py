import pytest
from rest_framework.test import APIClient

from accounts.tests.conftest import login
from accounts.tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def client_of(user) -> APIClient:
    client = APIClient()
    token = login(client, user.email).json()["auth_token"]
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def test_staff_lists_users_in_original_shape(staff, django_assert_max_num_queries):
    UserFactory.create_batch(3)
    client = client_of(staff)
    with django_assert_max_num_queries(4):
        response = client.get("/users")
    assert response.status_code == 200
    data = response.json()["data"]
    assert data["count"] == 4
    assert {tuple(sorted(u)) for u in data["users"]} == {("active", "email", "id", "username")}


def test_users_list_is_paginated(staff):
    UserFactory.create_batch(4)
    response = client_of(staff).get("/users?page_size=2")
    data = response.json()["data"]
    assert len(data["users"]) == 2 and data["count"] == 5
    assert data["next"].startswith("http://testserver/users?")
    assert data["previous"] is None


def test_non_staff_cannot_list_users(user):
    response = client_of(user).get("/users")
    assert response.status_code == 403
    assert response.json()["detail"]


def test_user_sees_self(user):
    response = client_of(user).get(f"/users/{user.pk}")
    assert response.status_code == 200
    assert response.json()["data"]["email"] == user.email


def test_other_users_record_is_404_like_missing(user):
    other = UserFactory()
    client = client_of(user)
    hidden = client.get(f"/users/{other.pk}")
    missing = client.get("/users/999999")
    assert hidden.status_code == missing.status_code == 404
    assert hidden.json() == missing.json()


def test_staff_sees_anyone(staff, user):
    assert client_of(staff).get(f"/users/{user.pk}").json()["data"]["id"] == user.pk


def test_unauthenticated_users_list_is_401(api_client):
    assert api_client.get("/users").status_code == 401
