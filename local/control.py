"""`/_local/*`: the local stack's own endpoints (never part of the deployed API).

- GET  /_local/health            200 {"ok": true}
- GET  /_local/clock             {"now": iso8601} as handlers see it
- POST /_local/clock             {"now": "2026-11-01T12:00:00Z"} runs time on from that instant;
                                 {"now": null} returns to the system clock (every invocation
                                 after the answer sees the new clock, in every instance)
- GET  /_local/streams/drain     blocks until every stream poller delivered what its stream held
- GET  /_local/queues/drain      blocks (10 s, or ?timeout=) until the local Stripe has delivered its
                                 events, every SQS poller's queue is empty and no batch is in
                                 flight: {"drained": true} (504 false on timeout)
- GET  /_local/schedules         the ScheduleV2 schedules: {"schedules": [{name, function, ...}]}
- POST /_local/schedules/<name>/run  {"as_of"?: iso8601} invokes the target once with the Input
                                 (+ as_of), waits for the queues to drain (30 s, or ?timeout=):
                                 {schedule, function, result, drained, worker_invocations}
- GET  /_local/routes            the route table read from template.yaml
- GET  /_local/resources         moto's endpoint and region, and what each created resource is
                                 called locally (to point the AWS CLI or a script at them)
- POST /_local/invoke/<Function> invokes a function with the JSON body as its event
- GET  /_local/mailbox?to=<addr> every email sent (Cognito's codes, SES), newest first, as JSON:
                                 {"messages": [{id, from, to, subject, text, html, sent_at, source}]}
- GET  /_local/mailbox.html      the same, to read in a browser
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, unquote

from local.clock import LocalClock
from local.errors import InvocationError
from local.events import HttpRequest, HttpResult
from local.invoker import Invoker
from local.mailbox import PAGE_HEADERS, Mailbox, page
from local.queues import QueuePollers
from local.routes import RouteTable
from local.schedules import DEFAULT_RUN_TIMEOUT, ScheduleInputError, Schedules
from local.streams import StreamPollers

log = logging.getLogger("local.control")


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _query_value(request: HttpRequest, name: str) -> str | None:
    values = parse_qs(request.raw_query).get(name)
    return values[-1] if values else None


def _timeout(request: HttpRequest, default: float) -> float | None:
    """`?timeout=` seconds (at most 600), else the default; None when it is not a number."""
    text = _query_value(request, "timeout")
    if text is None:
        return default
    try:
        value = float(text)
    except ValueError:
        return None
    return min(max(value, 0.0), 600.0) if value == value else None  # NaN is not a number


def parse_instant(text: str) -> datetime:
    moment = datetime.fromisoformat(text.strip())
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


class Control:
    def __init__(
        self,
        invoker: Invoker,
        routes: RouteTable,
        streams: StreamPollers,
        clock: LocalClock,
        resources: Callable[[], dict[str, Any]] = dict,
        drain_timeout: float = 10.0,
        mailbox: Mailbox | None = None,
        queues: QueuePollers | None = None,
        schedules: Schedules | None = None,
        outbound: Callable[[float], bool] | None = None,
    ) -> None:
        self.invoker = invoker
        self.routes = routes
        self.streams = streams
        self.clock = clock
        self.resources = resources
        self.drain_timeout = drain_timeout
        self.mailbox = mailbox or Mailbox()
        self.queues = queues or QueuePollers([])
        self.schedules = schedules or Schedules([], invoker, self.queues, streams)
        # Waits (up to the seconds given) until the local Stripe has no event left to deliver.
        self.outbound = outbound or (lambda _timeout: True)

    def __call__(self, request: HttpRequest) -> HttpResult:
        method, path = request.method.upper(), request.raw_path.rstrip("/")
        if path == "/_local/health" and method == "GET":
            return HttpResult.json(200, {"ok": True})
        if path == "/_local/clock" and method == "GET":
            return HttpResult.json(200, {"now": _iso(self.clock.now())})
        if path == "/_local/clock" and method == "POST":
            return self._set_clock(request)
        if path == "/_local/streams/drain" and method in {"GET", "POST"}:
            drained = self.streams.drain(self.drain_timeout)
            return HttpResult.json(200 if drained else 504, {"drained": drained})
        if path == "/_local/queues/drain" and method in {"GET", "POST"}:
            timeout = _timeout(request, self.drain_timeout)
            if timeout is None:
                return HttpResult.json(400, {"message": "timeout must be a number of seconds"})
            drained = self._drain_queues(timeout)
            return HttpResult.json(200 if drained else 504, {"drained": drained})
        if path == "/_local/schedules" and method == "GET":
            return HttpResult.json(200, {"schedules": self.schedules.listing()})
        if path.startswith("/_local/schedules/") and path.endswith("/run") and method == "POST":
            return self._run_schedule(path.removeprefix("/_local/schedules/").removesuffix("/run"), request)
        if path == "/_local/routes" and method == "GET":
            return HttpResult.json(200, {"routes": self._routes()})
        if path == "/_local/resources" and method == "GET":
            return HttpResult(
                200, [("content-type", "application/json")], json.dumps(self.resources()).encode()
            )
        if path.startswith("/_local/invoke/") and method == "POST":
            return self._invoke(path.removeprefix("/_local/invoke/"), request)
        if path == "/_local/mailbox" and method == "GET":
            messages = self.mailbox.messages(_query_value(request, "to"))
            return HttpResult.json(200, {"messages": [message.as_json() for message in messages]})
        if path == "/_local/mailbox.html" and method == "GET":
            to = _query_value(request, "to")
            return HttpResult(200, list(PAGE_HEADERS), page(self.mailbox.messages(to), to).encode())
        return HttpResult.json(404, {"message": "Not Found"})

    def _drain_queues(self, timeout: float) -> bool:
        """The queues, once the local Stripe's events are on them: a control call answers before
        its events are POSTed to the webhook route, which enqueues them. Until a pass finds both
        still (a worker may make Stripe send more)."""
        deadline = time.monotonic() + timeout
        while True:
            left = max(deadline - time.monotonic(), 0.0)
            if not (self.outbound(left) and self.queues.drain(max(deadline - time.monotonic(), 0.0))):
                return False
            if self.outbound(0.0):
                return True
            if time.monotonic() >= deadline:
                return False

    def _set_clock(self, request: HttpRequest) -> HttpResult:
        try:
            payload = json.loads(request.body or b"{}")
        except ValueError:
            return HttpResult.json(400, {"message": 'The body must be JSON: {"now": iso8601 | null}'})
        if not isinstance(payload, dict) or "now" not in payload:
            return HttpResult.json(400, {"message": 'Expected {"now": iso8601 | null}'})
        if payload["now"] is None:
            self.clock.set(None)
            log.info("clock: back to the system clock")
        else:
            try:
                target = parse_instant(str(payload["now"]))
            except ValueError:
                return HttpResult.json(400, {"message": f"Not an ISO-8601 instant: {payload['now']!r}"})
            offset = self.clock.set(target)
            log.info("clock: now %s (offset %s)", _iso(target), offset)
        return HttpResult.json(200, {"now": _iso(self.clock.now())})

    def _run_schedule(self, name: str, request: HttpRequest) -> HttpResult:
        name = unquote(name)
        if name not in self.schedules.by_name:
            return HttpResult.json(404, {"message": f"No schedule {name} in the template"})
        timeout = _timeout(request, DEFAULT_RUN_TIMEOUT)
        if timeout is None:
            return HttpResult.json(400, {"message": "timeout must be a number of seconds"})
        try:
            payload = json.loads(request.body or b"{}")
        except ValueError:
            return HttpResult.json(400, {"message": 'The body must be JSON: {"as_of"?: iso8601}'})
        if not isinstance(payload, dict):
            return HttpResult.json(400, {"message": 'Expected {"as_of"?: iso8601}'})
        as_of = None
        if payload.get("as_of") is not None:
            try:
                as_of = _iso(parse_instant(str(payload["as_of"])))
            except ValueError:
                return HttpResult.json(400, {"message": f"Not an ISO-8601 instant: {payload['as_of']!r}"})
        try:
            outcome = self.schedules.run(name, as_of, timeout)
        except ScheduleInputError as exc:
            return HttpResult.json(400, {"message": str(exc)})
        return HttpResult(
            outcome.status,
            [("content-type", "application/json"), *outcome.headers],
            json.dumps(outcome.body, default=str).encode(),
        )

    def _routes(self) -> list[dict[str, Any]]:
        return [
            {
                "routeKey": route.route_key,
                "function": route.function,
                "authorizer": route.authorizer.name if route.authorizer else None,
            }
            for route in self.routes.routes
        ]

    def _invoke(self, function: str, request: HttpRequest) -> HttpResult:
        if function not in self.invoker.functions:
            return HttpResult.json(404, {"message": f"No function {function} in the template"})
        try:
            event = json.loads(request.body or b"{}")
        except ValueError:
            return HttpResult.json(400, {"message": "The body must be the JSON event"})
        try:
            result = self.invoker.invoke(function, event)
        except InvocationError as exc:  # as Lambda's Invoke answers a function error
            return HttpResult.json(
                200,
                {"errorMessage": exc.message, "errorType": exc.error_type},
                [("x-amz-function-error", "Unhandled")],
            )
        return HttpResult(
            200, [("content-type", "application/json")], json.dumps(result, default=str).encode()
        )
