# ruff: noqa: E402 - the imports follow gc.disable(), on purpose (see below)
"""Counter function: the events table's stream feeds the click/view counters."""

from __future__ import annotations

import gc

# No cyclic garbage collection during init: it would walk, again and again, the tens of thousands
# of objects the imports create, all kept for the process's life (15-25 ms of a cold start;
# decision 0009). The end of this module freezes them out of later collections and turns it on.
gc.disable()

from functools import lru_cache
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from tally.observability import quiet_sdk_loggers
from tally.settings import get_settings
from tally.storage import clients
from tally.storage.items import from_item
from tally.tracking.dynamo import DynamoCounterStore
from tally.tracking.projection import CounterProjection, StreamRecord

# Before anything logs: the AWS SDK's debug lines carry passwords and tokens (decision 10).
quiet_sdk_loggers()
logger = Logger()


@lru_cache(maxsize=1)
def projection() -> CounterProjection:
    return CounterProjection(DynamoCounterStore(clients.dynamodb(), get_settings().events_table_name))


def _record(raw: dict[str, Any]) -> StreamRecord:
    change = raw.get("dynamodb") or {}
    return StreamRecord(
        sequence_number=str(change.get("SequenceNumber", "")),
        event_name=str(raw.get("eventName", "")),
        keys=change.get("Keys") or {},
        new_image=from_item(change.get("NewImage") or {}),
    )


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    # Powertools' BatchProcessor handles records one by one; counters need the whole batch
    # aggregated into transactions, so failures are reported here in the same response shape.
    records = [_record(raw) for raw in event.get("Records", [])]
    failed = projection().project(records)
    if failed:
        logger.warning("Counter chunk failed; the stream will redeliver", extra={"from_sequence": failed[0]})
    return {"batchItemFailures": [{"itemIdentifier": sequence} for sequence in failed]}


# Init's objects stay for the process's life: keep them out of every later collection (without
# this, the first one would walk them all during the first request), then collect as usual.
gc.freeze()
gc.enable()
