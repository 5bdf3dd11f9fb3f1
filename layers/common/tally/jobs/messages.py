"""The jobs queue's message: one work item of one planner run.

{"job": "trials", "key": "sub_1#D-3", "data": {...}, "as_of": "2026-03-01T02:00:00+00:00",
 "run": "20260301T020000.000000Z-1a2b3c4d"}
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast, get_args

from tally.billing.periods import utc
from tally.jobs.base import JobName, WorkItem

JOB_NAMES: tuple[JobName, ...] = get_args(JobName)


@dataclass(frozen=True)
class JobMessage:
    item: WorkItem
    as_of: datetime
    run_id: str

    def body(self) -> str:
        return json.dumps(
            {
                "job": self.item.job,
                "key": self.item.key,
                "data": dict(self.item.data),
                "as_of": self.as_of.isoformat(),
                "run": self.run_id,
            },
            separators=(",", ":"),
            sort_keys=True,
        )

    @classmethod
    def parse(cls, body: str) -> JobMessage:
        """ValueError, in words, for a body that is not a job message."""
        try:
            values: dict[str, Any] = json.loads(body)
            job, key, data = values["job"], values["key"], values.get("data") or {}
            as_of = utc(datetime.fromisoformat(values["as_of"]))
            run_id = str(values["run"])
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"Not a job message: {type(exc).__name__}") from None
        if job not in JOB_NAMES or not isinstance(key, str) or not isinstance(data, dict):
            raise ValueError(f"Not a job message: unknown job {job!r} or a malformed item")
        item = WorkItem(cast(JobName, job), key, {str(k): str(v) for k, v in data.items()})
        return cls(item, as_of, run_id)


def parse_as_of(event: dict[str, Any], now: datetime) -> datetime:
    """A schedule's or the local stack's `as_of` (ISO-8601, with an offset), else `now`."""
    given = event.get("as_of")
    if not given:
        return utc(now)
    try:
        parsed = datetime.fromisoformat(str(given))
    except ValueError:
        raise ValueError(f"as_of must be an ISO-8601 instant, not {given!r}") from None
    if parsed.tzinfo is None:
        raise ValueError("as_of must carry its offset (2026-03-01T00:00:00Z)")
    return utc(parsed)
