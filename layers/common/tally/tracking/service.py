"""Tracking logic: decide what counts, record it, and read stats from counters."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache
from typing import Any, get_args

from pydantic import TypeAdapter, ValidationError

from tally import clock
from tally.errors import NotFound, ServiceUnavailable
from tally.tracking.bots import is_crawler
from tally.tracking.counters import by_source
from tally.tracking.domain import DedupClaim, EventKind, Outcome, TrackedEvent, Visit
from tally.tracking.models import (
    BatchClickIn,
    BatchEventIn,
    BatchOut,
    BatchResultOut,
    BatchViewIn,
    ClickIn,
    ClickSource,
    DayOut,
    FieldError,
    SponsorshipOut,
    StatsOut,
    ViewIn,
    ViewSource,
)
from tally.tracking.ports import AccountDirectory, CounterStore, EventLedger
from tally.tracking.visitor import fingerprint, truncate_ip
from tally.validation import describe_errors

CLICK_SOURCES: tuple[str, ...] = get_args(ClickSource)
VIEW_SOURCES: tuple[str, ...] = get_args(ViewSource)
MAX_STATS_DAYS = 366


@lru_cache(maxsize=1)
def _batch_event() -> TypeAdapter[BatchClickIn | BatchViewIn]:
    # Built on first batch, not at import: single clicks (most cold starts) never need it.
    return TypeAdapter(BatchEventIn)


@dataclass(frozen=True)
class TrackingPolicy:
    dedup_window_seconds: int = 60
    retention_days: int = 90
    # A callable is read only when a counted event needs a fingerprint (the deployed salt is a
    # secret fetched on first use, so bots, stats and cold starts never wait for it).
    visitor_salt: str | Callable[[], str] = "tally"

    def salt(self) -> str:
        return self.visitor_salt() if callable(self.visitor_salt) else self.visitor_salt


def new_event_id() -> str:
    return f"evt_{uuid.uuid4().hex}"


class TrackingService:
    def __init__(
        self,
        ledger: EventLedger,
        accounts: AccountDirectory,
        counters: CounterStore,
        policy: TrackingPolicy,
        id_factory: Callable[[], str] = new_event_id,
    ) -> None:
        self._ledger = ledger
        self._accounts = accounts
        self._counters = counters
        self._policy = policy
        self._new_id = id_factory

    # --- writing ---------------------------------------------------------------------------

    def track(self, kind: EventKind, body: ClickIn | ViewIn, visit: Visit) -> Outcome:
        if body.account_id not in self._accounts.known([body.account_id]):
            raise NotFound(f"Unknown account '{body.account_id}'", field="account_id")
        return self._record(kind, body, visit)

    def track_batch(self, raw_events: Sequence[Any], visit: Visit) -> BatchOut:
        """Validate and record each event on its own; the answer keeps the request's order."""
        parsed: list[BatchClickIn | BatchViewIn | list[dict[str, Any]]] = []
        for index, raw in enumerate(raw_events):
            try:
                parsed.append(_batch_event().validate_python(raw))
            except ValidationError as exc:
                parsed.append(describe_errors(exc.errors(), prefix=f"events.{index}"))
        wanted = {item.account_id for item in parsed if not isinstance(item, list)}
        known = self._accounts.known(wanted) if wanted else set()

        results: list[BatchResultOut] = []
        unavailable = False
        for index, item in enumerate(parsed):
            if isinstance(item, list):
                errors = [FieldError(field=e["field"], message=e["message"]) for e in item]
                results.append(BatchResultOut(index=index, status=422, errors=errors))
            elif item.account_id not in known:
                error = FieldError(
                    field=f"events.{index}.account_id", message=f"Unknown account '{item.account_id}'"
                )
                results.append(BatchResultOut(index=index, status=404, errors=[error]))
            elif unavailable:
                results.append(_unavailable(index))
            else:
                try:
                    outcome = self._record(item.type, item, visit)
                except ServiceUnavailable:
                    # Stop hammering a throttled table; the client retries the rest.
                    unavailable = True
                    results.append(_unavailable(index))
                    continue
                results.append(
                    BatchResultOut(
                        index=index, status=202, id=outcome.id, counted=outcome.counted, reason=outcome.reason
                    )
                )
        accepted = sum(1 for result in results if result.status == 202)
        return BatchOut(accepted=accepted, rejected=len(results) - accepted, results=results)

    def _record(self, kind: EventKind, body: ClickIn | ViewIn, visit: Visit) -> Outcome:
        now = clock.now()
        bot = is_crawler(visit.user_agent)
        event = TrackedEvent(
            id=self._new_id(),
            account_id=body.account_id,
            type=kind,
            source=body.source,
            occurred_at=now,
            expires_at=int((now + timedelta(days=self._policy.retention_days)).timestamp()),
            counted=not bot,
            reason="bot" if bot else None,
            page_type=body.page_type,
            page_url=body.page_url,
            position=body.position,
            referrer=body.referrer,
            sponsorship_id=body.sponsorship_id,
            location_id=body.location_id,
            user_agent=visit.user_agent,
            ip_prefix=truncate_ip(visit.source_ip),
        )
        claim = None if bot else self._claim_for(kind, body, visit, now)
        stored = self._ledger.record(event, claim)
        return Outcome(id=stored.id, counted=stored.counted, reason=stored.reason)

    def _claim_for(
        self, kind: EventKind, body: ClickIn | ViewIn, visit: Visit, now: datetime
    ) -> DedupClaim | None:
        window = self._policy.dedup_window_seconds
        if window <= 0:
            return None
        page = body.page_url or body.page_type or ""
        key = fingerprint(
            self._policy.salt(),
            visit.source_ip or "",
            visit.user_agent or "",
            body.account_id,
            kind,
            body.source,
            page,
        )
        epoch = int(now.timestamp())
        return DedupClaim(fingerprint=key, now_epoch=epoch, window_ends_epoch=epoch + window)

    # --- reading ---------------------------------------------------------------------------

    def stats(self, account_id: str, days: int) -> StatsOut:
        if account_id not in self._accounts.known([account_id]):
            raise NotFound(f"Unknown account '{account_id}'", field="account_id")
        last_day = clock.now().date()
        first_day = last_day - timedelta(days=days - 1)
        snapshot = self._counters.read(account_id, first_day, last_day)

        window_days = [first_day + timedelta(days=offset) for offset in range(days)]
        daily = []
        window: dict[str, int] = {}
        for day in window_days:
            counters = snapshot.days.get(day, {})
            for name, value in counters.items():
                window[name] = window.get(name, 0) + int(value)
            daily.append(
                DayOut(
                    date=day.isoformat(),
                    clicks=int(counters.get("clicks", 0)),
                    views=int(counters.get("views", 0)),
                )
            )
        clicks, views = window.get("clicks", 0), window.get("views", 0)
        return StatsOut(
            account_id=account_id,
            days=days,
            start=first_day.isoformat(),
            end=last_day.isoformat(),
            clicks_total=int(snapshot.total.get("clicks", 0)),
            views_total=int(snapshot.total.get("views", 0)),
            clicks=clicks,
            views=views,
            ctr=float(click_through_rate(clicks, views)),
            clicks_by_source=by_source(window, "click", CLICK_SOURCES),
            views_by_source=by_source(window, "view", VIEW_SOURCES),
            daily=daily,
            sponsorships=[
                SponsorshipOut(
                    sponsorship_id=sponsorship_id,
                    clicks=int(counters.get("clicks", 0)),
                    impressions=int(counters.get("impressions", 0)),
                )
                for sponsorship_id, counters in sorted(snapshot.sponsorships.items())
            ],
        )


def click_through_rate(clicks: int, views: int) -> Decimal:
    """Percentage with two decimals, half-up; 0 when nothing was viewed."""
    if views <= 0:
        return Decimal("0.00")
    return (Decimal(clicks) * 100 / Decimal(views)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def _unavailable(index: int) -> BatchResultOut:
    error = FieldError(field=f"events.{index}", message="Not recorded: the service is busy, retry this event")
    return BatchResultOut(index=index, status=503, errors=[error])
