"""The contract every scheduled job implements (decision 8).

A planner run, as of an instant, asks the job for what is due (`plan`: reads only the due-date
index, so its cost grows with the due items, never with the tables) and fans the items out
through SQS; a worker gives each item back to the job (`work`). `work` must be idempotent per
(job, entity, period or step) with conditional writes: an item may be worked twice (two runs
the same day, SQS redelivery) and must change nothing the second time.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, Protocol

JobName = Literal["recurring-invoicing", "dunning", "payment-retries", "trials", "expiry"]
# done: the side effect happened now; skipped: already done, or no longer due (paid, canceled).
WorkOutcome = Literal["done", "skipped"]


@dataclass(frozen=True)
class WorkItem:
    job: JobName
    key: str  # what the item is about and which step or period: "inv_123#J+3", "sub_9#2026-12"
    data: Mapping[str, str] = field(default_factory=dict)  # what the worker needs to find it


@dataclass(frozen=True)
class Worked:
    outcome: WorkOutcome
    detail: str = ""


class Job(Protocol):
    name: JobName

    def plan(self, as_of: datetime) -> Iterator[WorkItem]:
        """The items due as of `as_of` (aware, UTC)."""
        ...

    def work(self, item: WorkItem, as_of: datetime) -> Worked:
        """Do one item. Raise to have it retried (and dead-lettered after the retries)."""
        ...
