"""EventBridge Scheduler schedules (Events of Type ScheduleV2), run on demand.

The local stack never fires a schedule by itself: `POST /_local/schedules/{name}/run` invokes
its target once with the schedule's Input (a JSON text; `{}` without one, as Scheduler sends),
with `as_of` added when the caller gives one, then waits until the SQS pollers' queues (and the
DynamoDB streams) are drained, since a planner fans its work out through SQS to a worker. The
clock does not move: `as_of` only goes in the event (the planners read it, else the clock);
`POST /_local/clock` moves time. RetryPolicy and DeadLetterConfig are listed, not applied: a run
is one invocation, and a failure is answered to the caller.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from local.errors import InvocationError
from local.functions import ScheduleSource
from local.invoker import Invoker
from local.queues import QueuePollers
from local.streams import StreamPollers

log = logging.getLogger("local.schedules")

DEFAULT_RUN_TIMEOUT = 30.0  # seconds a run waits for its fan-out to drain


class ScheduleInputError(ValueError):
    """The run cannot build the target's event (Input not an object, yet `as_of` was given)."""


@dataclass(frozen=True)
class RunOutcome:
    status: int
    body: dict[str, Any]
    headers: tuple[tuple[str, str], ...] = ()


def schedule_event(schedule: ScheduleSource, as_of: str | None) -> Any:
    """What the target gets: the Input's JSON (`{}` when absent), with `as_of` merged in."""
    if schedule.input is None:
        event: Any = {}
    else:
        try:
            event = json.loads(schedule.input)
        except ValueError:
            event = schedule.input  # Scheduler passes text that is not JSON as it is
    if as_of is None:
        return event
    if not isinstance(event, dict):
        raise ScheduleInputError(f"{schedule.name}: Input is not a JSON object; as_of cannot be added")
    return {**event, "as_of": as_of}


class Schedules:
    def __init__(
        self,
        schedules: Iterable[ScheduleSource],
        invoker: Invoker,
        queues: QueuePollers,
        streams: StreamPollers | None = None,
    ) -> None:
        self.invoker = invoker
        self.queues = queues
        self.streams = streams
        self.by_name: dict[str, ScheduleSource] = {}
        for schedule in schedules:
            if schedule.name in self.by_name:  # Scheduler names are unique within a group
                log.warning(
                    "schedule %s (%s.%s) repeats a name; the first one is kept",
                    schedule.name,
                    schedule.function,
                    schedule.event_name,
                )
                continue
            self.by_name[schedule.name] = schedule

    def listing(self) -> list[dict[str, Any]]:
        return [
            {
                "name": schedule.name,
                "function": schedule.function,
                "event": schedule.event_name,
                "expression": schedule.expression,
                "timezone": schedule.timezone,
                "input": _parsed(schedule.input),
                "state": schedule.state,
                "retry_policy": schedule.retry_policy,
                "dead_letter_arn": schedule.dead_letter_arn,
            }
            for schedule in self.by_name.values()
        ]

    def run(self, name: str, as_of: str | None = None, timeout: float = DEFAULT_RUN_TIMEOUT) -> RunOutcome:
        """Invoke the schedule's target once (`as_of`: an ISO-8601 instant for the event), then
        wait for the queues to drain.

        Raises KeyError for an unknown schedule and ScheduleInputError for an event it cannot build.
        """
        schedule = self.by_name[name]
        event = schedule_event(schedule, as_of)
        deadline = time.monotonic() + timeout
        before = self.queues.invocations()
        log.info("schedule %s: running %s%s", name, schedule.function, f" as of {as_of}" if as_of else "")
        try:
            result = self.invoker.invoke(schedule.function, event)
        except InvocationError as exc:  # as Lambda's Invoke (and /_local/invoke) answers it
            return RunOutcome(
                200,
                {"errorMessage": exc.message, "errorType": exc.error_type},
                (("x-amz-function-error", "Unhandled"),),
            )
        drained = self.queues.drain(max(0.0, deadline - time.monotonic()))
        if drained and self.streams is not None:
            drained = self.streams.drain(max(0.0, deadline - time.monotonic()))
        body = {
            "schedule": name,
            "function": schedule.function,
            "result": result,
            "drained": drained,
            "worker_invocations": self.queues.invocations() - before,
        }
        return RunOutcome(200 if drained else 504, body)


def _parsed(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text
