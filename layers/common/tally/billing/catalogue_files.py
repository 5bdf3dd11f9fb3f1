"""Catalogues shipped as data: JSON files in tally/billing/catalogues/, read with importlib
resources (so they travel inside the layer), validated by the catalogue models.

A catalogue file holds the metrics its plans need and its plans, each with the terms of its
current version:

    {"catalogue": "esxi-backup", "metrics": [BillableMetric…],
     "plans": [{"code", "name", "description", "tier_rank", "public", "status", "version": PlanVersion}]}

Numbers with a fraction are read as Decimal, never float. Importing a file publishes a new
version of a plan only when the file's terms differ from the plan's latest version
(`tally.billing.catalogue.next_version`): the same file twice changes nothing.
"""

from __future__ import annotations

import json
from decimal import Decimal
from importlib import resources
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from tally.billing.catalogue import Plan, PlanVersion
from tally.billing.codes import CatalogueName
from tally.billing.metrics import BillableMetric
from tally.errors import InvalidInput

_PACKAGE = "tally.billing.catalogues"


class CataloguePlan(Plan):
    """A plan as a catalogue file writes it: the plan and the terms of its current version."""

    version: PlanVersion

    def plan(self) -> Plan:
        return Plan.model_validate(self.model_dump(exclude={"version"}))


class Catalogue(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True, defer_build=True)

    catalogue: CatalogueName
    description: Annotated[str, Field(max_length=2000)] = ""
    metrics: list[BillableMetric] = Field(default_factory=list)
    plans: list[CataloguePlan] = Field(min_length=1)

    @model_validator(mode="after")
    def _consistent(self) -> Catalogue:
        _unique([m.code for m in self.metrics], "metrics", "metric")
        _unique([p.code for p in self.plans], "plans", "plan")
        defined = {m.code for m in self.metrics}
        for index, plan in enumerate(self.plans):
            if missing := sorted(plan.version.metrics() - defined):
                raise ValueError(
                    f"plans.{index}.version: {plan.code} names metric(s) {', '.join(missing)} that the "
                    f"catalogue's metrics do not define"
                )
        return self

    def metric(self, code: str) -> BillableMetric | None:
        return next((m for m in self.metrics if m.code == code), None)


def _unique(codes: list[str], where: str, what: str) -> None:
    seen: dict[str, int] = {}
    for index, code in enumerate(codes):
        if code in seen:
            raise ValueError(
                f"{where}.{index}.code: {what} '{code}' is already defined by {where}.{seen[code]}"
            )
        seen[code] = index


def _problems(error: ValidationError) -> str:
    lines = []
    for problem in error.errors(include_url=False):
        where = ".".join(str(part) for part in problem["loc"])
        message = str(problem["msg"]).removeprefix("Value error, ")
        lines.append(f"{where}: {message}" if where else message)
    return "; ".join(lines)


def parse_catalogue(text: str | bytes) -> Catalogue:
    """A catalogue from its JSON text; InvalidInput naming each field and problem otherwise."""
    try:
        data = json.loads(text, parse_float=Decimal)
    except json.JSONDecodeError as error:
        raise InvalidInput(f"The catalogue is not valid JSON: {error}") from None
    try:
        return Catalogue.model_validate(data)
    except ValidationError as error:
        raise InvalidInput(f"The catalogue is invalid: {_problems(error)}") from None


def shipped_catalogue_names() -> list[str]:
    return sorted(
        entry.name.removesuffix(".json")
        for entry in resources.files(_PACKAGE).iterdir()
        if entry.name.endswith(".json")
    )


def load_catalogue(name: str) -> Catalogue:
    """One shipped catalogue by its file name (`esxi-backup`)."""
    if name not in shipped_catalogue_names():
        raise InvalidInput(f"No catalogue named '{name}' is shipped", field="catalogue")
    return parse_catalogue(resources.files(_PACKAGE).joinpath(f"{name}.json").read_bytes())


def load_shipped_catalogues() -> list[Catalogue]:
    """Every shipped catalogue, checked together: a plan code belongs to one catalogue, and a
    metric defined by several catalogues is defined the same way in each."""
    catalogues = [load_catalogue(name) for name in shipped_catalogue_names()]
    plans: dict[str, str] = {}
    metrics: dict[str, tuple[str, BillableMetric]] = {}
    for catalogue in catalogues:
        for plan in catalogue.plans:
            if plan.code in plans:
                raise InvalidInput(
                    f"Plan '{plan.code}' is in catalogues {plans[plan.code]} and {catalogue.catalogue}"
                )
            plans[plan.code] = catalogue.catalogue
        for metric in catalogue.metrics:
            first = metrics.setdefault(metric.code, (catalogue.catalogue, metric))
            if first[1] != metric:
                raise InvalidInput(
                    f"Metric '{metric.code}' is defined differently by catalogues {first[0]} and "
                    f"{catalogue.catalogue}"
                )
    return catalogues
