"""The catalogue: public listing, platform admins' publishing, and idempotent imports.

A version is published only when its terms differ from the latest's (`next_version`, by
`content_hash`): the same catalogue file imported twice, or a repeated request, changes nothing
and says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Literal

from tally import clock as clocks
from tally.audit.records import AuditContext
from tally.billing.catalogue import (
    Cycle,
    Plan,
    PlanVersion,
    PublishedVersion,
    annual_saving_percent,
    next_version,
)
from tally.billing.catalogue_files import Catalogue
from tally.clock import Clock
from tally.errors import Conflict, NotFound
from tally.plans.ports import PlanStore, StoredPlan

Outcome = Literal["created", "published", "updated", "unchanged"]


@dataclass(frozen=True)
class PlanView:
    """A plan at one version, with the annual saving per currency it prices both cycles in."""

    plan: Plan
    version: PublishedVersion
    annual_saving: dict[str, Decimal]


@dataclass(frozen=True)
class ImportedPlan:
    code: str
    outcome: Outcome
    version: int


def _view(stored: StoredPlan, version: PublishedVersion) -> PlanView:
    savings = {}
    for currency in sorted(version.version.currencies()):
        saving = annual_saving_percent(version.version, currency)
        if saving is not None:
            savings[currency] = saving
    return PlanView(stored.plan, version, savings)


class CatalogueService:
    def __init__(self, store: PlanStore, clock: Clock | None = None) -> None:
        self._store = store
        self._clock = clock

    def _now(self) -> datetime:
        return (self._clock or clocks.get_clock()).now()

    # -- reading ---------------------------------------------------------------------------

    def stored(self, code: str) -> StoredPlan:
        stored = self._store.get(code)
        if stored is None:
            raise NotFound(f"No plan '{code}'", field="code")
        return stored

    def latest(self, stored: StoredPlan) -> PublishedVersion:
        version = self._store.version(stored.plan.code, stored.latest_version)
        if version is None:  # pragma: no cover - written with the plan, in one transaction
            raise NotFound(f"Plan '{stored.plan.code}' has no version {stored.latest_version}")
        return version

    def version(self, code: str, number: int) -> PublishedVersion:
        version = self._store.version(code, number)
        if version is None:
            raise NotFound(f"Plan '{code}' has no version {number}", field="code")
        return version

    def public_plans(self, currency: str | None = None, cycle: Cycle | None = None) -> list[PlanView]:
        """Active public plans at their current version; with `currency` and/or `cycle`, only
        those priced (or on quote) in them."""
        views = []
        for stored in self._store.listed():
            if not stored.plan.public or stored.plan.status != "active":
                continue
            version = self.latest(stored)
            prices = version.version.prices
            if currency is not None:
                prices = [p for p in prices if p.currency == currency]
            if cycle is not None:
                prices = [p for p in prices if p.cycle == cycle]
            if prices:
                views.append(_view(stored, version))
        return views

    def public_plan(self, code: str) -> PlanView:
        stored = self._store.get(code)
        if stored is None or not stored.plan.public or stored.plan.status != "active":
            raise NotFound(f"No public plan '{code}'", field="code")
        return _view(stored, self.latest(stored))

    def versions(self, code: str) -> list[PublishedVersion]:
        self.stored(code)
        return self._store.versions(code)

    # -- platform admins -------------------------------------------------------------------

    def create(self, plan: Plan, terms: PlanVersion, context: AuditContext) -> PlanView:
        if self._store.get(plan.code) is not None:
            raise Conflict(
                f"Plan '{plan.code}' exists already: publish a new version with "
                f"POST /v1/plans/{plan.code}/versions",
                field="code",
            )
        first = next_version(plan.code, None, terms, self._now())
        assert first is not None
        self._store.create(plan, first, context)
        return _view(StoredPlan(plan, 1), first)

    def publish(self, code: str, terms: PlanVersion, context: AuditContext) -> tuple[PublishedVersion, bool]:
        """The new version, and True; or the latest, and False, when its terms are these."""
        stored = self.stored(code)
        if stored.plan.status == "archived":
            raise Conflict(f"Plan '{code}' is archived: it gets no new version")
        latest = self.latest(stored)
        published = next_version(code, latest, terms, self._now())
        if published is None:
            return latest, False
        self._store.change(stored, stored.plan, published, context)
        return published, True

    def archive(self, code: str, context: AuditContext) -> Plan:
        stored = self.stored(code)
        if stored.plan.status == "archived":
            raise Conflict(f"Plan '{code}' is archived already")
        archived = stored.plan.model_copy(update={"status": "archived"})
        self._store.change(stored, archived, None, context)
        return archived

    def import_catalogue(self, catalogue: Catalogue, context: AuditContext) -> list[ImportedPlan]:
        """Each plan of the file: created, given a new version (`published`), its fields changed
        (`updated`), or `unchanged`. Idempotent: the same file twice says `unchanged` throughout."""
        results = []
        for entry in catalogue.plans:
            plan = entry.plan()
            stored = self._store.get(plan.code)
            if stored is None:
                first = next_version(plan.code, None, entry.version, self._now())
                assert first is not None
                self._store.create(plan, first, context)
                results.append(ImportedPlan(plan.code, "created", 1))
                continue
            published = next_version(plan.code, self.latest(stored), entry.version, self._now())
            if published is None and plan == stored.plan:
                results.append(ImportedPlan(plan.code, "unchanged", stored.latest_version))
                continue
            self._store.change(stored, plan, published, context)
            if published is not None:
                results.append(ImportedPlan(plan.code, "published", published.number))
            else:
                results.append(ImportedPlan(plan.code, "updated", stored.latest_version))
        return results
