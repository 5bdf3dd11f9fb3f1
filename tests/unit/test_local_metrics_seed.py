"""make dev's metric seeding writes the items tally.usage.dynamo writes and reads."""

from __future__ import annotations

from local.metrics_seed import metric_item, shipped_metrics
from tally.billing.catalogue_files import load_shipped_catalogues
from tally.billing.metrics import BillableMetric
from tally.storage import keys


def test_the_seed_holds_every_shipped_metric_once_as_the_store_reads_it() -> None:
    expected = {m.code: m for c in load_shipped_catalogues() for m in c.metrics}
    seeded = shipped_metrics()
    assert [m["code"] for m in seeded] == sorted(expected)
    for metric in seeded:
        item = metric_item(metric)
        assert {k: item[k] for k in ("PK", "SK")} == keys.metric(str(metric["code"]))
        assert item["GSI1PK"] == {"S": keys.METRICS_FEED}
        assert BillableMetric.model_validate_json(item["metric"]["S"]) == expected[str(metric["code"])]
