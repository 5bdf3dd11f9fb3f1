"""Tracking's domain types: what is recorded, what is counted, what is read back."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Literal

EventKind = Literal["click", "view"]
Reason = Literal["duplicate", "bot"]

# The `kind` of a raw event item: the stream filter and the projection select on it.
EVENT_KIND = "event"


@dataclass(frozen=True)
class Visit:
    """What the request itself says about the visitor (never the body)."""

    source_ip: str | None
    user_agent: str | None


@dataclass(frozen=True)
class TrackedEvent:
    id: str
    account_id: str
    type: EventKind
    source: str
    occurred_at: datetime
    expires_at: int
    counted: bool
    reason: Reason | None = None
    page_type: str | None = None
    page_url: str | None = None
    position: int | None = None
    referrer: str | None = None
    sponsorship_id: str | None = None
    location_id: str | None = None
    user_agent: str | None = None
    ip_prefix: str | None = None


@dataclass(frozen=True)
class DedupClaim:
    """A claim on "this visitor, this page" for a window; only one event per window wins it."""

    fingerprint: str
    now_epoch: int
    window_ends_epoch: int


@dataclass(frozen=True)
class Outcome:
    id: str
    counted: bool
    reason: Reason | None


@dataclass(frozen=True)
class CountedEvent:
    """A counted event as the counter projection sees it (from the stream)."""

    sequence_number: str
    key: Mapping[str, Mapping[str, str]]
    account_id: str
    day: date
    type: EventKind
    source: str
    sponsorship_id: str | None


@dataclass(frozen=True)
class CounterSnapshot:
    total: Mapping[str, int] = field(default_factory=dict)
    days: Mapping[date, Mapping[str, int]] = field(default_factory=dict)
    sponsorships: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
