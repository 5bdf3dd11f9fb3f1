"""Quotas and entitlements, pure.

- `usage_status`: a metric's value against its limit: percent (one decimal, half-up) and
  `ok` (below 80 %), `warning` (80 % up to 100 %), `exceeded` (at the limit or past it).
- Hard quotas: an increment is allowed when the value after it stays at or under the limit. An
  additive metric stores its value with one atomic update conditional on
  `value <= limit - quantity` (`hard_limit_threshold`), so concurrent increments stop exactly
  at the limit; `max` and `latest` metrics compare the event's own value with the limit.
- Soft quotas: every increment is accepted; `thresholds_crossed` names the thresholds (80, 100)
  the increment crossed, so the caller sends each email once per period and metric (with a
  conditional put of a marker per threshold).
- Entitlements: a plan version's features and quotas merged with a platform admin's
  per-account overrides.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from tally.billing.catalogue import FeatureValue, PlanVersion, Quota
from tally.billing.codes import FeatureFlag, MetricCode

QuotaState = Literal["ok", "warning", "exceeded"]
WARNING_PERCENT = Decimal(80)
EXCEEDED_PERCENT = Decimal(100)
SOFT_THRESHOLDS: tuple[int, ...] = (80, 100)
_ONE_PLACE = Decimal("0.1")


@dataclass(frozen=True)
class UsageStatus:
    metric: str
    value: Decimal
    limit: int | None  # None: no quota on this metric
    percent: Decimal | None  # None without a quota, or with a limit of 0
    state: QuotaState
    enforcement: Literal["hard", "soft"] | None


def percent_of(value: Decimal, limit: int) -> Decimal | None:
    if limit <= 0:
        return None
    return (value * 100 / limit).quantize(_ONE_PLACE, rounding=ROUND_HALF_UP)


def state_of(value: Decimal, limit: int | None) -> QuotaState:
    if limit is None:
        return "ok"
    if value >= limit:
        return "exceeded"
    # Compared exactly, not on the rounded percent: 79.96 % is not a warning yet.
    if value * 100 >= WARNING_PERCENT * limit:
        return "warning"
    return "ok"


def usage_status(metric: str, value: Decimal, quota: Quota | None) -> UsageStatus:
    if quota is None:
        return UsageStatus(metric, value, None, None, "ok", None)
    return UsageStatus(
        metric=metric,
        value=value,
        limit=quota.limit,
        percent=percent_of(value, quota.limit),
        state=state_of(value, quota.limit),
        enforcement=quota.enforcement,
    )


def hard_limit_threshold(limit: int, quantity: Decimal) -> Decimal:
    """The greatest stored value an additive increment of `quantity` may start from: the
    conditional write's `value <= :threshold`. Negative: the increment alone is past the limit
    (and an absent value counts as 0, which is above it)."""
    return Decimal(limit) - quantity


@dataclass(frozen=True)
class QuotaDecision:
    allowed: bool
    value: Decimal  # now
    value_after: Decimal  # if the increment is accepted
    limit: int | None
    remaining: Decimal | None  # headroom now, never below zero; None without a quota


def check_increment(value: Decimal, value_after: Decimal, quota: Quota | None) -> QuotaDecision:
    """Whether an increment taking the value from `value` to `value_after` is allowed (a soft
    quota and no quota always allow it); what remains under the limit now."""
    if quota is None:
        return QuotaDecision(True, value, value_after, None, None)
    remaining = max(Decimal(0), Decimal(quota.limit) - value)
    allowed = quota.enforcement == "soft" or value_after <= quota.limit
    return QuotaDecision(allowed, value, value_after, quota.limit, remaining)


def thresholds_crossed(before: Decimal, after: Decimal, limit: int) -> tuple[int, ...]:
    """The soft thresholds (percent of the limit) that an increment from `before` to `after`
    reached or passed: 80 and 100, each named once, by the increment that crosses it."""
    return tuple(
        threshold for threshold in SOFT_THRESHOLDS if before * 100 < threshold * limit <= after * 100
    )


# --- entitlements -----------------------------------------------------------------------------


class Overrides(BaseModel):
    """A platform admin's per-account exceptions: a feature's value, a quota replaced, or a quota
    removed (null: unlimited). The reason goes to the audit record."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True, defer_build=True)

    features: dict[FeatureFlag, FeatureValue] = Field(default_factory=dict)
    quotas: dict[MetricCode, Quota | None] = Field(default_factory=dict)


@dataclass(frozen=True)
class Entitlements:
    features: Mapping[str, FeatureValue]
    quotas: Mapping[str, Quota]
    overridden_features: frozenset[str]
    overridden_quotas: frozenset[str]

    def quota(self, metric: str) -> Quota | None:
        return self.quotas.get(metric)

    def feature(self, flag: str) -> FeatureValue | None:
        return self.features.get(flag)


def entitlements(version: PlanVersion, overrides: Overrides | None = None) -> Entitlements:
    """The features and quotas in force: the version's, each replaced by its override if any."""
    overrides = overrides or Overrides()
    features = {**version.features, **overrides.features}
    quotas = dict(version.quotas)
    for metric, quota in overrides.quotas.items():
        if quota is None:
            quotas.pop(metric, None)
        else:
            quotas[metric] = quota
    return Entitlements(
        features=features,
        quotas=quotas,
        overridden_features=frozenset(overrides.features),
        overridden_quotas=frozenset(overrides.quotas),
    )
