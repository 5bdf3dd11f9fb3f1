"""Billable metrics and how one usage event moves a metric's aggregate.

Where an event's value comes from (decided here, documented in docs/billing.md):

- `count` counts events; the event's quantity and properties are ignored, so `field` must be
  absent.
- `sum`, `max` and `latest` read the event's `quantity` (1 when the event gives none) when
  `field` is absent, and the numeric property `properties[field]` when it is present.
- `unique_count` counts distinct values of `properties[field]`: `field` is required. The caller
  claims each value once per period (a conditional put of a claim item); only a new claim adds
  one to the aggregate.

The aggregate of a period is moved by one `Contribution` per event: `add` (count, sum,
unique_count: an atomic ADD), `max` (SET if greater) or `latest` (SET if the event is not older
than the one the aggregate holds). `apply` is the same rule in Python, for fakes and previews.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from tally.billing.codes import MetricCode, PropertyName
from tally.errors import InvalidInput

Aggregation = Literal["count", "sum", "max", "unique_count", "latest"]
Reset = Literal["per_period", "never"]

# What a usage event's properties may hold (JSON scalars; numbers as Decimal, never float).
type PropertyValue = str | int | Decimal | bool | None

_NEEDS_FIELD: frozenset[Aggregation] = frozenset({"unique_count"})
_NO_FIELD: frozenset[Aggregation] = frozenset({"count"})


class BillableMetric(BaseModel):
    """A metric usage is recorded against: `api_calls` (sum per period), `storage_gb` (a gauge:
    latest, never reset), `active_users` (unique_count of properties.user_id)."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True, defer_build=True)

    code: MetricCode
    name: Annotated[str, Field(min_length=1, max_length=200)]
    aggregation: Aggregation
    field: PropertyName | None = Field(
        default=None,
        description="The event property holding the value: required for unique_count, forbidden for "
        "count; for sum, max and latest the event's quantity is used when absent",
    )
    reset: Reset = "per_period"
    unit: Annotated[str, Field(min_length=1, max_length=32)] | None = Field(
        default=None, description="What one unit is, for people (GB, call, SMS)"
    )

    @model_validator(mode="after")
    def _field_fits_the_aggregation(self) -> BillableMetric:
        if self.aggregation in _NEEDS_FIELD and self.field is None:
            raise ValueError(
                "field: a unique_count metric counts distinct values of one event property; "
                "name it in field (e.g. user_id)"
            )
        if self.aggregation in _NO_FIELD and self.field is not None:
            raise ValueError("field: a count metric counts events and reads no property; remove field")
        return self


@dataclass(frozen=True)
class MeteredEvent:
    """What the metric rules need of one usage event."""

    timestamp: datetime
    quantity: Decimal | None = None
    properties: Mapping[str, PropertyValue] | None = None


@dataclass(frozen=True)
class Contribution:
    """What one event does to its period's aggregate.

    op `add`: add `value` (count, sum; unique_count only when the caller's claim on `unique` was
    new). op `max`: keep the greater. op `latest`: replace when `at` is not older than the
    aggregate's. `unique` is the value a unique_count caller claims, else None.
    """

    op: Literal["add", "max", "latest"]
    value: Decimal
    at: datetime
    unique: str | None = None


@dataclass(frozen=True)
class Aggregate:
    """A metric's value in one period (or for ever, when it never resets), and the time of the
    event that set it (what `latest` compares)."""

    value: Decimal
    last_event_at: datetime | None = None


def _number(value: PropertyValue, where: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise InvalidInput(f"{where} must be a number for this metric", field=where)
    number = Decimal(value)
    if not number.is_finite():
        raise InvalidInput(f"{where} must be a finite number", field=where)
    return number


def event_value(metric: BillableMetric, event: MeteredEvent) -> Decimal:
    """The number an event brings to a sum, max or latest metric (1 for count and unique_count)."""
    if metric.aggregation in {"count", "unique_count"}:
        return Decimal(1)
    if metric.field is None:
        quantity = Decimal(1) if event.quantity is None else event.quantity
        if not quantity.is_finite() or quantity < 0:
            raise InvalidInput(f"quantity must be a number of zero or more: got {quantity}", field="quantity")
        return quantity
    where = f"properties.{metric.field}"
    properties = event.properties or {}
    if metric.field not in properties:
        raise InvalidInput(
            f"{where} is missing: metric {metric.code} ({metric.aggregation}) reads its value there",
            field=where,
        )
    value = _number(properties[metric.field], where)
    if value < 0:
        raise InvalidInput(f"{where} must be zero or more: got {value}", field=where)
    return value


def unique_value(metric: BillableMetric, event: MeteredEvent) -> str:
    """The value a unique_count event claims ("42" for 42 and for "42": one spelling per value)."""
    if metric.aggregation != "unique_count" or metric.field is None:
        raise ValueError(f"Metric {metric.code} is not a unique_count metric")
    where = f"properties.{metric.field}"
    value = (event.properties or {}).get(metric.field)
    if value is None or isinstance(value, bool) or value == "":
        raise InvalidInput(
            f"{where} is missing: metric {metric.code} counts its distinct values", field=where
        )
    if isinstance(value, int | Decimal):
        return format(Decimal(value).normalize(), "f")
    return value


def contribution(metric: BillableMetric, event: MeteredEvent) -> Contribution:
    """How `event` moves `metric`'s aggregate (see the module's docstring)."""
    match metric.aggregation:
        case "count":
            return Contribution("add", Decimal(1), event.timestamp)
        case "sum":
            return Contribution("add", event_value(metric, event), event.timestamp)
        case "unique_count":
            return Contribution("add", Decimal(1), event.timestamp, unique=unique_value(metric, event))
        case "max":
            return Contribution("max", event_value(metric, event), event.timestamp)
        case "latest":
            return Contribution("latest", event_value(metric, event), event.timestamp)


def apply(current: Aggregate | None, step: Contribution, *, new_unique: bool = True) -> Aggregate:
    """The aggregate after one contribution. `new_unique`: whether a unique_count claim was new
    (a repeated value leaves the aggregate as it is)."""
    value = Decimal(0) if current is None else current.value
    last = None if current is None else current.last_event_at
    latest_at = step.at if last is None else max(last, step.at)
    match step.op:
        case "add":
            if step.unique is not None and not new_unique:
                return current or Aggregate(Decimal(0))
            return Aggregate(value + step.value, latest_at)
        case "max":
            if current is not None and current.value >= step.value:
                return Aggregate(value, latest_at)
            return Aggregate(step.value, latest_at)
        case "latest":
            if last is not None and step.at < last:
                return current or Aggregate(Decimal(0))
            return Aggregate(step.value, step.at)


def value_after(current: Decimal, step: Contribution) -> Decimal:
    """The value a contribution would leave, ignoring time (what a hard quota compares with the
    limit): add -> current + value, max -> the greater, latest -> the event's value."""
    match step.op:
        case "add":
            return current + step.value
        case "max":
            return max(current, step.value)
        case "latest":
            return step.value
