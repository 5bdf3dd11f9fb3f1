"""The jobs' runs and dead letters, for platform admins."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.api_gateway import BaseRouter, Router
from aws_lambda_powertools.event_handler.openapi.params import Path, Query

from tally.audit.context import context_from_event
from tally.http.responses import PRIVATE, responses
from tally.http.security import BEARER
from tally.identity.policy import Permission
from tally.identity.principal import Principal, principal_from_event
from tally.identity.wiring import access_policy
from tally.jobs import wiring
from tally.jobs.base import JobName
from tally.jobs.models import DeadLettersOut, JobRunsOut, ReplayedOut, dead_letter_out

router = Router()
TAGS = ["Jobs"]

MessageId = Annotated[
    str,
    Path(
        min_length=1, max_length=100, pattern=r"^[A-Za-z0-9-]+$", description="The dead letter's message id"
    ),
]


def _admin() -> Principal:
    who = principal_from_event(BaseRouter.current_event)
    access_policy().authorize_platform(who, Permission.PLATFORM_ADMIN)
    return who


@router.get(
    "/v1/jobs/runs",
    summary="A job's runs, newest first (platform admin)",
    description="Each run: its instant (`as_of`), start and end, items planned, done (of which "
    "skipped: done already or no longer due) and failed (dead-lettered).",
    tags=TAGS,
    security=BEARER,
    responses=responses(200, "A page of runs", (*PRIVATE, 422), {422: "Unknown job, or a bad cursor"}),
)
def list_runs(
    job: Annotated[JobName, Query(description="The job")],
    cursor: Annotated[str | None, Query(max_length=1000, description="From `next_cursor`")] = None,
    limit: Annotated[int, Query(ge=1, le=100, description="Runs per page")] = 20,
) -> JobRunsOut:
    _admin()
    runs, next_cursor = wiring.runs().page(job, limit, cursor)
    return JobRunsOut(runs=runs, next_cursor=next_cursor)


@router.get(
    "/v1/jobs/dead-letters",
    summary="The jobs' dead letters (platform admin)",
    description="Items that failed every attempt, with their last error. Reading does not remove "
    "or hide them. A large queue is sampled: up to `limit`.",
    tags=TAGS,
    security=BEARER,
    responses=responses(200, "Dead letters", (*PRIVATE, 422)),
)
def list_dead_letters(
    limit: Annotated[int, Query(ge=1, le=100, description="At most this many")] = 50,
) -> DeadLettersOut:
    _admin()
    return DeadLettersOut(dead_letters=[dead_letter_out(d) for d in wiring.dead_letters().listed(limit)])


@router.post(
    "/v1/jobs/dead-letters/<message_id>/replay",
    summary="Send a dead letter back to its job (platform admin)",
    description="Back on the jobs queue, removed from the dead letters; audited. The job's work is "
    "idempotent, so a replay of something done already changes nothing.",
    tags=TAGS,
    security=BEARER,
    responses=responses(200, "The replayed item", (*PRIVATE, 404, 422), {404: "No such dead letter"}),
)
def replay_dead_letter(message_id: MessageId) -> ReplayedOut:
    who = _admin()
    context = context_from_event(BaseRouter.current_event, who, None)
    return ReplayedOut(replayed=dead_letter_out(wiring.dead_letters().replay(message_id, context)))
