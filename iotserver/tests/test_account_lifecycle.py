"""Account lifecycle across the two sides: the staff API and the admin change an account,
the outbox carries the event (``accounts.outbox``), the telemetry consumer disables, enables
or deletes the owner's devices (``telemetry.account_events``)."""

# The fixtures imported from the apps' conftests are parameters here: F811 is expected.
# ruff: noqa: F811

from __future__ import annotations

import base64
import json
import os
import socket

import pytest
import redis
from celery import Celery, current_app
from django.db import DatabaseError
from django.urls import reverse

from accounts.models import AccountEvent
from accounts.outbox import account_event_message, outbox_relay
from accounts.tests.conftest import authed, tokens, user  # noqa: F401 - fixtures
from accounts.tests.factories import UserFactory
from iotserver import status
from telemetry import account_events
from telemetry.models import (
    AccountState,
    Device,
    ParkedAccountEvent,
    Reading,
    RetiredDeviceName,
    RollupMinute,
    Topic,
)
from telemetry.services import (
    DeviceNameTaken,
    device_create,
    device_update,
    reading_bulk_append,
    rollup_refresh,
)
from telemetry.tests.conftest import mongo_backend, mongo_url  # noqa: F401 - fixtures
from telemetry.tests.factories import T0, readings

pytestmark = pytest.mark.django_db(databases="__all__")

REDIS = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379")


@pytest.fixture(autouse=True)
def eager_transport(monkeypatch):
    """The transport of a deployment without ``REDIS_URL``: the consumer runs in-process.
    (With ``REDIS_URL`` the same relay sends the same task to Redis; see the Redis tests.)"""
    monkeypatch.setattr(current_app.conf, "CELERY_TASK_ALWAYS_EAGER", True)


@pytest.fixture
def staff_client(api_client):
    staff = UserFactory(is_staff=True)
    api_client.force_authenticate(staff)
    return api_client


@pytest.fixture
def commits(django_capture_on_commit_callbacks):
    """Run the relay hooked on commit, as a committed request would."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


def _devices(owner_id: int) -> dict[str, tuple[bool, bool]]:
    return {
        d.name: (d.enabled, d.disabled_by_account) for d in Device.objects.filter(owner_id=owner_id)
    }


def _patch(client, user, active: bool, commits):
    with commits():
        return client.patch(f"/users/{user.pk}", {"active": active}, format="json")


def test_deactivation_disables_the_devices_and_reactivation_enables_what_it_disabled(
    staff_client, commits
):
    user = UserFactory()
    on, _ = device_create(owner_id=user.pk, name="on-dev")
    off, _ = device_create(owner_id=user.pk, name="off-dev")
    device_update(device=off, enabled=False)  # the owner's own choice
    reading_bulk_append(readings=readings("on-dev.temp", 3))

    response = _patch(staff_client, user, False, commits)
    assert response.status_code == 200, response.content
    assert response.json()["data"]["active"] is False
    assert _devices(user.pk) == {"on-dev": (False, True), "off-dev": (False, False)}
    assert Reading.objects.filter(topic="on-dev.temp").count() == 3  # readings kept
    assert AccountEvent.objects.get(user_id=user.pk).published_at is not None

    response = _patch(staff_client, user, True, commits)
    assert response.status_code == 200
    assert _devices(user.pk) == {"on-dev": (True, False), "off-dev": (False, False)}
    assert list(AccountEvent.objects.filter(user_id=user.pk).values_list("seq", "type")) == [
        (1, "user.deactivated"),
        (2, "user.reactivated"),
    ]


def test_the_owner_cannot_enable_a_device_their_deactivated_account_disabled(staff_client, commits):
    user = UserFactory()
    device, _ = device_create(owner_id=user.pk, name="locked")
    _patch(staff_client, user, False, commits)
    device.refresh_from_db()
    with pytest.raises(Exception, match="deactivated"):
        device_update(device=device, enabled=True)


def _user_with_data(name: str):
    user = UserFactory()
    device_create(owner_id=user.pk, name=name)
    reading_bulk_append(readings=readings(f"{name}.temp", 180))
    rollup_refresh(now=T0.replace(hour=18))
    return user


def test_deleting_purges_devices_readings_and_rollups_and_frees_the_names(
    staff_client, commits, settings
):
    settings.ACCOUNT_DELETE_DATA = "purge"
    settings.TELEMETRY_RETENTION_BATCH_SIZE = 50  # several batches
    user = _user_with_data("gone-dev")
    assert RollupMinute.objects.filter(topic="gone-dev.temp").exists()
    with commits():
        response = staff_client.delete(f"/users/{user.pk}")
    assert response.status_code == 204
    assert not Device.objects.filter(owner_id=user.pk).exists()
    assert not Reading.objects.filter(topic__startswith="gone-dev").exists()
    assert not RollupMinute.objects.filter(topic__startswith="gone-dev").exists()
    assert not Topic.objects.filter(device="gone-dev").exists()
    assert not RetiredDeviceName.objects.filter(name="gone-dev").exists()
    stranger = UserFactory()
    device, _ = device_create(owner_id=stranger.pk, name="gone-dev")  # free for anyone
    assert device.owner_id == stranger.pk


def test_deleting_with_keep_keeps_the_data_for_staff_and_the_names_reserved(
    staff_client, commits, settings, client_for
):
    settings.ACCOUNT_DELETE_DATA = "keep"
    user = _user_with_data("kept-dev")
    with commits():
        assert staff_client.delete(f"/users/{user.pk}").status_code == 204
    assert not Device.objects.filter(owner_id=user.pk).exists()
    assert Reading.objects.filter(topic="kept-dev.temp").count() == 180
    stranger = UserFactory()
    with pytest.raises(DeviceNameTaken):
        device_create(owner_id=stranger.pk, name="kept-dev")
    staff_view = client_for(user_id=999, is_staff=True).get("/iot/kept-dev.temp/latest")
    assert staff_view.status_code == 200
    assert client_for(user_id=stranger.pk).get("/iot/kept-dev.temp/latest").status_code == 404


@pytest.mark.mongo
def test_deleting_purges_readings_on_the_mongo_backend(mongo_backend, staff_client, commits):
    from telemetry.storage import get_storage

    user = _user_with_data("mongo-dev")
    storage = get_storage()
    assert storage.latest(topic="mongo-dev.temp") is not None
    with commits():
        assert staff_client.delete(f"/users/{user.pk}").status_code == 204
    assert storage.latest(topic="mongo-dev.temp") is None
    assert storage.topic_get(topic="mongo-dev.temp") is None
    device_create(owner_id=UserFactory().pk, name="mongo-dev")


def _message(user_id: int, seq: int, type: str, active: bool) -> dict:
    return {
        "event_id": seq,
        "user_id": user_id,
        "seq": seq,
        "type": type,
        "payload": {"active": active},
        "created_at": T0.isoformat(),
    }


def test_a_redelivered_event_changes_nothing():
    device_create(owner_id=7, name="redeliver")
    message = _message(7, 1, "user.deactivated", False)
    assert account_events.account_event_apply(message=message) == "applied"
    # Staff later reactivated and the owner disabled the device; then the old event again:
    assert account_events.account_event_apply(message=_message(7, 2, "user.reactivated", True))
    device = Device.objects.get(name="redeliver")
    device_update(device=device, enabled=False)
    assert account_events.account_event_apply(message=message) == "duplicate"
    assert account_events.account_event_apply(message=message) == "duplicate"
    assert _devices(7) == {"redeliver": (False, False)}
    assert AccountState.objects.get(owner_id=7).last_seq == 2


def test_events_in_order_and_out_of_order_end_in_the_newest_state():
    device_create(owner_id=8, name="ordered")
    account_events.account_event_apply(message=_message(8, 1, "user.deactivated", False))
    account_events.account_event_apply(message=_message(8, 2, "user.reactivated", True))
    assert _devices(8) == {"ordered": (True, False)}

    device_create(owner_id=9, name="shuffled")
    # The reactivation arrives first (a retry overtook it): the older deactivation is stale.
    assert account_events.account_event_apply(message=_message(9, 2, "user.reactivated", True))
    late = _message(9, 1, "user.deactivated", False)
    assert account_events.account_event_apply(message=late) == "duplicate"
    assert _devices(9) == {"shuffled": (True, False)}


def test_a_poisoned_event_is_parked_and_the_next_one_applied():
    device_create(owner_id=10, name="poisoned")
    assert (
        account_events.account_event_apply(message=_message(10, 1, "user.renamed", True))
        == "parked"
    )
    bad_payload = {**_message(10, 2, "user.deactivated", False), "payload": "nope"}
    assert account_events.account_event_apply(message=bad_payload) == "parked"
    assert account_events.account_event_apply(message=_message(10, 3, "user.deactivated", False))
    assert _devices(10) == {"poisoned": (False, True)}
    reasons = sorted(ParkedAccountEvent.objects.values_list("reason", flat=True))
    assert reasons == [
        "payload must be an object with a boolean 'active'",
        "unknown event type 'user.renamed'",
    ]


def test_consumer_down_keeps_the_events_in_the_outbox_until_it_is_back(
    staff_client, commits, monkeypatch
):
    user = UserFactory()
    device_create(owner_id=user.pk, name="waits")

    def down(**kwargs):
        raise DatabaseError("telemetry database unavailable")

    monkeypatch.setattr(account_events, "account_event_apply", down)
    _patch(staff_client, user, False, commits)
    _patch(staff_client, user, True, commits)
    _patch(staff_client, user, False, commits)
    assert AccountEvent.objects.filter(published_at__isnull=True).count() == 3
    assert _devices(user.pk) == {"waits": (True, False)}
    assert status.check_account_events()["lag_seconds"] >= 0
    assert "oldest unapplied" in status.check_account_events()["detail"]

    monkeypatch.undo()
    monkeypatch.setattr(current_app.conf, "CELERY_TASK_ALWAYS_EAGER", True)
    report = outbox_relay()
    assert (report.published, report.failed) == (3, False)
    assert _devices(user.pk) == {"waits": (False, True)}
    assert AccountState.objects.get(owner_id=user.pk).last_seq == 3
    assert outbox_relay().published == 0  # nothing applied twice
    assert status.check_account_events()["detail"] == "none waiting"


@pytest.fixture
def admin_client(client):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


def test_the_admin_bulk_action_and_delete_emit_the_same_events(admin_client, commits):
    users = [UserFactory(), UserFactory()]
    for member in users:
        device_create(owner_id=member.pk, name=f"adm-{member.pk}")
    url = reverse("admin:accounts_user_changelist")
    with commits():
        response = admin_client.post(
            url, {"action": "deactivate", "_selected_action": [u.pk for u in users]}
        )
    assert response.status_code == 302
    for member in users:
        assert _devices(member.pk) == {f"adm-{member.pk}": (False, True)}
    with commits():
        admin_client.post(
            reverse("admin:accounts_user_delete", args=[users[0].pk]), {"post": "yes"}
        )
    assert not Device.objects.filter(owner_id=users[0].pk).exists()
    types = AccountEvent.objects.filter(user_id=users[0].pk).values_list("type", flat=True)
    assert list(types) == ["user.deactivated", "user.deleted"]


def test_a_password_change_is_an_event_that_leaves_the_devices_alone(authed, user, commits):
    device_create(owner_id=user.pk, name="pw-dev")
    with commits():
        response = authed.post(
            "/auth/password",
            {"current_password": "Corr3ct-horse-battery", "new_password": "An0ther-long-phrase!"},
            format="json",
        )
    assert response.status_code == 204, response.content
    event = AccountEvent.objects.get(user_id=user.pk)
    assert (event.type, event.published_at is not None) == ("user.password_changed", True)
    assert _devices(user.pk) == {"pw-dev": (True, False)}


def test_only_staff_change_accounts(api_client, user):
    other = UserFactory()
    api_client.force_authenticate(user)
    assert (
        api_client.patch(f"/users/{other.pk}", {"active": False}, format="json").status_code == 404
    )
    assert api_client.delete(f"/users/{other.pk}").status_code == 404
    assert (
        api_client.patch(f"/users/{user.pk}", {"active": False}, format="json").status_code == 403
    )
    other.refresh_from_db()
    assert other.is_active and not AccountEvent.objects.exists()


def test_staff_input_errors(staff_client):
    user = UserFactory()
    assert (
        staff_client.patch(f"/users/{user.pk}", {"active": "x"}, format="json").status_code == 400
    )
    assert staff_client.patch("/users/999999", {"active": False}, format="json").status_code == 404


# --- the transport on a real Redis --------------------------------------------------------


def _redis_or_skip(number: int) -> str:
    url = f"{REDIS}/{number}"
    try:
        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
    except redis.RedisError:
        pytest.skip(f"no Redis at {REDIS}")
    return url


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _celery(url: str) -> Celery:
    app = Celery("account-events-tests", broker=url, set_as_current=False)
    app.conf.update(task_always_eager=False, broker_connection_timeout=1)
    return app


def test_outbox_keeps_events_while_redis_is_down_and_delivers_them_after(
    staff_client, commits, monkeypatch
):
    url = _redis_or_skip(13)
    queue = redis.Redis.from_url(url)
    queue.delete("celery")
    user = UserFactory()
    device_create(owner_id=user.pk, name="via-redis")
    # The transport is down: the relay after commit fails and the events stay.
    monkeypatch.setattr(account_events, "account_event_apply", lambda **k: 1 / 0)
    _patch(staff_client, user, False, commits)
    down = _celery(f"redis://127.0.0.1:{_closed_port()}/0")
    assert outbox_relay(app=down).failed
    assert AccountEvent.objects.filter(published_at__isnull=True).count() == 1
    monkeypatch.undo()

    report = outbox_relay(app=_celery(url))  # back: delivered
    assert (report.published, report.failed) == (1, False)
    raw = queue.rpop("celery")
    message = json.loads(raw)
    assert message["headers"]["task"] == "telemetry.account_event_apply"
    _, kwargs, _ = json.loads(base64.b64decode(message["body"]))
    assert kwargs == account_event_message(AccountEvent.objects.get(user_id=user.pk))
    # What a worker does with it:
    assert account_events.account_event_apply(message=kwargs) == "applied"
    assert _devices(user.pk) == {"via-redis": (False, True)}


# --- the broker: a deactivated account's devices lose their login -------------------------


@pytest.mark.mqtt
@pytest.mark.django_db(transaction=True, databases="__all__")
def test_a_deactivated_accounts_device_is_refused_by_the_broker_within_five_seconds(
    tmp_path, staff_client
):
    import time

    from ingest.tests.test_broker_auth import (
        REGISTRY_TO_BROKER_SECONDS,
        SecuredBroker,
        accepted_within,
        refused_within,
    )

    broker = SecuredBroker(tmp_path)
    try:
        owner = UserFactory()
        device, password = device_create(owner_id=owner.pk, name="brokered")
        session = accepted_within(broker.port, device.name, password, seconds=5)
        started = time.monotonic()
        # A real commit (transactional test): the relay runs after it, as in a request.
        response = staff_client.patch(f"/users/{owner.pk}", {"active": False}, format="json")
        assert response.status_code == 200
        assert session.disconnected.wait(REGISTRY_TO_BROKER_SECONDS)
        refused_within(broker.port, device.name, password, seconds=1)
        assert time.monotonic() - started < REGISTRY_TO_BROKER_SECONDS
        session.close()

        staff_client.patch(f"/users/{owner.pk}", {"active": True}, format="json")
        accepted_within(broker.port, device.name, password, seconds=5).close()
    finally:
        broker.close()
