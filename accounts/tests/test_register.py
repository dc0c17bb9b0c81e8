import pytest

from accounts.models import User

pytestmark = pytest.mark.django_db

GOOD = {"email": "Alice@Example.com", "username": "alice", "password": "Sup3r-secret-pw"}


def register(client, **overrides):
    return client.post("/auth/register", {**GOOD, **overrides}, format="json")


def test_register_creates_active_user_with_hashed_password(api_client):
    response = register(api_client)
    assert response.status_code == 201
    body = response.json()
    assert body == {
        "id": body["id"],
        "email": "alice@example.com",
        "username": "alice",
        "active": True,
    }
    user = User.objects.get(pk=body["id"])
    assert user.password.startswith("argon2$")
    assert "password" not in body


def test_duplicate_email_in_other_case_is_rejected(api_client):
    assert register(api_client).status_code == 201
    response = register(api_client, email="ALICE@example.COM", username="alice2")
    assert response.status_code == 400
    assert "email" in response.json()
    assert "detail" in response.json()
    assert User.objects.count() == 1


def test_duplicate_username_is_rejected(api_client):
    assert register(api_client).status_code == 201
    response = register(api_client, email="other@example.com", username="ALICE")
    assert response.status_code == 400
    assert "username" in response.json()


@pytest.mark.parametrize("password", ["short", "password123", "12345678901", "alice-example"])
def test_weak_password_is_rejected_with_reason(api_client, password):
    response = register(api_client, password=password)
    assert response.status_code == 400
    assert response.json()["password"]
    assert not User.objects.exists()


@pytest.mark.parametrize("field", ["email", "username", "password"])
def test_missing_field_names_the_field(api_client, field):
    body = {k: v for k, v in GOOD.items() if k != field}
    response = api_client.post("/auth/register", body, format="json")
    assert response.status_code == 400
    assert response.json()[field] == ["This field is required."]


@pytest.mark.parametrize(
    "overrides",
    [
        {"email": 42},
        {"email": "not-an-email"},
        {"username": ["x"]},
        {"password": {"a": 1}},
        {"username": "a b"},
    ],
)
def test_wrongly_typed_fields_are_400(api_client, overrides):
    response = register(api_client, **overrides)
    assert response.status_code == 400
    assert response.json()["detail"]


def test_malformed_json_is_400_json(api_client):
    response = api_client.post("/auth/register", "{not json", content_type="application/json")
    assert response.status_code == 400
    assert "JSON parse error" in response.json()["detail"]


def test_non_object_body_is_400(api_client):
    response = api_client.post("/auth/register", "[1, 2]", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["detail"]


def test_unsupported_media_type_is_415(api_client):
    response = api_client.post("/auth/register", "email=a", content_type="text/plain")
    assert response.status_code == 415
    assert response.json()["detail"]


def test_register_is_throttled_per_ip(api_client, settings):
    for i in range(10):
        assert register(api_client, email=f"u{i}@example.com", username=f"u{i}").status_code == 201
    response = register(api_client, email="u99@example.com", username="u99")
    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    assert User.objects.count() == 10
