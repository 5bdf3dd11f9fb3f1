"""Usage API routes: billable metrics, usage events, quota checks, usage, entitlements, charges."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Annotated, Any

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Header, Path, Query
from aws_lambda_powertools.metrics import MetricUnit

from tally import clock
from tally.audit.context import context_from_event
from tally.billing.metrics import BillableMetric
from tally.errors import Conflict, InvalidInput
from tally.http.patterns import IDENTIFIER
from tally.http.responses import BODY, PRIVATE, responses
from tally.http.security import BEARER, BEARER_OR_KEY, KEY_ROUTE
from tally.identity.policy import ACCOUNT_HEADER, Permission
from tally.identity.principal import Principal, principal_from_event
from tally.identity.wiring import access_policy
from tally.notifications.mailer import SesMailer
from tally.settings import get_settings
from tally.storage import clients
from tally.storage.transaction import Transaction, TransactionRefused
from tally.usage.dynamo import DynamoUsageStore
from tally.usage.models import (
    ChargesOut,
    EntitlementsOut,
    MetricIn,
    MetricOut,
    MetricsOut,
    OverridesIn,
    OverridesOut,
    QuotaCheckIn,
    QuotaCheckOut,
    UsageBatchIn,
    UsageBatchOut,
    UsageOut,
    ViolationOut,
    ViolationsOut,
)
from tally.usage.service import UsageService, overrides_of
from usage.emails import QuotaMailer

router = Router()
metrics = Metrics()

TAGS = ["usage"]
AccountId = Annotated[str, Path(min_length=1, max_length=64, pattern=IDENTIFIER, description="The account")]
AccountHeader = Annotated[
    str | None, Header(alias=ACCOUNT_HEADER, min_length=1, max_length=64, pattern=IDENTIFIER)
]
PeriodName = Annotated[
    str,
    Query(
        min_length=1,
        max_length=16,
        pattern=r"^(current|\d{4}-\d{2})$",
        description="`current`, or the month a period starts in (`YYYY-MM`)",
    ),
]


@lru_cache(maxsize=1)
def store() -> DynamoUsageStore:
    return DynamoUsageStore(clients.on_first_use(clients.dynamodb), get_settings().billing_table_name)


@lru_cache(maxsize=1)
def service() -> UsageService:
    settings = get_settings()
    return UsageService(
        store(), QuotaMailer(store(), lambda: SesMailer(clients.sesv2(), settings.sender_email))
    )


def _who() -> Principal:
    return principal_from_event(router.current_event)


def _transaction(who: Principal, reason: str | None = None) -> Transaction:
    return Transaction(
        get_settings().billing_table_name, context_from_event(router.current_event, who, reason)
    )


def _metric_out(metric: BillableMetric) -> MetricOut:
    return MetricOut.model_validate(metric.model_dump(mode="json"))


# -- billable metrics ---------------------------------------------------------------------------


@router.post(
    "/v1/metrics",
    summary="Define a billable metric (platform admin)",
    description="`count` counts events; `sum`, `max`, `latest` read `quantity` (or `properties[field]`); "
    "`unique_count` counts distinct `properties[field]`. `reset: never` keeps one value for ever (a gauge).",
    tags=TAGS,
    security=BEARER,
    status_code=201,
    responses=responses(201, "The metric", (*PRIVATE, *BODY, 409), {409: "A metric with this code exists"}),
)
def create_metric(body: MetricIn) -> MetricOut:
    who = _who()
    access_policy().authorize_platform(who, Permission.METRICS_WRITE)
    try:
        metric = BillableMetric.model_validate(body.model_dump(exclude_none=True))
    except ValueError as error:
        raise InvalidInput(str(error).split("\n")[-1].strip(), field="field") from None
    transaction = _transaction(who)
    store().create_metric(metric, transaction)
    transaction.audit(
        "metric.created",
        "metric",
        metric.code,
        account_id=None,
        changes={"aggregation": (None, metric.aggregation)},
    )
    try:
        transaction.commit(clients.dynamodb())
    except TransactionRefused:
        raise Conflict(
            f"Metric '{metric.code}' exists already: metrics are not redefined", field="code"
        ) from None
    return _metric_out(metric)


@router.get(
    "/v1/metrics",
    summary="List the billable metrics",
    tags=TAGS,
    security=BEARER_OR_KEY,
    responses=responses(200, "Every metric, by code", PRIVATE, KEY_ROUTE),
)
def list_metrics() -> MetricsOut:
    _who()
    return MetricsOut(metrics=[_metric_out(m) for m in store().list_metrics()])


# -- usage events and quotas --------------------------------------------------------------------


@router.post(
    "/v1/usage",
    summary="Record up to 100 usage events (API key with usage:write, or a member)",
    description="Each event is recorded on its own; `results` keeps the request's order. `id` is yours: "
    "a repeat answers the first result and changes nothing. A hard quota refuses the event that would "
    "pass the limit (409 `quota_exceeded` naming the limit and the value); a soft quota accepts it.",
    tags=TAGS,
    security=BEARER_OR_KEY,
    status_code=202,
    responses=responses(
        202, "Each event's outcome, in the request's order", (*PRIVATE, *BODY, 404), KEY_ROUTE
    ),
)
def record_usage(body: UsageBatchIn, account_header: AccountHeader = None) -> UsageBatchOut:
    who = _who()
    policy = access_policy()
    access = policy.authorize(who, Permission.USAGE_WRITE, policy.account_for(who, account_header))
    answer = service().record_batch(access.account_id, list(body.events))
    if answer.accepted:
        metrics.add_metric(name="UsageEventsAccepted", unit=MetricUnit.Count, value=answer.accepted)
    if refused := sum(1 for result in answer.results if result.code == "quota_exceeded"):
        metrics.add_metric(name="UsageEventsOverQuota", unit=MetricUnit.Count, value=refused)
    return answer


@router.post(
    "/v1/quotas/check",
    summary="Would this much more usage be allowed? (usage:write; records nothing)",
    tags=TAGS,
    security=BEARER_OR_KEY,
    responses=responses(200, "Allowed or not, and what remains", (*PRIVATE, *BODY, 404), KEY_ROUTE),
)
def check_quota(body: QuotaCheckIn, account_header: AccountHeader = None) -> QuotaCheckOut:
    who = _who()
    policy = access_policy()
    # Asked by whoever sends usage: an API key with usage:write, or a member who may write usage.
    access = policy.authorize(who, Permission.USAGE_WRITE, policy.account_for(who, account_header))
    return service().check(access.account_id, body.metric, body.quantity)


@router.get(
    "/v1/accounts/<account_id>/usage",
    summary="An account's usage in a period: value, limit, percent and state per metric",
    description="`ok` below 80 %, `warning` from 80 %, `exceeded` at the limit. Without a current "
    "subscription there are no quotas and periods are calendar months in UTC.",
    tags=TAGS,
    security=BEARER_OR_KEY,
    responses=responses(200, "The period's usage", (*PRIVATE, 404, 422), KEY_ROUTE),
)
def account_usage(account_id: AccountId, period: PeriodName = "current") -> UsageOut:
    access = access_policy().authorize(_who(), Permission.USAGE_READ, account_id)
    return service().usage(access.account_id, period)


@router.get(
    "/v1/accounts/<account_id>/usage/charges",
    summary="Preview a period's usage-based charges, line by line (minor units, half-up per line)",
    tags=TAGS,
    security=BEARER_OR_KEY,
    responses=responses(200, "The charge lines the invoice will bill", (*PRIVATE, 404, 422), KEY_ROUTE),
)
def account_charges(account_id: AccountId, period: PeriodName = "current") -> ChargesOut:
    access = access_policy().authorize(_who(), Permission.BILLING_READ, account_id)
    return service().charges(access.account_id, period)


@router.get(
    "/v1/accounts/<account_id>/entitlements",
    summary="The features and quotas in force (members, or an API key with usage:read)",
    description="The plan version's, each replaced by a platform admin's override. Without a current "
    "subscription: no features and no quotas.",
    tags=TAGS,
    security=BEARER_OR_KEY,
    responses=responses(200, "The entitlements", (*PRIVATE, 404, 422), KEY_ROUTE),
)
def account_entitlements(account_id: AccountId) -> EntitlementsOut:
    access = access_policy().authorize(_who(), Permission.USAGE_READ, account_id)
    return service().entitlements(access.account_id)


@router.put(
    "/v1/accounts/<account_id>/overrides",
    summary="Replace an account's feature and quota overrides (platform admin, with a reason)",
    description="A quota of `null` removes it (unlimited). The set is replaced, audited with the reason.",
    tags=TAGS,
    security=BEARER,
    responses=responses(200, "The overrides now in force", (*PRIVATE, *BODY, 404)),
)
def put_overrides(account_id: AccountId, body: OverridesIn) -> OverridesOut:
    who = _who()
    access = access_policy().authorize(who, Permission.ENTITLEMENTS_OVERRIDE, account_id)
    overrides = overrides_of(
        body.features,
        {metric: None if quota is None else quota.model_dump() for metric, quota in body.quotas.items()},
    )
    before = store().overrides(access.account_id)
    transaction = _transaction(who, body.reason)
    store().put_overrides(access.account_id, overrides, transaction)
    transaction.audit(
        "entitlements.overridden",
        "account",
        access.account_id,
        account_id=access.account_id,
        changes={
            "overrides": (None if before is None else before.model_dump_json(), overrides.model_dump_json())
        },
    )
    transaction.commit(clients.dynamodb())
    dumped: dict[str, Any] = overrides.model_dump(mode="json")
    return OverridesOut(account_id=access.account_id, features=dumped["features"], quotas=dumped["quotas"])


# -- violations -----------------------------------------------------------------------------------


Cursor = Annotated[
    str | None,
    Query(min_length=1, max_length=2048, description="The `next_cursor` of the previous page"),
]
Limit = Annotated[int, Query(ge=1, le=100, description="Violations per page")]


def _violations(found: tuple[list[dict[str, Any]], str | None]) -> ViolationsOut:
    items, next_cursor = found
    return ViolationsOut(violations=[ViolationOut.model_validate(v) for v in items], next_cursor=next_cursor)


@router.get(
    "/v1/accounts/<account_id>/quota-violations",
    summary="An account's quota violations, newest first, a page at a time",
    tags=TAGS,
    security=BEARER_OR_KEY,
    responses=responses(200, "The violations", (*PRIVATE, 404, 422), KEY_ROUTE),
)
def account_violations(account_id: AccountId, cursor: Cursor = None, limit: Limit = 50) -> ViolationsOut:
    access = access_policy().authorize(_who(), Permission.USAGE_READ, account_id)
    return _violations(store().violations(access.account_id, limit, cursor))


ISO_INSTANT = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:\d{2})$"
Instant = Annotated[
    str | None,
    Query(
        max_length=40,
        pattern=ISO_INSTANT,
        description="An ISO-8601 instant with its offset (defaults: the 30 days before `to`, `to` now)",
    ),
]


def _instant(value: str | None, name: str) -> datetime | None:
    if value is None:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)
    except ValueError:
        raise InvalidInput(f"{name}: not an instant: {value!r}", field=name, location="query") from None


@router.get(
    "/v1/quota-violations",
    summary="Every account's quota violations between two instants, newest first (platform staff)",
    tags=TAGS,
    security=BEARER,
    responses=responses(200, "A page of the violations", (*PRIVATE, 422)),
)
def platform_violations(
    from_: Annotated[
        str | None,
        Query(
            alias="from",
            max_length=40,
            pattern=ISO_INSTANT,
            description="An ISO-8601 instant with its offset",
        ),
    ] = None,
    to: Instant = None,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> ViolationsOut:
    access_policy().authorize_platform(_who(), Permission.USAGE_READ)
    end = _instant(to, "to") or clock.now()
    start = _instant(from_, "from") or end - timedelta(days=30)
    return _violations(store().violations_between(start.astimezone(UTC), end.astimezone(UTC), limit, cursor))
