"""`GET /metrics`: the service's backlog in Prometheus's text format, read from the database at scrape.

Every figure comes from the shared database, so any instance answers for the whole deployment:
how many messages wait and for how long (the inbox lag), how many were set aside for going over
their sender's rate, and the outbox by channel and state.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from bot.foundation.tables import OutboxMessage
from bot.inbox import Backlog
from bot.runtime import Coachline

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class _Snapshot(Collector):
    """Hands the figures read for this scrape to prometheus_client (whose collectors are synchronous)."""

    def __init__(self, backlog: Backlog, outbox: list[tuple[str, str, int]]) -> None:
        self._backlog = backlog
        self._outbox = outbox

    def collect(self) -> Iterator[Metric]:
        """The metric families of this scrape."""
        backlog = self._backlog
        yield GaugeMetricFamily(
            "coachline_inbox_lag_seconds",
            "Age of the oldest received message not yet answered (0 when none waits).",
            value=backlog.lag_seconds,
        )
        yield GaugeMetricFamily(
            "coachline_inbox_waiting_messages",
            "Received messages waiting to be answered or being answered.",
            value=backlog.messages,
        )
        yield GaugeMetricFamily(
            "coachline_inbox_waiting_senders", "Senders with a message waiting.", value=backlog.senders
        )
        yield CounterMetricFamily(
            "coachline_inbox_throttled_messages",
            "Messages kept but not answered because their sender went over COACH_SENDER_RATE.",
            value=backlog.throttled_total,
        )
        outbox = GaugeMetricFamily(
            "coachline_outbox_messages",
            "Outgoing messages by channel and state (pending, sending, sent, failed).",
            labels=["channel", "status"],
        )
        for channel, status, count in self._outbox:
            outbox.add_metric([channel, status], count)
        yield outbox


async def render_metrics(service: Coachline) -> bytes:
    """The current figures in Prometheus's text exposition format."""
    backlog = await service.inbox.waiting()
    async with service.sessions() as session:
        rows = (
            await session.execute(
                select(OutboxMessage.channel, OutboxMessage.status, func.count()).group_by(
                    OutboxMessage.channel, OutboxMessage.status
                )
            )
        ).all()
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Snapshot(backlog, [(channel, status, int(count)) for channel, status, count in rows]))
    return generate_latest(registry)
