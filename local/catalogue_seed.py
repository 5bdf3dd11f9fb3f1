"""Seeding the local billing table with the shipped plan catalogues, so `make dev` lists plans at
once. It goes through the service POST /v1/plans/import uses (tally.plans.service), so it is
idempotent the same way: a restart, or a catalogue already imported, changes nothing."""

from __future__ import annotations

import importlib
import logging
import sys
from typing import Any

from local.functions import FunctionSpec
from local.resources import ResourceRegistry

log = logging.getLogger("local.catalogue_seed")

SEEDER = "local-seed"


def seed_catalogues(registry: ResourceRegistry, billing: FunctionSpec | None) -> dict[str, list[str]]:
    """Import every shipped catalogue into the billing table, with the billing function's layers'
    code (imported here, in the stack's process); answers each catalogue's plan outcomes. A
    template without the billing function (a test's) gets none."""
    if billing is None or "BillingTable" not in registry.physical:
        log.info("no billing function or table in the template: no catalogue seeded")
        return {}
    client = registry.client("dynamodb")
    table_name = str(registry.lookup("BillingTable", None))
    for layer in billing.layer_dirs:  # the common layer's code, as the functions import it
        if str(layer) not in sys.path:
            sys.path.append(str(layer))
    table_module: Any = importlib.import_module("tally.accounts.dynamo.table")
    records: Any = importlib.import_module("tally.audit.records")
    files: Any = importlib.import_module("tally.billing.catalogue_files")
    store: Any = importlib.import_module("tally.plans.dynamo")
    service_module: Any = importlib.import_module("tally.plans.service")

    service = service_module.CatalogueService(
        store.DynamoPlanStore(table_module.BillingTable(client, table_name))
    )
    context = records.AuditContext(
        records.Actor.system(SEEDER), SEEDER, None, "make dev: the shipped catalogues"
    )
    outcomes = {}
    for catalogue in files.load_shipped_catalogues():
        results = service.import_catalogue(catalogue, context)
        outcomes[catalogue.catalogue] = [f"{result.code}: {result.outcome}" for result in results]
        log.info("catalogue %s: %s", catalogue.catalogue, ", ".join(outcomes[catalogue.catalogue]))
    return outcomes
