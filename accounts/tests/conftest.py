import pytest
from rest_framework.test import APIClient

from accounts.tests.factories import PASSWORD, UserFactory


@pytest.fixture
def user(db):
    return UserFactory()


@pytest.fixture
def staff(db):
    return UserFactory(is_staff=True)


def login(client: APIClient, email: str, password: str = PASSWORD):
    return client.post("/auth/login", {"email": email, "password": password}, format="json")


@pytest.fixture
def tokens(api_client, user):
    response = login(api_client, user.email)
    assert response.status_code == 200, response.content
    return response.json()


@pytest.fixture
def authed(tokens):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['auth_token']}")
    return client
