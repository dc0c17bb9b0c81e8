"""Celery tasks of the accounts app: thin wrappers around ``accounts.services``."""

from __future__ import annotations

from celery import shared_task

from accounts import outbox, services


@shared_task(name="accounts.password_reset_email_send", acks_late=True, ignore_result=True)
def password_reset_email_send(*, user_id: int, reset_url: str) -> bool:
    """Only the user id and link base cross the broker: the token is made here, at sending."""
    return services.password_reset_email_send(user_id=user_id, reset_url=reset_url)


@shared_task(name="accounts.outbox_relay", ignore_result=True)
def outbox_relay() -> dict:
    """Publish what the outbox still holds (beat runs it every ``ACCOUNT_EVENT_RELAY_SECONDS``:
    events whose relay after commit failed, e.g. while the transport was down)."""
    report = outbox.outbox_relay()
    if report.more:
        outbox_relay.apply_async(countdown=0)
    return {"published": report.published, "failed": report.failed}
