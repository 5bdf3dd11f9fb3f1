"""Tracking API routes: public event intake, authenticated stats."""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Header, Query
from aws_lambda_powertools.metrics import MetricUnit

from tally.http.patterns import IDENTIFIER
from tally.http.responses import BODY, PRIVATE, responses
from tally.http.security import BEARER_OR_KEY
from tally.identity.policy import ACCOUNT_HEADER, Permission
from tally.identity.principal import principal_from_event
from tally.identity.wiring import access_policy
from tally.parameters import SecretString
from tally.settings import get_settings
from tally.storage import clients
from tally.tracking.domain import EventKind, Visit
from tally.tracking.dynamo import DynamoAccountDirectory, DynamoCounterStore, DynamoEventLedger
from tally.tracking.models import BatchIn, BatchOut, ClickIn, StatsOut, TrackOut, ViewIn
from tally.tracking.service import MAX_STATS_DAYS, TrackingPolicy, TrackingService

router = Router()
metrics = Metrics()


@lru_cache(maxsize=1)
def service() -> TrackingService:
    settings = get_settings()
    dynamodb = clients.dynamodb()
    return TrackingService(
        ledger=DynamoEventLedger(dynamodb, settings.events_table_name),
        accounts=DynamoAccountDirectory(dynamodb, settings.billing_table_name),
        counters=DynamoCounterStore(dynamodb, settings.events_table_name),
        policy=TrackingPolicy(
            dedup_window_seconds=settings.dedup_window_seconds,
            retention_days=settings.event_retention_days,
            # Fetched from Secrets Manager by the first counted event, then cached.
            visitor_salt=SecretString(settings.visitor_salt_secret_arn, "VISITOR_SALT_SECRET_ARN"),
        ),
    )


def _visit() -> Visit:
    # The address API Gateway saw on the socket; X-Forwarded-For is client-controlled.
    http = (router.current_event.get("requestContext") or {}).get("http") or {}
    user_agent = http.get("userAgent") or router.current_event.headers.get("user-agent")
    return Visit(source_ip=http.get("sourceIp"), user_agent=user_agent)


def _count(outcomes: list[tuple[bool, str | None]]) -> None:
    """Business counters (EMF): how many events counted, and why the others were not."""
    for name, hits in (
        ("EventsCounted", sum(1 for counted, _ in outcomes if counted)),
        ("EventsDuplicate", sum(1 for _, reason in outcomes if reason == "duplicate")),
        ("EventsBot", sum(1 for _, reason in outcomes if reason == "bot")),
    ):
        if hits:
            metrics.add_metric(name=name, unit=MetricUnit.Count, value=hits)


def _track_one(kind: EventKind, body: ClickIn | ViewIn) -> TrackOut:
    outcome = service().track(kind, body, _visit())
    _count([(outcome.counted, outcome.reason)])
    return TrackOut(id=outcome.id, counted=outcome.counted, reason=outcome.reason)


ACKNOWLEDGED = "Acknowledged; `counted` says whether it was counted"
# What the routes that take API keys answer for identity (docs/identity.md, decision 0008).
KEY_ROUTE = {
    401: (
        "No Authorization header (API Gateway: `message` only); or, in words, an API key that is "
        "unknown or revoked, or an id token that has expired"
    ),
    403: (
        "A malformed Authorization header (API Gateway: `message` only); an API key without the "
        "route's scope (named) or of another account; a user without access to the account"
    ),
}
UNKNOWN_ACCOUNT = {404: "Unknown account: nothing was recorded"}


@router.post(
    "/v1/track/click",
    summary="Record a click",
    tags=["tracking"],
    status_code=202,
    responses=responses(202, ACKNOWLEDGED, (*BODY, 404), UNKNOWN_ACCOUNT),
)
def track_click(body: ClickIn) -> TrackOut:
    return _track_one("click", body)


@router.post(
    "/v1/track/view",
    summary="Record a view (impression)",
    tags=["tracking"],
    status_code=202,
    responses=responses(202, ACKNOWLEDGED, (*BODY, 404), UNKNOWN_ACCOUNT),
)
def track_view(body: ViewIn) -> TrackOut:
    return _track_one("view", body)


@router.post(
    "/v1/track/events",
    summary="Record up to 100 clicks and views",
    description="Each event is validated and recorded on its own; `results` keeps the request's order.",
    tags=["tracking"],
    status_code=202,
    responses=responses(202, "Each event's outcome, in the request's order", BODY),
)
def track_batch(body: BatchIn) -> BatchOut:
    answer = service().track_batch(body.events, _visit())
    _count([(bool(r.counted), r.reason) for r in answer.results if r.status == 202])
    return answer


@router.get(
    "/v1/track/stats",
    summary="Clicks, views and CTR of an account (users of the account, or an API key with stats:read)",
    tags=["tracking"],
    security=BEARER_OR_KEY,
    responses=responses(200, "The account's counters", (*PRIVATE, 404, 422), KEY_ROUTE),
)
def stats(
    account_id: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=64,
            pattern=IDENTIFIER,
            description="The account to report on (else X-Account-Id, else your only account)",
        ),
    ] = None,
    days: Annotated[
        int, Query(ge=1, le=MAX_STATS_DAYS, description="Window length in days, today included")
    ] = 30,
    account_header: Annotated[
        str | None, Header(alias=ACCOUNT_HEADER, min_length=1, max_length=64, pattern=IDENTIFIER)
    ] = None,
) -> StatsOut:
    # A user of the account, platform staff, or an API key of this account with stats:read.
    who = principal_from_event(router.current_event)
    policy = access_policy()
    access = policy.authorize(
        who, Permission.STATS_READ, account_id or policy.account_for(who, account_header)
    )
    return service().stats(access.account_id, days)
