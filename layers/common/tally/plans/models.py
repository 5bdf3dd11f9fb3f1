"""The plan routes' wire models: a plan and its terms in, a plan at a version out."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import ConfigDict, Field
from pydantic.config import JsonDict

from tally.billing.catalogue import Plan, PlanVersion, PublishedVersion
from tally.billing.catalogue_files import Catalogue, CataloguePlan
from tally.http.fields import WireModel
from tally.plans.service import ImportedPlan, PlanView

_TERMS_EXAMPLE: JsonDict = {
    "prices": [
        {"cycle": "monthly", "currency": "EUR", "amount": 900},
        {"cycle": "annual", "currency": "EUR", "amount": 9000},
    ],
    "trial": {"days": 14, "card_required": False},
    "quotas": {"users": {"limit": 3, "enforcement": "hard"}},
    "features": {"api_access": False},
    "data_retention_days": 30,
}
_PLAN_EXAMPLE: JsonDict = {
    "code": "starter",
    "name": "Starter",
    "description": "For one person trying Tally out.",
    "tier_rank": 0,
    "public": True,
    "status": "active",
    "version": _TERMS_EXAMPLE,
}


class PlanIn(CataloguePlan):
    """A new plan and the terms of its version 1."""

    model_config = ConfigDict(json_schema_extra={"examples": [_PLAN_EXAMPLE]})


class VersionIn(PlanVersion):
    """The terms of a plan's next version (the same terms as the latest publish nothing)."""

    model_config = ConfigDict(json_schema_extra={"examples": [_TERMS_EXAMPLE]})


class CatalogueIn(Catalogue):
    """A catalogue file (tally/billing/catalogues/*.json): its metrics and its plans with their
    current terms. Unit prices below a minor unit are strings (`"0.05"`), never JSON floats."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "catalogue": "starter-kit",
                    "metrics": [
                        {"code": "users", "name": "Users", "aggregation": "latest", "reset": "never"}
                    ],
                    "plans": [_PLAN_EXAMPLE],
                }
            ]
        }
    )


class VersionOut(WireModel):
    plan_code: str
    version: int
    content_hash: str
    published_at: datetime
    terms: PlanVersion


def version_out(version: PublishedVersion) -> VersionOut:
    return VersionOut(
        plan_code=version.plan_code,
        version=version.number,
        content_hash=version.content_hash,
        published_at=version.published_at,
        terms=version.version,
    )


class PlanOut(WireModel):
    code: str
    name: str
    description: str
    tier_rank: int
    public: bool
    status: Literal["active", "archived"]
    version: int = Field(description="The current version's number")
    published_at: datetime
    terms: PlanVersion
    annual_saving_percent: dict[str, str] = Field(
        description="Per currency priced both monthly and annually: what the annual price saves "
        "against twelve monthly prices, in percent, one decimal, computed from the prices ('20.0')"
    )


def plan_out(view: PlanView) -> PlanOut:
    plan: Plan = view.plan
    return PlanOut(
        code=plan.code,
        name=plan.name,
        description=plan.description,
        tier_rank=plan.tier_rank,
        public=plan.public,
        status=plan.status,
        version=view.version.number,
        published_at=view.version.published_at,
        terms=view.version.version,
        annual_saving_percent={currency: str(saving) for currency, saving in view.annual_saving.items()},
    )


class PlansOut(WireModel):
    plans: list[PlanOut]


class VersionsOut(WireModel):
    versions: list[VersionOut]


class PublishOut(WireModel):
    published: bool = Field(description="False when the terms were the latest version's: nothing changed")
    version: VersionOut


class ImportedOut(WireModel):
    code: str
    outcome: Literal["created", "published", "updated", "unchanged"]
    version: Annotated[int, Field(description="The plan's current version after the import")]


def imported_out(result: ImportedPlan) -> ImportedOut:
    return ImportedOut(code=result.code, outcome=result.outcome, version=result.version)


class ImportOut(WireModel):
    catalogue: str
    changed: bool = Field(description="False when the file changed nothing (imported before)")
    plans: list[ImportedOut]
