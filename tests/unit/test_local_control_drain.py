"""`GET /_local/queues/drain` waits for the local Stripe's events before the queues.

Seen over HTTP: a checkout completed in the sandbox, then a drain answered `{"drained": true}`
while the event was still on its way to the webhook route, and the subscription was not there yet.
"""

from __future__ import annotations

import json
from typing import Any, cast

from local.clock import LocalClock
from local.control import Control
from local.events import HttpRequest
from local.invoker import Invoker
from local.queues import QueuePollers
from local.routes import RouteTable
from local.streams import StreamPollers


class Queues:
    def __init__(self, log: list[str]) -> None:
        self.log = log

    def drain(self, timeout: float = 10.0) -> bool:
        self.log.append("queues")
        return True


class Outbound:
    """The sandbox's deliverer: `pending` events, each delivered by one wait (onto the queue)."""

    def __init__(self, log: list[str], pending: int) -> None:
        self.log = log
        self.pending = pending

    def __call__(self, timeout: float) -> bool:
        self.log.append(f"outbound {self.pending}")
        if self.pending and timeout > 0:
            self.pending -= 1
        return self.pending == 0


def control(log: list[str], outbound: Outbound | None) -> Control:
    return Control(
        cast(Invoker, None),
        cast(RouteTable, None),
        StreamPollers([]),
        LocalClock(),
        queues=cast(QueuePollers, Queues(log)),
        outbound=outbound,
    )


def drain(target: Control, query: str = "") -> tuple[int, Any]:
    answer = target(HttpRequest("GET", f"/_local/queues/drain{query}", [], b"", "127.0.0.1"))
    return answer.status, json.loads(answer.body)


def test_the_drain_waits_for_the_sandbox_to_deliver_then_for_the_queues() -> None:
    log: list[str] = []
    assert drain(control(log, Outbound(log, pending=1))) == (200, {"drained": True})
    assert log == ["outbound 1", "queues", "outbound 0"]


def test_events_still_undelivered_at_the_deadline_answer_504() -> None:
    log: list[str] = []
    assert drain(control(log, Outbound(log, pending=2)), "?timeout=0") == (504, {"drained": False})
    assert "queues" not in log


def test_without_a_local_stripe_only_the_queues_are_drained() -> None:
    log: list[str] = []
    assert drain(control(log, None)) == (200, {"drained": True})
    assert log == ["queues"]
