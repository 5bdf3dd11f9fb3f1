"""Plans: the public catalogue, and platform admins' plans, versions, archiving and imports."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Query

from billing.wiring import PlanCodePath, audit, catalogue, policy, principal
from tally.billing.amounts import Currency
from tally.billing.catalogue import Cycle
from tally.http.responses import BODY, PRIVATE, responses
from tally.http.security import BEARER
from tally.identity.policy import Permission
from tally.plans.models import (
    CatalogueIn,
    ImportOut,
    PlanIn,
    PlanOut,
    PlansOut,
    PublishOut,
    VersionIn,
    VersionsOut,
    imported_out,
    plan_out,
    version_out,
)
from tally.plans.service import PlanView

router = Router()

TAGS = ["Plans"]
UNKNOWN_PLAN = {404: "No such plan"}


def _admin() -> None:
    policy().authorize_platform(principal(), Permission.CATALOGUE_WRITE)


@router.get(
    "/v1/plans",
    summary="List the public plans",
    description="Active public plans at their current version, by tier rank; with `currency` and/or "
    "`cycle`, only those priced (or on quote) in them. `annual_saving_percent` is computed from the "
    "prices: (12 x monthly - annual) / (12 x monthly), in percent, one decimal.",
    tags=TAGS,
    responses=responses(200, "The plans", (422,)),
)
def list_plans(
    currency: Annotated[Currency | None, Query(description="Only plans priced in it (ISO 4217)")] = None,
    cycle: Annotated[Cycle | None, Query(description="Only plans priced for it")] = None,
) -> PlansOut:
    return PlansOut(plans=[plan_out(view) for view in catalogue().public_plans(currency, cycle)])


@router.get(
    "/v1/plans/<code>",
    summary="Read a public plan",
    tags=TAGS,
    responses=responses(200, "The plan at its current version", (404, 422), UNKNOWN_PLAN),
)
def get_plan(code: PlanCodePath) -> PlanOut:
    return plan_out(catalogue().public_plan(code))


@router.post(
    "/v1/plans",
    summary="Create a plan with its version 1 (platform admin)",
    tags=TAGS,
    security=BEARER,
    status_code=201,
    responses=responses(201, "The plan", (*PRIVATE, *BODY, 409), {409: "The code is taken"}),
)
def create_plan(body: PlanIn) -> PlanOut:
    _admin()
    return plan_out(catalogue().create(body.plan(), body.version, audit(principal())))


@router.post(
    "/v1/plans/<code>/versions",
    summary="Publish a plan's next version (platform admin)",
    description="Versions are immutable: subscriptions on older versions keep theirs. Terms equal to "
    "the latest version's publish nothing (`published: false`).",
    tags=TAGS,
    security=BEARER,
    responses=responses(
        200,
        "The version published, or the latest when nothing changed",
        (*PRIVATE, *BODY, 404, 409),
        {**UNKNOWN_PLAN, 409: "The plan is archived, or changed meanwhile"},
    ),
)
def publish_version(code: PlanCodePath, body: VersionIn) -> PublishOut:
    _admin()
    version, published = catalogue().publish(code, body, audit(principal()))
    return PublishOut(published=published, version=version_out(version))


@router.post(
    "/v1/plans/<code>/archive",
    summary="Archive a plan (platform admin)",
    description="It leaves the public catalogue and takes no new subscription; existing ones keep it.",
    tags=TAGS,
    security=BEARER,
    responses=responses(
        200, "The plan, archived", (*PRIVATE, 404, 409, 422), {**UNKNOWN_PLAN, 409: "Archived already"}
    ),
)
def archive_plan(code: PlanCodePath) -> PlanOut:
    _admin()
    service = catalogue()
    service.archive(code, audit(principal()))
    stored = service.stored(code)
    return plan_out(PlanView(stored.plan, service.latest(stored), {}))


@router.get(
    "/v1/plans/<code>/versions",
    summary="List a plan's versions (platform admin)",
    tags=TAGS,
    security=BEARER,
    responses=responses(200, "Every version, oldest first", (*PRIVATE, 404, 422), UNKNOWN_PLAN),
)
def list_versions(code: PlanCodePath) -> VersionsOut:
    _admin()
    return VersionsOut(versions=[version_out(version) for version in catalogue().versions(code)])


@router.post(
    "/v1/plans/import",
    summary="Import a catalogue file (platform admin)",
    description="Idempotent: a plan is created, given a new version when its terms differ from the "
    "latest's (by content hash), updated when only its name, rank or flags differ, or left unchanged. "
    "The same file twice changes nothing and says so (`changed: false`).",
    tags=TAGS,
    security=BEARER,
    responses=responses(200, "What the import did, plan by plan", (*PRIVATE, *BODY, 409)),
)
def import_catalogue(body: CatalogueIn) -> ImportOut:
    _admin()
    results = catalogue().import_catalogue(body, audit(principal()))
    return ImportOut(
        catalogue=body.catalogue,
        changed=any(result.outcome != "unchanged" for result in results),
        plans=[imported_out(result) for result in results],
    )
