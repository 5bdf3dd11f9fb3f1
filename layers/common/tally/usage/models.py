"""Wire models of the usage API (validated by Powertools, documented in OpenAPI)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    ConfigDict,
    Field,
    GetJsonSchemaHandler,
    SkipValidation,
    StrictBool,
    StrictInt,
    StrictStr,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

from tally.billing.catalogue import FeatureValue, Quota
from tally.billing.codes import FeatureFlag, MetricCode
from tally.billing.metrics import Aggregation, Reset
from tally.http.fields import WHOLE, JsonValue, Name, WireModel
from tally.http.patterns import VISIBLE_TEXT

MAX_BATCH = 100
EventId = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]*$")]
Quantity = Annotated[Decimal, Field(ge=0, lt=10**15, max_digits=30, decimal_places=9)]
PropertyScalar = Annotated[str, Field(max_length=256)] | int | Decimal | bool | None


class MetricIn(WireModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"code": "api_calls", "name": "API calls", "aggregation": "sum", "reset": "per_period"}
            ]
        },
    )

    code: MetricCode
    name: Name
    aggregation: Aggregation
    field: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_]*$")] | None = None
    reset: Reset = "per_period"
    unit: Annotated[str, Field(min_length=1, max_length=32, pattern=VISIBLE_TEXT)] | None = None


class MetricOut(WireModel):
    code: str
    name: str
    aggregation: str
    field: str | None = None
    reset: str
    unit: str | None = None


class MetricsOut(WireModel):
    metrics: list[MetricOut]


class UsageEventIn(WireModel):
    """One event of a batch (validated on its own, so one bad event does not refuse the others)."""

    model_config = ConfigDict(extra="forbid")

    id: EventId = Field(description="The client's idempotency id: a repeat returns the first result")
    metric: MetricCode
    quantity: Quantity | None = Field(default=None, description="1 when absent (sum, max, latest)")
    timestamp: AwareDatetime | None = Field(default=None, description="When it happened; now when absent")
    properties: dict[Annotated[str, Field(max_length=64)], PropertyScalar] | None = Field(
        default=None, max_length=32
    )


class UsageBatchIn(WireModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "events": [
                        {"id": "evt-0001", "metric": "api_calls", "quantity": 3},
                        {"id": "evt-0002", "metric": "sms"},
                    ]
                }
            ]
        },
    )

    events: list[SkipValidation[JsonValue]] = Field(
        min_length=1,
        max_length=MAX_BATCH,
        description=f"1 to {MAX_BATCH} events `{{id, metric, quantity?, timestamp?, properties?}}`",
    )


class FieldErrorOut(WireModel):
    field: str
    message: str


class UsageResultOut(WireModel):
    index: int
    status: int = Field(
        description="202 recorded (or a repeat of a recorded id), 409 quota_exceeded, 422 invalid "
        "(timestamp outside the current period, unknown metric...), 503 retry later"
    )
    id: str | None = None
    metric: str | None = None
    period: str | None = None
    repeat: bool = Field(default=False, description="The id was recorded before: its first result")
    code: str | None = None
    message: str | None = None
    limit: int | None = None
    value: Decimal | None = Field(default=None, description="The period's value now (quota_exceeded)")
    errors: list[FieldErrorOut] | None = None


class UsageBatchOut(WireModel):
    accepted: int
    rejected: int
    results: list[UsageResultOut]


class QuotaCheckIn(WireModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"metric": "api_calls", "quantity": 10}]}
    )

    metric: MetricCode
    quantity: Quantity = Decimal(1)


class QuotaCheckOut(WireModel):
    metric: str
    period: str
    allowed: bool
    value: Decimal
    value_after: Decimal
    limit: int | None
    remaining: Decimal | None
    enforcement: Literal["hard", "soft"] | None


class MetricUsageOut(WireModel):
    metric: str
    value: Decimal
    limit: int | None
    percent: Decimal | None
    state: Literal["ok", "warning", "exceeded"]
    enforcement: Literal["hard", "soft"] | None


class UsageOut(WireModel):
    account_id: str
    period: str
    start: datetime
    end: datetime
    subscribed: bool = Field(description="false: no current subscription, so no quotas")
    metrics: list[MetricUsageOut]


class EntitlementsOut(WireModel):
    account_id: str
    plan_code: str | None
    plan_version: int | None
    features: dict[str, FeatureValue]
    quotas: dict[str, Quota]
    overridden_features: list[str]
    overridden_quotas: list[str]


class _KeysNamed:
    """pydantic writes a dict's key pattern as patternProperties, which lets other keys through:
    say it as propertyNames, with every value under additionalProperties."""

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        generated = handler(schema)
        patterns = generated.pop("patternProperties", None)
        names = generated.pop("propertyNames", {})
        if patterns:
            [(pattern, values)] = patterns.items()
            names = {**names, "pattern": pattern}
            generated["additionalProperties"] = values
        return {**generated, "propertyNames": {**names, "minLength": 1, "maxLength": 64}}


MAX_FEATURE_INT = 10**15
WireFeatureValue = (
    StrictBool
    | Annotated[StrictInt, Field(ge=-MAX_FEATURE_INT, le=MAX_FEATURE_INT), WHOLE]
    | Annotated[StrictStr, Field(max_length=200, pattern=r"^[^\x00]*$")]
)


class QuotaIn(WireModel):
    model_config = ConfigDict(extra="forbid")

    limit: Annotated[StrictInt, Field(ge=0, le=MAX_FEATURE_INT), WHOLE]
    enforcement: Literal["hard", "soft"]


class OverridesIn(WireModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "reason": "Pilot customer: twice the API calls until June",
                    "features": {"api_access": True},
                    "quotas": {"api_calls": {"limit": 20000, "enforcement": "hard"}, "users": None},
                }
            ]
        },
    )

    reason: Annotated[str, Field(min_length=3, max_length=500, pattern=r"^[^\x00]*\S[^\x00]*$")]
    features: Annotated[dict[FeatureFlag, WireFeatureValue], _KeysNamed()] = Field(
        default_factory=dict, max_length=100
    )
    quotas: Annotated[dict[MetricCode, QuotaIn | None], _KeysNamed()] = Field(
        default_factory=dict, max_length=100
    )


class OverridesOut(WireModel):
    account_id: str
    features: dict[str, FeatureValue]
    quotas: dict[str, Quota | None]


class ViolationOut(WireModel):
    id: str
    account_id: str
    metric: str
    period: str
    at: str
    limit: int
    value: Decimal
    enforcement: str


class ViolationsOut(WireModel):
    violations: list[ViolationOut]
    next_cursor: str | None = Field(None, description="The next page's cursor; null on the last page")


class ChargeLineOut(WireModel):
    metric: str
    model: str
    currency: str
    usage: Decimal
    included_units: int
    billable: Decimal
    amount: int = Field(description="Minor units, rounded half-up")
    description: str


class ChargesOut(WireModel):
    account_id: str
    period: str
    currency: str | None
    lines: list[ChargeLineOut]
    total: int


def as_dict(model: WireModel) -> dict[str, Any]:
    return model.model_dump(mode="json", exclude_none=True)
