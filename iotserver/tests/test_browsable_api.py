"""DRF's browsable API for a person in a browser: log in at /api-auth/login/ (session and an
access-token cookie), browse /iot and /devices, log out; API clients still need Bearer.

These run in the `all` role; the telemetry role, which keeps no sessions, is checked in a
subprocess with its own settings at the end.
"""

from __future__ import annotations

import json
import sys
from datetime import timedelta

import jwt
import pytest
from django.test import Client
from rest_framework_simplejwt.tokens import AccessToken

from accounts.tests.factories import PASSWORD, UserFactory
from iotserver.tests.test_roles import REPO, key_pair, role_env, run  # noqa: F401 - fixture
from telemetry.services import reading_bulk_append
from telemetry.tests.factories import DeviceFactory, readings

pytestmark = pytest.mark.django_db(databases="__all__")

COOKIE = "iot_access"
HTML = {"HTTP_ACCEPT": "text/html"}
JSON = {"HTTP_ACCEPT": "application/json"}


@pytest.fixture
def person():
    """A user owning device 'greenhouse' with readings on 'greenhouse.temp'."""
    user = UserFactory()
    DeviceFactory(name="greenhouse", owner_id=user.pk)
    reading_bulk_append(readings=readings("greenhouse.temp", 3))
    return user


def browser() -> Client:
    return Client(enforce_csrf_checks=True)


def log_in(client: Client, email: str, password: str = PASSWORD, next_page: str = "/iot"):
    page = client.get("/api-auth/login/", {"next": next_page})
    assert page.status_code == 200
    return client.post(
        "/api-auth/login/",
        {
            "username": email,
            "password": password,
            "next": next_page,
            "csrfmiddlewaretoken": client.cookies["csrftoken"].value,
        },
    )


def cookie_only(token: str) -> Client:
    """A client holding nothing but the access-token cookie (no session, no CSRF cookie)."""
    client = browser()
    client.cookies[COOKIE] = token
    return client


def test_the_session_alone_opens_html_pages_but_not_the_json_api(person):
    client = browser()
    log_in(client, person.email)
    del client.cookies[COOKIE]  # the session cookie only

    assert client.get("/auth/me", **HTML).status_code == 200
    for path in ("/auth/me", "/iot"):
        answer = client.get(path, **JSON)
        assert answer.status_code == 401, path  # bearer-only for API clients, as in the msa


def test_login_form_takes_email_and_password_and_sets_session_and_access_cookie(person):
    client = browser()
    response = log_in(client, person.email.upper())

    assert response.status_code == 302 and response["Location"] == "/iot"
    assert client.cookies["sessionid"].value
    cookie = response.cookies[COOKIE]
    assert cookie["httponly"] and cookie["samesite"] == "Strict" and cookie["path"] == "/"
    assert cookie["secure"]  # tests run with DEBUG off
    assert int(cookie["max-age"]) == 15 * 60
    claims = jwt.decode(cookie.value, options={"verify_signature": False})
    assert claims["token_type"] == "access"
    assert claims["user_id"] == person.pk and claims["is_staff"] is False


def test_cookie_token_has_the_claims_of_an_auth_login_token(person):
    api = Client().post(
        "/auth/login",
        {"email": person.email, "password": PASSWORD},
        content_type="application/json",
    )
    bearer = jwt.decode(api.json()["auth_token"], options={"verify_signature": False})
    response = log_in(browser(), person.email)
    cookie = jwt.decode(response.cookies[COOKIE].value, options={"verify_signature": False})

    assert set(cookie) == set(bearer)
    for claim in ("user_id", "is_staff", "token_type", "iss", "aud"):
        assert cookie[claim] == bearer[claim], claim
    assert cookie["exp"] - cookie["iat"] == bearer["exp"] - bearer["iat"]


def test_wrong_password_shows_the_form_again_without_a_cookie(person):
    response = log_in(browser(), person.email, password="not-the-password")

    assert response.status_code == 200
    assert b"Please enter a correct email and password" in response.content
    assert COOKIE not in response.cookies


def test_form_logins_share_the_login_throttle(person):
    client = browser()
    for _ in range(5):
        assert log_in(client, person.email, password="wrong").status_code == 200
    response = log_in(client, person.email)

    assert response.status_code == 429
    assert int(response["Retry-After"]) >= 1
    assert COOKIE not in response.cookies


def test_browsable_page_offers_the_log_in_link_until_logged_in(person):
    client = browser()
    anonymous = client.get("/iot", **HTML)
    assert anonymous.status_code == 401
    assert b"href='/api-auth/login/?next=/iot'" in anonymous.content

    log_in(client, person.email)
    page = client.get("/iot", **HTML)

    assert page.status_code == 200 and page["Content-Type"].startswith("text/html")
    assert b"greenhouse.temp" in page.content
    assert b'action="/api-auth/logout/?next=/iot"' in page.content  # the "Log out" form


def test_the_cookie_alone_opens_the_browsable_page_but_not_the_json_api(person):
    token = log_in(browser(), person.email).cookies[COOKIE].value

    page = cookie_only(token).get("/iot", **HTML)
    assert page.status_code == 200 and b"greenhouse.temp" in page.content

    for headers in (JSON, {"HTTP_ACCEPT": "*/*"}, {}):
        answer = cookie_only(token).get("/iot", **headers)
        assert answer.status_code == 401, headers
        assert answer.json()["detail"] == "Authentication credentials were not provided."
        assert answer["WWW-Authenticate"].startswith("Bearer")


def test_bearer_clients_are_unchanged(person, client_for):
    response = client_for(user_id=person.pk).get("/iot")

    assert response.status_code == 200
    assert [t["topic"] for t in response.json()["data"]] == ["greenhouse.temp"]


def test_posting_a_device_from_the_browsable_page_needs_the_csrf_token(person):
    client = browser()
    log_in(client, person.email)
    token = client.cookies[COOKIE].value
    client.get("/devices", **HTML)  # the page a person posts from; it sets the CSRF cookie
    csrf = client.cookies["csrftoken"].value

    # The cookie alone: the request a forged cross-site form would make.
    lone = cookie_only(token)
    lone.cookies["csrftoken"] = csrf
    refused = lone.post("/devices", {"name": "shed"}, content_type="application/json", **HTML)
    assert refused.status_code == 403
    assert b"CSRF Failed" in refused.content
    assert cookie_only(token).get("/devices/shed", **HTML).status_code == 404

    created = lone.post(
        "/devices",
        {"name": "shed"},
        content_type="application/json",
        HTTP_X_CSRFTOKEN=csrf,
        **HTML,
    )
    assert created.status_code == 201, created.content
    assert b"shed" in created.content
    assert cookie_only(token).get("/devices/shed", **HTML).status_code == 200


def test_session_posts_need_the_csrf_token_too(person):
    client = browser()
    log_in(client, person.email)
    client.cookies.pop(COOKIE)  # the session alone

    refused = client.post("/devices", {"name": "barn"}, content_type="application/json", **HTML)
    assert refused.status_code == 403 and b"CSRF Failed" in refused.content
    created = client.post(
        "/devices",
        {"name": "barn"},
        content_type="application/json",
        HTTP_X_CSRFTOKEN=client.cookies["csrftoken"].value,
        **HTML,
    )
    assert created.status_code == 201, created.content


def test_the_session_shows_who_is_logged_in_on_the_auth_pages(person):
    client = browser()
    response = log_in(client, person.email, next_page="")

    assert response.status_code == 302 and response["Location"] == "/auth/me"
    me = client.get("/auth/me", **HTML)
    assert me.status_code == 200 and person.email.encode() in me.content


def test_logout_clears_the_cookie_and_the_session(person):
    client = browser()
    log_in(client, person.email)
    page = client.get("/iot", **HTML)
    assert page.status_code == 200

    response = client.post(
        "/api-auth/logout/?next=/iot",
        {"csrfmiddlewaretoken": client.cookies["csrftoken"].value},
    )

    assert response.status_code == 302 and response["Location"] == "/iot"
    cleared = response.cookies[COOKIE]
    assert cleared.value == "" and int(cleared["max-age"]) == 0 and cleared["path"] == "/"
    after = client.get("/iot", **HTML)
    assert after.status_code == 401
    assert b"href='/api-auth/login/?next=/iot'" in after.content


def test_an_expired_cookie_is_refused_with_a_way_back(person):
    token = AccessToken()
    token["user_id"] = person.pk
    token["is_staff"] = False
    token.set_exp(from_time=token.current_time - timedelta(hours=1))

    response = cookie_only(str(token)).get("/iot", **HTML)

    assert response.status_code == 401
    assert b"log in again at /api-auth/login/" in response.content
    assert b"greenhouse.temp" not in response.content


TELEMETRY_BROWSER = """
import json, sys
import django
django.setup()
from django.conf import settings
from django.test import Client

good, expired = sys.argv[1], sys.argv[2]
html = {"HTTP_ACCEPT": "text/html"}

def page(token, **headers):
    client = Client(enforce_csrf_checks=True)
    client.cookies["iot_access"] = token
    return client, client.get("/devices", **(headers or html))

client, listing = page(good)
csrf = client.cookies["csrftoken"].value
no_token = client.post("/devices", {"name": "probe"}, content_type="application/json", **html)
with_token = client.post("/devices", {"name": "probe"}, content_type="application/json",
                         HTTP_X_CSRFTOKEN=csrf, **html)
anonymous = Client().get("/iot", **html)
print(json.dumps({
    "session_middleware": any("Session" in m for m in settings.MIDDLEWARE),
    "listing": [listing.status_code, listing["Content-Type"]],
    "logout_link": 'action="/api-auth/logout/' in listing.content.decode(),
    "json": page(good, HTTP_ACCEPT="application/json")[1].status_code,
    "no_csrf": no_token.status_code,
    "with_csrf": with_token.status_code,
    "created": "probe" in Client(HTTP_COOKIE=f"iot_access={good}").get("/devices", **html)
        .content.decode(),
    "expired": page(expired)[1].status_code,
    "anonymous": anonymous.status_code,
    "login_link": "href='/api-auth/login/?next=/iot'" in anonymous.content.decode(),
    "login_here": Client().get("/api-auth/login/").status_code,
}))
"""


def _role_token(private_key: str, *, user_id: int, minutes: int) -> str:
    from datetime import UTC, datetime
    from uuid import uuid4

    now = datetime.now(UTC)
    claims = {
        "token_type": "access",
        "user_id": user_id,
        "is_staff": False,
        "jti": uuid4().hex,
        "iat": now + timedelta(minutes=min(minutes, 0) - 1),
        "exp": now + timedelta(minutes=minutes),
        "iss": "iotserver",
        "aud": "iotserver",
    }
    return jwt.encode(claims, private_key, algorithm="RS256")


@pytest.mark.django_db(databases=[])
def test_telemetry_role_without_sessions_accepts_the_cookie_for_the_browsable_api(
    key_pair,  # noqa: F811
    tmp_path,
):
    env = role_env("telemetry", key_pair, tmp_path / "telemetry.sqlite3")
    migrated = run([str(REPO / "deploy" / "bin" / "migrate")], env)
    assert migrated.returncode == 0, migrated.stderr[-3000:]
    # With DEBUG=0 the pages name hashed static files: the manifest must exist, as in the image.
    collected = run([sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"], env)
    assert collected.returncode == 0, collected.stderr[-3000:]
    private = key_pair[0].read_text()
    good = _role_token(private, user_id=7, minutes=5)
    expired = _role_token(private, user_id=7, minutes=-5)

    result = run([sys.executable, "-c", TELEMETRY_BROWSER, good, expired], env)
    assert result.returncode == 0, result.stderr[-3000:]
    answers = json.loads(result.stdout.strip().splitlines()[-1])

    assert answers == {
        "session_middleware": False,
        "listing": [200, "text/html; charset=utf-8"],
        "logout_link": True,
        "json": 401,
        "no_csrf": 403,
        "with_csrf": 201,
        "created": True,
        "expired": 401,
        "anonymous": 401,
        "login_link": True,
        "login_here": 404,
    }


@pytest.mark.django_db(databases=[])
@pytest.mark.parametrize("role", ["all", "auth", "telemetry"])
def test_schema_stays_clean_and_offers_only_bearer_for_telemetry(role, key_pair, tmp_path):  # noqa: F811
    schema_file = tmp_path / "schema.json"
    argv = [sys.executable, "manage.py", "spectacular", "--validate", "--fail-on-warn",
            "--format", "openapi-json", "--file", str(schema_file)]  # fmt: skip
    result = run(argv, role_env(role, key_pair, tmp_path / "db.sqlite3"))
    assert result.returncode == 0, result.stderr[-3000:]

    schema = json.loads(schema_file.read_text())
    schemes = schema["components"]["securitySchemes"]
    assert COOKIE not in json.dumps(schemes)
    if role != "auth":
        # Swagger UI's "Authorize" sends the bearer token to the telemetry endpoints.
        assert schemes["jwtStatelessAuth"]["scheme"] == "bearer"
        assert {"jwtStatelessAuth": []} in schema["paths"]["/iot"]["get"]["security"]
    if role == "telemetry":
        assert list(schemes) == ["jwtStatelessAuth"]
