"""What the ingester records about itself: one heartbeat row per running ingester."""

from django.db import models


class IngesterHeartbeat(models.Model):
    """The latest report of one ingester (by MQTT client id), for the service status page.

    Written every few seconds by ``ingest_mqtt``'s main loop, never by the network thread;
    a row that stops being updated means that ingester is gone or stuck.
    """

    client_id = models.CharField(max_length=128, primary_key=True)
    hostname = models.CharField(max_length=255)
    pid = models.PositiveIntegerField()
    started_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    stopped_at = models.DateTimeField(null=True, blank=True)
    last_batch_at = models.DateTimeField(null=True, blank=True)
    lag_seconds = models.FloatField(null=True, blank=True)
    counters = models.JSONField(default=dict)

    class Meta:
        ordering = ["-updated_at"]

    def __str__(self) -> str:
        return self.client_id
