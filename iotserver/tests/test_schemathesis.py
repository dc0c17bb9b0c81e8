"""schemathesis against the running app: every operation of /api/schema, every check.

The same run as ``schemathesis run <url>/api/schema --checks all`` (issue 15, item 10): the
CLI in a subprocess against pytest-django's ``live_server``, its four phases (examples,
coverage, fuzzing, stateful), as two users who must not see each other's objects (Web
Fuzzing Commons ``peers``, which ``object_level_authorization`` needs): A owns a device with
readings, B owns nothing. A fixed seed and at most MAX_EXAMPLES cases per operation and
phase keep the run reproducible and near two and a half minutes on two cores. It must end
with no failure of any check, ``not_a_server_error`` included; nothing is excluded.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
from rest_framework.throttling import SimpleRateThrottle

from accounts.tests.factories import UserFactory
from conftest import mint_access_token
from telemetry.services import reading_bulk_append
from telemetry.tests.factories import DeviceFactory, readings

SEED = 20260415
MAX_EXAMPLES = 20
# A Django CSRF secret, sent as the csrftoken cookie and the X-CSRFToken header, so that
# the dashboard's cookie endpoints (/auth/session/*) are tested past their CSRF check.
CSRF_TOKEN = "schemathesisCSRFtoken0123456789a"
# Operations that check what no schema can state, and so answer 400 to some schema-valid
# requests by design (DESIGN.md): register (password rules, email or username taken),
# password change (the current password), reset confirmation (the token from the email),
# readings and ranges (start before end, agg needs bucket, the bucket and row caps, a
# cursor the server did not issue, a day the month lacks). Every other check, and
# positive_data_acceptance on every other operation, keeps its defaults.
BUSINESS_RULE_400 = [
    "POST /auth/register",
    "POST /auth/password",
    "POST /auth/password-reset/confirm",
    "GET /iot/{topic}/readings",
    "GET /iot/{topic}/{start}/{end}",
]

CONFIG = """\
seed = {seed}
workers = 1
request-timeout = 30
continue-on-failure = true

[generation]
max-examples = {max_examples}
database = "none"

[checks]
enabled = true

[auth.wfc]
path = "{wfc}"
peers = ["alice", "bob"]

[[operations]]
include-name = {business_rule_400}
checks.positive_data_acceptance.expected-statuses = [
    "2xx", "3xx", "400", "401", "403", "404", "409", "429", "5xx",
]
"""


def _identity(name: str, user_id: int) -> dict:
    token = mint_access_token(user_id=user_id)
    return {
        "name": name,
        "fixedHeaders": [
            {"name": "Authorization", "value": f"Bearer {token}"},
            {"name": "Cookie", "value": f"csrftoken={CSRF_TOKEN}"},
            {"name": "X-CSRFToken", "value": CSRF_TOKEN},
        ],
    }


@pytest.fixture
def generous_throttles(monkeypatch):
    """Login, register and reset limits far above what the run sends, so that those views'
    logic is tested rather than answered 429 from the 31st request on. The 429s are in the
    schema (with Retry-After); accounts/tests check the real limits."""
    for scope in list(SimpleRateThrottle.THROTTLE_RATES):
        monkeypatch.setitem(SimpleRateThrottle.THROTTLE_RATES, scope, "100000/min")


@pytest.mark.django_db(transaction=True, databases="__all__")
def test_schemathesis_finds_nothing(live_server, tmp_path, generous_throttles):
    alice, bob = UserFactory(), UserFactory()
    DeviceFactory(name="alice-greenhouse", owner_id=alice.pk)
    start = datetime.now(UTC) - timedelta(hours=1)
    reading_bulk_append(
        readings=readings("alice-greenhouse.temp", 30, start=start, step=timedelta(minutes=1))
    )
    wfc = tmp_path / "users.json"
    wfc.write_text(json.dumps({"auth": [_identity("alice", alice.pk), _identity("bob", bob.pk)]}))
    config = tmp_path / "schemathesis.toml"
    config.write_text(
        CONFIG.format(
            seed=SEED,
            max_examples=MAX_EXAMPLES,
            wfc=wfc,
            business_rule_400=json.dumps(BUSINESS_RULE_400),
        )
    )

    argv = [sys.executable, "-m", "schemathesis.cli", "--config-file", str(config), "--no-color",
            "run", f"{live_server.url}/api/schema", "--checks", "all"]  # fmt: skip
    result = subprocess.run(
        argv, cwd=tmp_path, capture_output=True, text=True, timeout=600, check=False
    )

    report = result.stdout[-30000:] + result.stderr[-3000:]
    assert result.returncode == 0, report
    # "<n> generated, <n> passed": every case passed every check, none errored.
    assert re.search(r"\b(\d+) generated, \1 passed\b", result.stdout), report
