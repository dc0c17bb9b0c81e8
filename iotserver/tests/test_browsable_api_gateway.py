"""A person logs in to the browsable API through the gateway and browses /iot and /devices, in
both deployments (in the microservices one those pages come from the telemetry service, which
keeps no sessions and sees only the access-token cookie the auth service set).

Slow: starts each topology through ``benchmarks.topology`` (PostgreSQL, Redis, Mosquitto,
nginx); marked ``topology``.
"""

from __future__ import annotations

import http.client
import json
import os
import uuid
from http.cookies import SimpleCookie
from urllib.parse import urlencode, urlsplit

import pytest

from benchmarks.topology import Topology, TopologyError

pytestmark = [pytest.mark.topology, pytest.mark.mqtt, pytest.mark.timeout(240)]

REPLICAS = {
    "monolith": {"web": 1, "ingest": 0},
    "msa": {"auth": 1, "telemetry": 1, "web": 1, "ingest": 0},
}
REDIS_DBS = {"monolith": 9, "msa": 8}
HTML = {"Accept": "text/html"}


class Browser:
    """Cookies kept by hand: the deployment runs DEBUG=0 (Secure cookies) over plain HTTP."""

    def __init__(self, base_url: str) -> None:
        self.address = urlsplit(base_url).netloc
        self.cookies: dict[str, str] = {}
        self.set_cookies: dict[str, object] = {}

    def send(self, method: str, path: str, *, body: bytes | None = None, headers=None):
        connection = http.client.HTTPConnection(self.address, timeout=30)
        sent = dict(headers or {})
        if self.cookies:
            sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        try:
            connection.request(method, path, body=body, headers=sent)
            response = connection.getresponse()
            content = response.read().decode(errors="replace")
        finally:
            connection.close()
        for header in response.headers.get_all("Set-Cookie") or []:
            jar = SimpleCookie()
            jar.load(header)
            for name, morsel in jar.items():
                self.set_cookies[name] = morsel
                if morsel.value and morsel["max-age"] != "0":
                    self.cookies[name] = morsel.value
                else:
                    self.cookies.pop(name, None)
        return response.status, response.headers, content

    def form(self, path: str, fields: dict[str, str]):
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        return self.send("POST", path, body=urlencode(fields).encode(), headers=headers)

    def post_json(self, path: str, payload: dict, headers=None):
        headers = {"Content-Type": "application/json", **(headers or {})}
        return self.send("POST", path, body=json.dumps(payload).encode(), headers=headers)


@pytest.fixture(scope="module", params=["monolith", "msa"])
def topology(request, tmp_path_factory):
    kind = request.param
    topology = Topology(
        kind=kind,
        name=f"iot_b{os.getpid()}_{kind}",
        state_dir=tmp_path_factory.mktemp(f"browsable-{kind}"),
        replicas=REPLICAS[kind],
        redis_url=f"redis://127.0.0.1:6379/{REDIS_DBS[kind]}",
        flush_redis=True,
        gunicorn_workers=1,
    )
    try:
        topology.start()
    except TopologyError as exc:
        topology.stop(drop_databases=True)
        if any(s in str(exc) for s in ("nothing answers", "nginx not found", "mosquitto not")):
            pytest.skip(str(exc))
        raise
    yield topology
    topology.stop(drop_databases=True)


def test_a_person_logs_in_browses_posts_and_logs_out_through_the_gateway(topology):
    suffix = uuid.uuid4().hex[:10]
    email, password = f"ada-{suffix}@example.com", f"correct-horse-{suffix}"
    browser = Browser(topology.gateway_url)
    status, _, body = browser.post_json(
        "/auth/register", {"email": email, "username": f"ada{suffix}", "password": password}
    )
    assert status == 201, body

    status, _, body = browser.send("GET", "/iot", headers=HTML)
    assert status == 401 and "href='/api-auth/login/?next=/iot'" in body  # the "Log in" link

    status, _, body = browser.send("GET", "/api-auth/login/?next=/iot")
    assert status == 200 and 'name="password"' in body
    status, headers, _ = browser.form(
        "/api-auth/login/",
        {
            "username": email,
            "password": password,
            "next": "/iot",
            "csrfmiddlewaretoken": browser.cookies["csrftoken"],
        },
    )
    assert status == 302 and headers["Location"] == "/iot"
    cookie = browser.set_cookies["iot_access"]
    assert cookie["httponly"] and cookie["secure"] and cookie["samesite"] == "Strict"
    access = browser.cookies["iot_access"]

    status, headers, body = browser.send("GET", "/iot", headers=HTML)
    assert status == 200 and headers["Content-Type"].startswith("text/html"), body
    assert 'action="/api-auth/logout/?next=/iot"' in body

    # The access cookie alone, as the telemetry service sees it: HTML yes, JSON no.
    lone = Browser(topology.gateway_url)
    lone.cookies = {"iot_access": access, "csrftoken": browser.cookies["csrftoken"]}
    assert lone.send("GET", "/devices", headers=HTML)[0] == 200
    status, _, body = lone.send("GET", "/devices", headers={"Accept": "application/json"})
    assert status == 401 and "credentials were not provided" in body

    csrf = browser.cookies["csrftoken"]
    status, _, body = lone.post_json("/devices", {"name": f"shed{suffix}"}, headers=HTML)
    assert status == 403 and "CSRF Failed" in body
    status, _, body = lone.post_json(
        "/devices", {"name": f"shed{suffix}"}, headers={**HTML, "X-CSRFToken": csrf}
    )
    assert status == 201 and f"shed{suffix}" in body

    status, headers, _ = browser.form("/api-auth/logout/?next=/iot", {"csrfmiddlewaretoken": csrf})
    assert status == 302 and headers["Location"] == "/iot"
    assert "iot_access" not in browser.cookies and "sessionid" not in browser.cookies
    status, _, body = browser.send("GET", "/iot", headers=HTML)
    assert status == 401 and "href='/api-auth/login/?next=/iot'" in body
