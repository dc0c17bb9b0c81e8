"""The outbox of account events: written with the change, published to the telemetry side.

Transport: Celery on ``REDIS_URL``. The relay sends the task ``telemetry.account_event_apply``
by name, so this app never imports telemetry; without ``REDIS_URL`` the same task runs
eagerly in this process (the same relay, the same consumer: one path in both deployments).
Delivery is at least once: an event is stamped ``published_at`` only after the transport took
it (or, eager, after the consumer applied it); the consumer ignores what it already applied.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from celery import Celery, current_app
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from accounts.models import AccountEvent, User

logger = logging.getLogger(__name__)

CONSUMER_TASK = "telemetry.account_event_apply"
RELAY_BATCH_SIZE = 200


def account_event_record(*, user: User, type: str) -> AccountEvent:
    """Add an event to the outbox in the caller's transaction, and relay it after commit.

    The caller holds the user's row locked (``select_for_update``), so the seqs of one user
    are assigned one at a time.
    """
    last = AccountEvent.objects.filter(user_id=user.pk).aggregate(last=Max("seq"))["last"]
    event = AccountEvent.objects.create(
        user_id=user.pk,
        type=type,
        seq=(last or 0) + 1,
        payload={"active": bool(user.is_active) and type != AccountEvent.Type.DELETED},
    )
    transaction.on_commit(outbox_relay_after_commit)
    logger.info("account event %s #%s of user id=%s recorded", type, event.seq, user.pk)
    return event


def account_event_message(event: AccountEvent) -> dict:
    """The task's keyword arguments: everything the consumer needs, JSON only."""
    return {
        "event_id": event.pk,
        "user_id": event.user_id,
        "seq": event.seq,
        "type": event.type,
        "payload": event.payload,
        "created_at": event.created_at.isoformat(),
    }


def _publish(app: Celery, event: AccountEvent) -> None:
    kwargs = account_event_message(event)
    if app.conf.task_always_eager:
        # Registered by the telemetry app's tasks module, looked up by name; a web process
        # has not imported the autodiscovered task modules yet (a worker has).
        if CONSUMER_TASK not in app.tasks:
            app.loader.import_default_modules()
        app.tasks[CONSUMER_TASK].apply(kwargs=kwargs, throw=True)
        return
    # No retries in here: an unreachable broker fails fast; the next relay pass tries again.
    app.send_task(CONSUMER_TASK, kwargs=kwargs, retry=False)


@dataclass(frozen=True, slots=True)
class RelayReport:
    published: int
    failed: bool  # the transport (or, eager, the consumer) refused: the rest waits
    more: bool  # the batch was full: call again


def outbox_relay(*, app: Celery | None = None, batch_size: int = RELAY_BATCH_SIZE) -> RelayReport:
    """Publish unpublished events, oldest first, until the first failure.

    No row is locked while publishing: two relays running at once may both publish an event,
    which the consumer's seq check makes harmless. A failure stops the pass (the events stay
    in the outbox for the next one), so one user's events never overtake each other here.
    """
    app = app or current_app
    events = list(
        AccountEvent.objects.filter(published_at__isnull=True).order_by("id")[:batch_size]
    )
    published = 0
    for event in events:
        try:
            _publish(app, event)
        except Exception as exc:  # any transport or consumer failure: keep it for later
            logger.warning(
                "account event #%s of user id=%s not published: %s",
                event.seq,
                event.user_id,
                f"{exc.__class__.__name__}: {exc}"[:200],
            )
            return RelayReport(published=published, failed=True, more=False)
        AccountEvent.objects.filter(pk=event.pk).update(published_at=timezone.now())
        published += 1
    return RelayReport(published=published, failed=False, more=len(events) == batch_size)


def outbox_relay_after_commit() -> None:
    """``transaction.on_commit`` hook: relay at once, so the usual latency is the transport's.
    Never raises: the change is committed, and the periodic relay catches up."""
    try:
        outbox_relay()
    except Exception:
        logger.warning("account event relay after commit failed", exc_info=True)
