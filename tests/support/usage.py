"""Seeding what the usage half reads but the catalogue half writes (the storage contract of issue
7): plan version items and the account's current subscription pointer, item for item; and the
metrics (as POST /v1/metrics stores them) and a plan version used by the usage tests."""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from typing import Any

from tally.billing.catalogue import PlanVersion, content_hash
from tally.billing.metrics import BillableMetric
from tally.storage import keys
from tally.storage.items import to_item

METRICS = [
    BillableMetric(code="api_calls", name="API calls", aggregation="sum", reset="per_period"),
    BillableMetric(code="sms", name="SMS", aggregation="count", reset="per_period"),
    BillableMetric(code="storage_gb", name="Storage", aggregation="latest", reset="never", unit="GB"),
    BillableMetric(code="active_users", name="Active users", aggregation="unique_count", field="user_id"),
]

# api_calls: hard 100; sms: soft 10 (and charged past 5 included); storage_gb: hard 50.
TERMS: dict[str, Any] = {
    "prices": [{"cycle": "monthly", "currency": "EUR", "amount": 2900}],
    "quotas": {
        "api_calls": {"limit": 100, "enforcement": "hard"},
        "sms": {"limit": 10, "enforcement": "soft"},
        "storage_gb": {"limit": 50, "enforcement": "hard"},
    },
    "features": {"api_access": True, "support_level": "email"},
    "data_retention_days": 90,
    "charges": [
        {"metric": "sms", "currency": "EUR", "model": "standard", "included_units": 5, "unit_price": "0.05"}
    ],
}


def plan_version(terms: dict[str, Any] | None = None) -> PlanVersion:
    return PlanVersion.model_validate_json(json.dumps(terms or TERMS))


def plan_version_item(code: str, number: int, version: PlanVersion) -> dict[str, Any]:
    return keys.plan_version(code, number) | to_item(
        {"version": number, "content_hash": content_hash(version), "terms": version.model_dump_json()}
    )


def subscription_item(
    account_id: str,
    plan_code: str,
    plan_version: int,
    *,
    anchor: datetime,
    period_start: datetime,
    period_end: datetime,
    cycle: str = "monthly",
    currency: str = "EUR",
    time_zone: str = "UTC",
    status: str = "active",
) -> dict[str, Any]:
    return keys.current_subscription(account_id) | to_item(
        {
            "subscription_id": f"sub_{account_id}",
            "plan_code": plan_code,
            "plan_version": plan_version,
            "status": status,
            "cycle": cycle,
            "currency": currency,
            "current_period_start": period_start.isoformat(),
            "current_period_end": period_end.isoformat(),
            "billing_anchor": anchor.isoformat(),
            "time_zone": time_zone,
        }
    )


def metric_item(metric: BillableMetric) -> dict[str, Any]:
    return keys.metric(metric.code) | to_item(
        {
            "kind": "metric",
            "GSI1PK": keys.METRICS_FEED,
            "GSI1SK": metric.code,
            "metric": metric.model_dump_json(),
        }
    )


def quantity(value: Any) -> Decimal:
    return Decimal(str(value))
