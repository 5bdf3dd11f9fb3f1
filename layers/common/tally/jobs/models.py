"""What the jobs' admin routes answer."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from tally.jobs.dead_letters import DeadLetter
from tally.jobs.runs import JobRun


class JobRunsOut(BaseModel):
    model_config = ConfigDict(extra="forbid")

    runs: list[JobRun] = Field(description="The job's runs, newest first")
    next_cursor: str | None = Field(default=None, description="Pass as `cursor` for the next page")


class DeadLetterOut(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(description="The message's id in the dead-letter queue (replay it by this id)")
    job: str | None = Field(description="The job (none: not a job message)")
    key: str | None = Field(description="The item: what it is about and which period or step")
    run_id: str | None
    as_of: datetime | None
    receive_count: int = Field(description="How many times a worker received it")
    first_sent_at: datetime | None
    reason: str | None = Field(description="The item's last error, as the worker recorded it")
    failed_at: datetime | None


class DeadLettersOut(BaseModel):
    model_config = ConfigDict(extra="forbid")

    dead_letters: list[DeadLetterOut]


class ReplayedOut(BaseModel):
    model_config = ConfigDict(extra="forbid")

    replayed: DeadLetterOut


def dead_letter_out(letter: DeadLetter) -> DeadLetterOut:
    return DeadLetterOut(
        id=letter.id,
        job=letter.job,
        key=letter.key,
        run_id=letter.run_id,
        as_of=letter.as_of,
        receive_count=letter.receive_count,
        first_sent_at=letter.first_sent_at,
        reason=letter.reason,
        failed_at=letter.failed_at,
    )
