"""Delivery: send what the outbox holds, mark it, retry with backoff, dead-letter the hopeless.

Safe to run from the scheduler, the CLI and tests at any time: rows are claimed with a lease, so
a crash leaves them to the next run, and a row is marked sent only after its channel said yes.
Channels that honour an idempotency key (our webhook, Apprise json/form/xml) make the rare
"sent but not marked" case harmless.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from alerts.channels import CHANNELS, Channel, ChannelError
from alerts.journal import audit
from alerts.outbox import OutboxItem, claim_due, mark_failed, mark_sent
from alerts.settings import AlertSettings, ChannelSpec, settings_for
from monitor.store import Store

__all__ = ["Deliverer", "DeliveryReport", "deliver_pending"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    sent: int = 0
    failed: int = 0
    dead: int = 0
    errors: tuple[str, ...] = ()

    @property
    def attempted(self) -> int:
        return self.sent + self.failed


def _spec_for(settings: AlertSettings, item: OutboxItem) -> ChannelSpec | None:
    if item.channel_kind == "log":
        return ChannelSpec("log", "log://", "text")
    receiver = settings.receivers.get(item.receiver)
    if receiver is None or not 0 <= item.channel_index < len(receiver.channels):
        return None
    spec = receiver.channels[item.channel_index]
    return spec if spec.kind == item.channel_kind else None


class Deliverer:
    """Sends due outbox rows; keeps channel clients (HTTP keep-alive) across runs.

    The service holds one for its lifetime; :func:`deliver_pending` makes one per call.
    """

    def __init__(self, config: Any, environ: Mapping[str, str] | None = None) -> None:
        self.settings = settings_for(config)
        self.environ = environ
        self._channels: dict[str, Channel] = {}

    def _channel(self, kind: str) -> Channel:
        if kind not in self._channels:
            self._channels[kind] = CHANNELS[kind](self.settings.send_timeout, self.environ)
        return self._channels[kind]

    def _send(self, item: OutboxItem) -> str | None:
        """None on success, else the (secret-free) error text."""
        spec = _spec_for(self.settings, item)
        if spec is None:
            return (
                f"receiver {item.receiver!r} has no channel #{item.channel_index} "
                f"({item.channel_kind}) any more"
            )
        try:
            self._channel(spec.kind).send(spec, item.payload, item.idempotency_key)
        except ChannelError as exc:
            return str(exc)
        return None

    def close(self) -> None:
        for channel in self._channels.values():
            channel.close()
        self._channels.clear()

    def __enter__(self) -> Deliverer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def deliver(
        self,
        store: Store,
        now: datetime,
        *,
        only_ids: Sequence[int] | None = None,
        max_items: int | None = None,
    ) -> DeliveryReport:
        """Send every due row (in batches, ``workers`` at a time) and record the outcome."""
        settings = self.settings
        lease = max(60.0, settings.send_timeout * 3)
        sent = failed = dead = 0
        errors: list[str] = []
        for kind in {spec.kind for r in settings.receivers.values() for spec in r.channels}:
            self._channel(kind)  # created here, not racily inside the worker threads
        self._channel("log")
        with ThreadPoolExecutor(max_workers=settings.workers) as pool:
            while max_items is None or sent + failed < max_items:
                limit = settings.batch_size
                if max_items is not None:
                    limit = min(limit, max_items - sent - failed)
                items = claim_due(store, now, limit, lease, only_ids)
                if not items:
                    break
                outcomes = list(pool.map(self._send, items))
                with store.transaction() as conn:
                    ok = [i.id for i, error in zip(items, outcomes, strict=True) if error is None]
                    mark_sent(conn, ok, now)
                    for item, error in zip(items, outcomes, strict=True):
                        subject = f"outbox:{item.id}"
                        if error is None:
                            sent += 1
                            audit(
                                store,
                                "delivery.sent",
                                subject,
                                after={"receiver": item.receiver, "kind": item.kind},
                                at=now,
                            )
                            continue
                        failed += 1
                        errors.append(f"#{item.id} {item.receiver}/{item.channel_kind}: {error}")
                        is_dead = mark_failed(
                            conn,
                            item,
                            error,
                            now,
                            max_attempts=settings.max_attempts,
                            base=settings.retry_backoff,
                            cap=settings.retry_backoff_max,
                        )
                        dead += int(is_dead)
                        audit(
                            store,
                            "delivery.failed",
                            subject,
                            after={"receiver": item.receiver, "error": error, "dead": is_dead},
                            at=now,
                        )
                        log.warning(
                            "delivery %s to %s failed%s: %s",
                            item.id,
                            item.receiver,
                            " (dead-lettered)" if is_dead else "",
                            error,
                        )
        return DeliveryReport(sent, failed, dead, tuple(errors))


def deliver_pending(
    store: Store,
    config: Any,
    now: datetime,
    *,
    environ: Mapping[str, str] | None = None,
    only_ids: Sequence[int] | None = None,
    max_items: int | None = None,
) -> DeliveryReport:
    """Send every due outbox row and record the outcome (one-shot :class:`Deliverer`)."""
    with Deliverer(config, environ) as deliverer:
        return deliverer.deliver(store, now, only_ids=only_ids, max_items=max_items)
