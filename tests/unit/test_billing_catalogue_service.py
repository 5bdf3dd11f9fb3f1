"""The catalogue service over an in-memory store: listing, publishing, archiving, idempotent import."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from tally.billing.catalogue import Plan, PlanVersion
from tally.billing.catalogue_files import load_catalogue, load_shipped_catalogues
from tally.clock import FixedClock
from tally.errors import Conflict, NotFound
from tally.plans.service import CatalogueService
from tests.support.billing import CONTEXT, InMemoryPlanStore

AT = datetime(2026, 3, 1, tzinfo=UTC)


def _service() -> tuple[CatalogueService, InMemoryPlanStore]:
    store = InMemoryPlanStore()
    return CatalogueService(store, FixedClock(AT)), store


def _seeded() -> tuple[CatalogueService, InMemoryPlanStore]:
    service, store = _service()
    for catalogue in load_shipped_catalogues():
        service.import_catalogue(catalogue, CONTEXT)
    return service, store


def test_importing_the_same_file_twice_changes_nothing() -> None:
    service, store = _service()
    catalogue = load_catalogue("smartqueue")
    first = service.import_catalogue(catalogue, CONTEXT)
    assert {(r.code, r.outcome, r.version) for r in first} == {
        ("essential", "created", 1),
        ("professional", "created", 1),
        ("enterprise", "created", 1),
    }
    writes = store.writes
    again = service.import_catalogue(catalogue, CONTEXT)
    assert {r.outcome for r in again} == {"unchanged"}
    assert store.writes == writes


def test_changed_terms_publish_a_new_version_and_keep_the_old() -> None:
    service, _store = _seeded()
    latest = service.latest(service.stored("essential"))
    terms = latest.version.model_copy(update={"data_retention_days": 400})
    published, new = service.publish("essential", terms, CONTEXT)
    assert (published.number, new) == (2, True)
    assert [v.number for v in service.versions("essential")] == [1, 2]
    again, new = service.publish("essential", terms, CONTEXT)
    assert (again.number, new) == (2, False)


def test_public_listing_filters_and_computes_the_annual_saving() -> None:
    service, _ = _seeded()
    xof = service.public_plans("XOF", "annual")
    assert [view.plan.code for view in xof] == ["essential", "professional", "enterprise"]
    essential = next(view for view in xof if view.plan.code == "essential")
    assert essential.annual_saving["XOF"] == Decimal("20.0")
    assert "enterprise" not in {view.plan.code for view in xof if view.annual_saving}  # on quote


def test_archived_plans_are_not_public_and_take_no_version() -> None:
    service, _ = _seeded()
    service.archive("gold", CONTEXT)
    assert "gold" not in [view.plan.code for view in service.public_plans()]
    with pytest.raises(NotFound):
        service.public_plan("gold")
    with pytest.raises(Conflict, match="archived"):
        service.archive("gold", CONTEXT)
    with pytest.raises(Conflict, match="archived"):
        service.publish("gold", service.latest(service.stored("gold")).version, CONTEXT)


def test_creating_a_taken_code_is_a_conflict() -> None:
    service, _ = _seeded()
    plan = Plan(code="essential", name="Again", tier_rank=1)
    terms = service.latest(service.stored("essential")).version
    assert isinstance(terms, PlanVersion)
    with pytest.raises(Conflict, match="exists already"):
        service.create(plan, terms, CONTEXT)
