"""Usage metering: recording events against billable metrics, quotas, usage, charges.

Per event (docs/billing.md "Usage storage"): a fixed number of DynamoDB operations whatever the
account has stored. The batch's terms (subscription pointer, plan version, overrides) and its
metrics are read once per batch; then each event is one transaction (its idempotency item and
the aggregate's conditional update), a second one only when a max/latest/unique event leaves the
aggregate as it is, and, for soft quotas, one read of the aggregate and at most one marker per
threshold crossed. A hard quota is enforced by the update's own condition (`value <= limit -
quantity`), so concurrent events stop exactly at the limit.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Protocol

from pydantic import TypeAdapter, ValidationError

from tally import clock
from tally.billing import charges as billing_charges
from tally.billing.catalogue import Cycle, Quota
from tally.billing.metrics import BillableMetric, MeteredEvent, contribution, value_after
from tally.billing.periods import BillingAnchor, Period, period_containing, period_for_key, period_key
from tally.billing.quotas import (
    Entitlements,
    Overrides,
    check_increment,
    entitlements,
    hard_limit_threshold,
    usage_status,
)
from tally.errors import InvalidInput, NotFound, ServiceUnavailable
from tally.storage import keys
from tally.usage.dynamo import AccountTerms, Recorded
from tally.usage.models import (
    ChargeLineOut,
    ChargesOut,
    EntitlementsOut,
    FieldErrorOut,
    MetricUsageOut,
    QuotaCheckOut,
    UsageBatchOut,
    UsageEventIn,
    UsageOut,
    UsageResultOut,
)
from tally.validation import describe_errors

FUTURE_TOLERANCE = timedelta(minutes=5)
# Without a subscription: calendar months in UTC, and no quotas.
NO_SUBSCRIPTION_ANCHOR = BillingAnchor(datetime(2000, 1, 1, tzinfo=UTC), "UTC")


class UsageStore(Protocol):
    def terms(self, account_id: str) -> AccountTerms: ...
    def metrics(self, codes: set[str]) -> dict[str, BillableMetric]: ...
    def record(
        self,
        account_id: str,
        event_id: str,
        period: str,
        step: Any,
        metric: str,
        threshold: Decimal | None,
        result: Mapping[str, Any],
        at: datetime,
    ) -> Recorded: ...
    def first_result(self, account_id: str, event_id: str) -> dict[str, Any] | None: ...
    def aggregate(self, account_id: str, period: str, metric: str) -> tuple[Decimal, frozenset[int]]: ...
    def aggregates(self, account_id: str, period: str) -> dict[str, Decimal]: ...
    def claim_notice(
        self, account_id: str, period: str, metric: str, threshold: int, at: datetime
    ) -> bool: ...
    def put_violation(
        self, account_id: str, violation: Mapping[str, Any], at: datetime, violation_id: str
    ) -> None: ...


@dataclass(frozen=True)
class ThresholdNotice:
    account_id: str
    metric: str
    period: str
    threshold: int
    value: Decimal
    limit: int


Notify = Callable[[ThresholdNotice], None]


@dataclass(frozen=True)
class Schedule:
    """How periods are cut for an account: its subscription's anchor and cycle, or calendar
    months in UTC without a subscription."""

    anchor: BillingAnchor
    cycle: Cycle
    # The pointer's current period, authoritative while it lasts (a change of plan or cycle may
    # have started it off the anchor's rhythm); other periods are cut from the anchor.
    current: Period | None = None

    @staticmethod
    def of(terms: AccountTerms) -> Schedule:
        sub = terms.subscription
        if sub is None:
            return Schedule(NO_SUBSCRIPTION_ANCHOR, "monthly")
        cycle: Cycle = sub.cycle  # type: ignore[assignment]
        current = Period(-1, sub.current_period_start.astimezone(UTC), sub.current_period_end.astimezone(UTC))
        return Schedule(BillingAnchor(sub.billing_anchor, sub.time_zone), cycle, current)

    def period(self, instant: datetime) -> Period:
        if self.current is not None and self.current.contains(instant):
            return self.current
        return period_containing(self.anchor, self.cycle, max(instant, self.anchor.at))

    def key(self, period: Period) -> str:
        return period_key(period.start, self.anchor.zone)

    def named(self, name: str, now: datetime) -> Period:
        if name == "current":
            return self.period(now)
        try:
            return period_for_key(self.anchor, self.cycle, name)
        except ValueError as error:
            raise InvalidInput(str(error), field="period", location="query") from None


def entitlements_of(terms: AccountTerms) -> Entitlements | None:
    if terms.version is None:
        return None
    return entitlements(terms.version, terms.overrides)


def quota_of(terms: AccountTerms, metric: str) -> Quota | None:
    rights = entitlements_of(terms)
    return None if rights is None else rights.quota(metric)


def period_of(metric: BillableMetric, schedule: Schedule, period: Period) -> str:
    return keys.FOREVER if metric.reset == "never" else schedule.key(period)


_EVENT = TypeAdapter(UsageEventIn)


class UsageService:
    def __init__(self, store: UsageStore, notify: Notify | None = None) -> None:
        self._store = store
        self._notify = notify or (lambda notice: None)

    # -- recording -----------------------------------------------------------------------------

    def record_batch(self, account_id: str, raw_events: list[Any]) -> UsageBatchOut:
        now = clock.now()
        parsed: list[UsageEventIn | list[dict[str, Any]]] = []
        for index, raw in enumerate(raw_events):
            try:
                parsed.append(_EVENT.validate_python(raw))
            except ValidationError as error:
                parsed.append(describe_errors(error.errors(), prefix=f"events.{index}"))
        codes = {event.metric for event in parsed if isinstance(event, UsageEventIn)}
        terms = self._store.terms(account_id)
        metrics = self._store.metrics(codes)
        schedule = Schedule.of(terms)
        current = schedule.period(now)
        results: list[UsageResultOut] = []
        unavailable = False
        for index, item in enumerate(parsed):
            if isinstance(item, list):
                errors = [FieldErrorOut(field=e["field"], message=e["message"]) for e in item]
                results.append(UsageResultOut(index=index, status=422, code="invalid_input", errors=errors))
                continue
            if unavailable:
                results.append(_unavailable(index, item.id))
                continue
            try:
                results.append(self._record(account_id, index, item, terms, metrics, schedule, current, now))
            except ServiceUnavailable:
                unavailable = True
                results.append(_unavailable(index, item.id))
        accepted = sum(1 for result in results if result.status == 202)
        return UsageBatchOut(accepted=accepted, rejected=len(results) - accepted, results=results)

    def _record(
        self,
        account_id: str,
        index: int,
        event: UsageEventIn,
        terms: AccountTerms,
        metrics: Mapping[str, BillableMetric],
        schedule: Schedule,
        current: Period,
        now: datetime,
    ) -> UsageResultOut:
        def refused(
            field: str, message: str, status: int = 422, code: str = "invalid_input"
        ) -> UsageResultOut:
            return UsageResultOut(
                index=index,
                status=status,
                id=event.id,
                metric=event.metric,
                code=code,
                message=message,
                errors=[FieldErrorOut(field=f"events.{index}.{field}", message=message)],
            )

        metric = metrics.get(event.metric)
        if metric is None:
            return refused("metric", f"Unknown metric '{event.metric}': see GET /v1/metrics")
        at = (event.timestamp or now).astimezone(UTC)
        if at < current.start or at > now + FUTURE_TOLERANCE:
            # A repeat of an event recorded before the period closed still answers its first result.
            if (first := self._store.first_result(account_id, event.id)) is not None:
                return UsageResultOut.model_validate({**first, "index": index, "repeat": True})
            if at < current.start:
                return refused(
                    "timestamp",
                    f"{at.isoformat()} is before the current period, which started at "
                    f"{current.start.isoformat()}: usage of a closed period is not accepted",
                )
            return refused(
                "timestamp",
                f"{at.isoformat()} is more than 5 minutes ahead of the server's clock ({now.isoformat()})",
            )
        try:
            step = contribution(metric, MeteredEvent(at, event.quantity, event.properties))
        except InvalidInput as error:
            return refused(error.field or "properties", str(error))
        period = period_of(metric, schedule, schedule.period(at))
        quota = quota_of(terms, metric.code)
        threshold: Decimal | None = None
        if quota is not None and quota.enforcement == "hard":
            if step.op == "add":
                # The update's condition decides, atomically (a repeat is still recognised).
                threshold = hard_limit_threshold(quota.limit, step.value)
            elif step.value > quota.limit:
                # max and latest: the event's own value is past the limit.
                if (first := self._store.first_result(account_id, event.id)) is not None:
                    return UsageResultOut.model_validate({**first, "index": index, "repeat": True})
                value, _ = self._store.aggregate(account_id, period, metric.code)
                return self._exceeded(index, event, period, quota.limit, value)
        result = {"status": 202, "id": event.id, "metric": metric.code, "period": period}
        recorded = self._store.record(account_id, event.id, period, step, metric.code, threshold, result, now)
        if recorded.outcome == "repeat":
            first = dict(recorded.result or result)
            return UsageResultOut.model_validate({**first, "index": index, "repeat": True})
        if recorded.outcome == "refused" and quota is not None:
            return self._exceeded(index, event, period, quota.limit, recorded.value)
        if quota is not None and quota.enforcement == "soft":
            self._soft(account_id, metric.code, period, quota.limit, now)
        return UsageResultOut(index=index, status=202, id=event.id, metric=metric.code, period=period)

    @staticmethod
    def _exceeded(index: int, event: UsageEventIn, period: str, limit: int, value: Decimal) -> UsageResultOut:
        message = (
            f"quota_exceeded: {event.metric} is limited to {limit} in period {period} and is at "
            f"{value}: this event would take it past the limit"
        )
        return UsageResultOut(
            index=index,
            status=409,
            id=event.id,
            metric=event.metric,
            period=period,
            code="quota_exceeded",
            message=message,
            limit=limit,
            value=value,
        )

    def _soft(self, account_id: str, metric: str, period: str, limit: int, now: datetime) -> None:
        """After an accepted event under a soft quota: each threshold reached and not yet noted
        gets its marker (once), its emails, and at 100 % a violation."""
        value, noted = self._store.aggregate(account_id, period, metric)
        for threshold in (80, 100):
            if threshold in noted or value * 100 < threshold * limit:
                continue
            if not self._store.claim_notice(account_id, period, metric, threshold, now):
                continue
            if threshold == 100:
                violation_id = uuid.uuid4().hex[:16]
                self._store.put_violation(
                    account_id,
                    {
                        "id": violation_id,
                        "account_id": account_id,
                        "metric": metric,
                        "period": period,
                        "at": now.astimezone(UTC).isoformat(),
                        "limit": limit,
                        "value": value,
                        "enforcement": "soft",
                    },
                    now,
                    violation_id,
                )
            self._notify(ThresholdNotice(account_id, metric, period, threshold, value, limit))

    # -- reading -------------------------------------------------------------------------------

    def check(self, account_id: str, metric_code: str, quantity: Decimal) -> QuotaCheckOut:
        """Whether `quantity` more would be allowed now; records nothing."""
        metric = self._store.metrics({metric_code}).get(metric_code)
        if metric is None:
            raise InvalidInput(f"Unknown metric '{metric_code}': see GET /v1/metrics", field="metric")
        terms = self._store.terms(account_id)
        schedule = Schedule.of(terms)
        now = clock.now()
        period = period_of(metric, schedule, schedule.period(now))
        value, _ = self._store.aggregate(account_id, period, metric.code)
        step = contribution(
            metric, MeteredEvent(now, quantity, {metric.field: quantity} if metric.field else None)
        )
        after = value_after(value, step)
        quota = quota_of(terms, metric.code)
        decision = check_increment(value, after, quota)
        return QuotaCheckOut(
            metric=metric.code,
            period=period,
            allowed=decision.allowed,
            value=value,
            value_after=after,
            limit=decision.limit,
            remaining=decision.remaining,
            enforcement=None if quota is None else quota.enforcement,
        )

    def usage(self, account_id: str, period_name: str) -> UsageOut:
        terms = self._store.terms(account_id)
        schedule = Schedule.of(terms)
        period = schedule.named(period_name, clock.now())
        key = schedule.key(period)
        values = self._store.aggregates(account_id, key)
        forever = self._store.aggregates(account_id, keys.FOREVER)
        rights = entitlements_of(terms)
        quotas = dict(rights.quotas) if rights else {}
        names = sorted(set(values) | set(forever) | set(quotas))
        lines = []
        for name in names:
            status = usage_status(name, values.get(name, forever.get(name, Decimal(0))), quotas.get(name))
            lines.append(
                MetricUsageOut(
                    metric=name,
                    value=status.value,
                    limit=status.limit,
                    percent=status.percent,
                    state=status.state,
                    enforcement=status.enforcement,
                )
            )
        return UsageOut(
            account_id=account_id,
            period=key,
            start=period.start,
            end=period.end,
            subscribed=terms.subscription is not None,
            metrics=lines,
        )

    def entitlements(self, account_id: str) -> EntitlementsOut:
        terms = self._store.terms(account_id)
        rights = entitlements_of(terms)
        sub = terms.subscription
        return EntitlementsOut(
            account_id=account_id,
            plan_code=None if sub is None else sub.plan_code,
            plan_version=None if sub is None else sub.plan_version,
            features=dict(rights.features) if rights else {},
            quotas=dict(rights.quotas) if rights else {},
            overridden_features=sorted(rights.overridden_features) if rights else [],
            overridden_quotas=sorted(rights.overridden_quotas) if rights else [],
        )

    def charges(self, account_id: str, period_name: str) -> ChargesOut:
        terms = self._store.terms(account_id)
        schedule = Schedule.of(terms)
        period = schedule.named(period_name, clock.now())
        key = schedule.key(period)
        if terms.subscription is None or terms.version is None:
            return ChargesOut(account_id=account_id, period=key, currency=None, lines=[], total=0)
        values = {
            **self._store.aggregates(account_id, keys.FOREVER),
            **self._store.aggregates(account_id, key),
        }
        currency = terms.subscription.currency
        lines = billing_charges.preview(terms.version.charges, values, currency)
        return ChargesOut(
            account_id=account_id,
            period=key,
            currency=currency,
            lines=[
                ChargeLineOut(
                    metric=line.metric,
                    model=line.model,
                    currency=line.currency,
                    usage=line.usage,
                    included_units=line.included_units,
                    billable=line.billable,
                    amount=line.amount,
                    description=line.description,
                )
                for line in lines
            ],
            total=billing_charges.total(lines),
        )


def overrides_of(body_features: Mapping[str, Any], body_quotas: Mapping[str, Any]) -> Overrides:
    return Overrides.model_validate({"features": dict(body_features), "quotas": dict(body_quotas)})


def _unavailable(index: int, event_id: str) -> UsageResultOut:
    message = "Not recorded: the service is busy, retry this event"
    return UsageResultOut(
        index=index,
        status=503,
        id=event_id,
        code="unavailable",
        message=message,
        errors=[FieldErrorOut(field=f"events.{index}", message=message)],
    )


def require_metric(found: BillableMetric | None, code: str) -> BillableMetric:
    if found is None:
        raise NotFound(f"No metric '{code}'", field="code")
    return found
