"""Event delivery as Stripe does it: POST the event's JSON to the endpoint, signed, retried on failure.

`Stripe-Signature: t=<unix>,v1=<hex>` is made by the SDK's own helper
(`stripe.WebhookSignature.generate_signature_header`: HMAC-SHA256 of "<t>.<payload>" with the
`whsec_…` secret), with the wall clock's time as Stripe's is (a test clock never moves it). A
non-2xx answer or a connection error schedules another attempt after the next of `retry_delays`
seconds; Stripe retries for three days, locally a few quick tries are enough. Events are delivered
independently: one being retried never holds back the others.
"""

from __future__ import annotations

import heapq
import itertools
import json
import logging
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

log = logging.getLogger("local.stripe")

DEFAULT_RETRY_DELAYS = (1.0, 2.0, 4.0, 8.0, 16.0)


@dataclass
class Delivery:
    event_id: str
    type: str
    url: str
    payload: str
    attempts: list[dict[str, Any]] = field(default_factory=list)
    state: str = "pending"  # pending | delivered | failed

    def summary(self) -> dict[str, Any]:
        return {
            "event": self.event_id,
            "type": self.type,
            "url": self.url,
            "state": self.state,
            "attempts": list(self.attempts),
        }


class Deliverer:
    def __init__(
        self,
        secret: str,
        url: str | None = None,
        *,
        retry_delays: Sequence[float] = DEFAULT_RETRY_DELAYS,
        timeout: float = 10.0,
        signature_clock: Callable[[], float] = time.time,
    ) -> None:
        self.secret = secret
        self.url = url
        self.retry_delays = tuple(retry_delays)
        self.timeout = timeout
        self.signature_clock = signature_clock
        self.log: list[Delivery] = []
        self._queue: list[tuple[float, int, Delivery]] = []
        self._order = itertools.count()
        self._wake = threading.Condition()
        self._stopping = False
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="stripe-webhooks", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        with self._wake:
            self._stopping = True
            self._wake.notify_all()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None

    def enqueue(self, event: dict[str, Any]) -> None:
        if not self.url:
            return
        delivery = Delivery(event["id"], event["type"], self.url, json.dumps(event, indent=2))
        with self._wake:
            self.log.append(delivery)
            heapq.heappush(self._queue, (time.monotonic(), next(self._order), delivery))
            self._wake.notify_all()

    def summaries(self) -> list[dict[str, Any]]:
        with self._wake:
            return [delivery.summary() for delivery in self.log]

    def idle(self) -> bool:
        with self._wake:
            return not self._queue and not any(d.state == "pending" for d in self.log)

    def wait_idle(self, timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.idle():
                return True
            time.sleep(0.02)
        return self.idle()

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._stopping and (not self._queue or self._queue[0][0] > time.monotonic()):
                    wait = self._queue[0][0] - time.monotonic() if self._queue else None
                    self._wake.wait(wait)
                if self._stopping:
                    return
                _, _, delivery = heapq.heappop(self._queue)
            delivered = self._attempt(delivery)
            with self._wake:
                if delivered:
                    delivery.state = "delivered"
                elif len(delivery.attempts) > len(self.retry_delays):
                    delivery.state = "failed"
                    log.warning(
                        "stripe sandbox: gave up delivering %s (%s)", delivery.event_id, delivery.type
                    )
                else:
                    delay = self.retry_delays[len(delivery.attempts) - 1]
                    heapq.heappush(self._queue, (time.monotonic() + delay, next(self._order), delivery))

    def _attempt(self, delivery: Delivery) -> bool:
        from stripe import WebhookSignature  # here: the SDK is slow to import, and only delivery needs it

        header = WebhookSignature.generate_signature_header(
            delivery.payload, self.secret, int(self.signature_clock())
        )
        request = urllib.request.Request(  # noqa: S310 - the endpoint is the local API, on loopback
            delivery.url,
            data=delivery.payload.encode(),
            method="POST",
            headers={
                "Content-Type": "application/json; charset=utf-8",
                "Stripe-Signature": header,
                "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
            },
        )
        record: dict[str, Any] = {
            "at": datetime.now(UTC).isoformat(),
            "status": None,
            "body": None,
            "error": None,
        }
        delivery.attempts.append(record)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                record["status"] = response.status
                record["body"] = response.read(2000).decode(errors="replace")
        except urllib.error.HTTPError as exc:
            record["status"] = exc.code
            record["body"] = exc.read(2000).decode(errors="replace")
        except (OSError, TimeoutError) as exc:
            record["error"] = str(exc)
        ok = record["status"] is not None and 200 <= record["status"] < 300
        if not ok:
            log.info(
                "stripe sandbox: %s to %s answered %s",
                delivery.event_id,
                delivery.url,
                record["status"] or record["error"],
            )
        return ok
