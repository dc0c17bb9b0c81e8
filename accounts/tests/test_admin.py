import pytest

from accounts.models import User
from accounts.tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def superuser_client(client):
    admin = User.objects.create_superuser(
        email="Root@Example.com", username="root", password="x-Adm1n-pw"
    )
    client.force_login(admin)
    return client


@pytest.mark.parametrize("url", ["/admin/", "/admin/accounts/user/", "/admin/accounts/user/add/"])
def test_admin_pages_load_for_superuser(superuser_client, url):
    response = superuser_client.get(url)
    assert response.status_code == 200


def test_admin_search_by_email_and_username(superuser_client):
    UserFactory(email="findme@example.com", username="needle")
    UserFactory(email="other@example.com", username="hay")
    by_email = superuser_client.get("/admin/accounts/user/?q=findme")
    by_name = superuser_client.get("/admin/accounts/user/?q=needle")
    assert (
        b"findme@example.com" in by_email.content and b"other@example.com" not in by_email.content
    )
    assert b"findme@example.com" in by_name.content


def test_admin_deactivate_action(superuser_client):
    target = UserFactory()
    response = superuser_client.post(
        "/admin/accounts/user/",
        {"action": "deactivate", "_selected_action": [target.pk]},
    )
    assert response.status_code == 302
    target.refresh_from_db()
    assert target.is_active is False


def test_admin_change_page_loads(superuser_client):
    target = UserFactory()
    assert superuser_client.get(f"/admin/accounts/user/{target.pk}/change/").status_code == 200


def test_anonymous_is_redirected_to_admin_login(client):
    response = client.get("/admin/accounts/user/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_createsuperuser_asks_for_email(db):
    from django.core.management import call_command

    call_command(
        "createsuperuser", interactive=False, email="Boss@Example.com", username="boss", verbosity=0
    )
    assert User.objects.get(username="boss").email == "boss@example.com"


def test_admin_login_attempts_are_limited_per_account_then_answer_429(client):
    User.objects.create_superuser(email="boss@example.com", username="boss", password="x-Adm1n-pw")
    attempt = {"username": "boss@example.com", "password": "wrong", "next": "/admin/"}

    answers = [client.post("/admin/login/", attempt).status_code for _ in range(6)]
    right = client.post("/admin/login/", {**attempt, "password": "x-Adm1n-pw"})

    assert answers == [200] * 5 + [429]  # the form again five times, then refused
    assert right.status_code == 429 and int(right["Retry-After"]) >= 1
    assert client.get("/admin/login/").status_code == 200  # the page itself still loads


def test_admin_login_attempts_are_limited_per_client_address(client, monkeypatch):
    from accounts.throttles import LoginIPThrottle

    monkeypatch.setitem(LoginIPThrottle.THROTTLE_RATES, "login_ip", "3/min")

    answers = [
        client.post(
            "/admin/login/", {"username": f"u{i}@example.com", "password": "wrong"}
        ).status_code
        for i in range(4)
    ]

    assert answers == [200, 200, 200, 429]  # four accounts, one address
