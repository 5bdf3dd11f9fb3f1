"""Wire models of the tracking API (validated by Powertools, documented in OpenAPI)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, ConfigDict, Field, SkipValidation, StrictInt

from tally.http.fields import TEXT, WHOLE, Identifier, JsonValue, WireModel

ClickSource = Literal["seo", "sponsorship", "search", "category", "city", "direct", "other"]
ViewSource = Literal["seo", "sponsorship", "search", "category", "city", "rotation", "other"]
EventType = Literal["click", "view"]

MAX_BATCH = 100


def _blank_as_none(value: str) -> str | None:
    return value.strip(" ") or None


# Page details as the browser reports them: no control characters; surrounding spaces dropped.
PageType = Annotated[str, Field(max_length=64, pattern=TEXT), AfterValidator(_blank_as_none)]
PageUrl = Annotated[str, Field(max_length=2048, pattern=TEXT), AfterValidator(_blank_as_none)]
Position = Annotated[StrictInt, Field(ge=0, le=100_000), WHOLE]


class _TrackedFields(WireModel):
    model_config = ConfigDict(extra="forbid")

    account_id: Identifier = Field(description="The account (listed business) the event is about")
    page_type: PageType | None = Field(default=None, description="e.g. listing, search, home")
    page_url: PageUrl | None = None
    position: Position | None = Field(default=None, description="Rank in a list")
    referrer: PageUrl | None = None
    sponsorship_id: Identifier | None = Field(default=None, description="Raises that sponsorship's counter")
    location_id: Identifier | None = None


class ClickIn(_TrackedFields):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"account_id": "acc_1", "source": "seo", "page_url": "/listing/dupont"}]
        }
    )

    source: ClickSource


class ViewIn(_TrackedFields):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"account_id": "acc_1", "source": "search", "position": 3}]}
    )

    source: ViewSource


class BatchClickIn(ClickIn):
    type: Literal["click"]


class BatchViewIn(ViewIn):
    type: Literal["view"]


BatchEventIn = Annotated[BatchClickIn | BatchViewIn, Field(discriminator="type")]


class BatchIn(WireModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "events": [
                        {"type": "click", "account_id": "acc_1", "source": "seo"},
                        {"type": "view", "account_id": "acc_1", "source": "city"},
                    ]
                }
            ]
        },
        extra="forbid",
    )

    # Each event is validated on its own (by the service) so that one bad event does not reject
    # the others. The list takes any JSON the body gate admitted: the schema says what that is,
    # and validating it again here would cost more than the events' own validation.
    events: list[SkipValidation[JsonValue]] = Field(
        min_length=1,
        max_length=MAX_BATCH,
        description=f"1 to {MAX_BATCH} events, each a click or view body with a `type` field",
    )


class TrackOut(WireModel):
    id: str
    counted: bool
    reason: Literal["duplicate", "bot"] | None = Field(
        default=None, description="Why the event was acknowledged but not counted"
    )


class FieldError(WireModel):
    field: str
    message: str


class BatchResultOut(WireModel):
    index: int
    status: int = Field(description="202 accepted, 404 unknown account, 422 invalid, 503 retry later")
    id: str | None = None
    counted: bool | None = None
    reason: Literal["duplicate", "bot"] | None = None
    errors: list[FieldError] | None = None


class BatchOut(WireModel):
    accepted: int
    rejected: int
    results: list[BatchResultOut]


class DayOut(WireModel):
    date: str
    clicks: int
    views: int


class SponsorshipOut(WireModel):
    sponsorship_id: str
    clicks: int
    impressions: int


class StatsOut(WireModel):
    account_id: str
    days: int
    start: str = Field(description="First day of the window (UTC)")
    end: str = Field(description="Last day of the window (UTC), today")
    clicks_total: int
    views_total: int
    clicks: int
    views: int
    ctr: float = Field(description="clicks / views in the window, as a percentage with two decimals")
    clicks_by_source: dict[str, int]
    views_by_source: dict[str, int]
    daily: list[DayOut]
    sponsorships: list[SponsorshipOut]
