"""Seeding the local billing table with the shipped catalogues' billable metrics (issue 7, usage
half), so usage can be sent at once. Idempotent: a metric already there is left as it is.

The stack's own process does not import the layer (each function instance has its own path), so
this reads the catalogue files as JSON and writes the items as tally.usage.dynamo does
(`METRIC#{code}` / `METRIC`, GSI1PK `METRICS`, the metric's JSON in `metric`);
tests/unit/test_local_metrics_seed.py holds the two to the same items.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import botocore.session
from botocore.exceptions import ClientError

from local.resources import ResourceRegistry

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

log = logging.getLogger("local.seed")

CATALOGUES = Path(__file__).resolve().parents[1] / "layers/common/tally/billing/catalogues"


def shipped_metrics(folder: Path = CATALOGUES) -> list[dict[str, Any]]:
    """Every metric of the shipped catalogues, once (catalogues define shared ones identically)."""
    found: dict[str, dict[str, Any]] = {}
    for path in sorted(folder.glob("*.json")):
        for metric in json.loads(path.read_text(encoding="utf-8")).get("metrics", []):
            found.setdefault(str(metric["code"]), metric)
    return [found[code] for code in sorted(found)]


def metric_item(metric: dict[str, Any]) -> dict[str, Any]:
    code = str(metric["code"])
    return {
        "PK": {"S": f"METRIC#{code}"},
        "SK": {"S": "METRIC"},
        "kind": {"S": "metric"},
        "GSI1PK": {"S": "METRICS"},
        "GSI1SK": {"S": code},
        "metric": {"S": json.dumps(metric, sort_keys=True, separators=(",", ":"))},
    }


def seed_metrics(registry: ResourceRegistry) -> int:
    """Puts each shipped metric that is not there yet; answers how many were added."""
    if "BillingTable" not in registry.physical:  # a template without Tally's table
        return 0
    table = registry.physical["BillingTable"].ref
    client = cast("DynamoDBClient", botocore.session.get_session().create_client("dynamodb"))
    added = 0
    for metric in shipped_metrics():
        try:
            client.put_item(
                TableName=table, Item=metric_item(metric), ConditionExpression="attribute_not_exists(PK)"
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
            continue
        added += 1
    log.info("seeded %d billable metric(s) from the shipped catalogues", added)
    return added
