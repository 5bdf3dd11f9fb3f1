# ruff: noqa: E402 - the imports follow gc.disable(), on purpose (see below)
"""Webhook worker: the queued notifications applied, each record on its own (partial batch).

SQS invokes it with up to 10 messages; Powertools' BatchProcessor runs each record and reports
only the failed ones (ReportBatchItemFailures), which SQS redelivers after the visibility
timeout and dead-letters after maxReceiveCount. A message whose event the ledger says is applied
is acknowledged without applying it again.
"""

from __future__ import annotations

import gc

# No cyclic garbage collection during init (decision 0009); see the end of the module.
gc.disable()

import os
from functools import lru_cache
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from tally.errors import SettingsError
from tally.observability import quiet_sdk_loggers
from tally.payments.webhook_ledger import DynamoWebhookLedger
from tally.payments.webhooks import WebhookWorker, from_message
from tally.storage import clients
from webhooks import wiring

# Before anything logs: the AWS SDK's debug lines carry passwords and tokens (decision 10).
quiet_sdk_loggers()
logger = Logger()
# The process's metrics (EMF), flushed after each batch: the outcomes counted here and whatever the
# appliers count on their own Metrics() (the same store, POWERTOOLS_METRICS_NAMESPACE).
metrics = Metrics()
processor = BatchProcessor(event_type=EventType.SQS)


@lru_cache(maxsize=1)
def worker() -> WebhookWorker:
    table = os.environ.get("BILLING_TABLE_NAME", "")
    if not table:
        raise SettingsError("BILLING_TABLE_NAME is not set: the webhook worker cannot run")
    return WebhookWorker(DynamoWebhookLedger(clients.dynamodb(), table), wiring.applier_for)


def record_handler(record: SQSRecord) -> None:
    event = from_message(record.body)
    applied = worker().handle(event)
    # WebhookEventsApplied / WebhookEventsUnchanged / WebhookEventsIgnored
    metrics.add_metric(name=f"WebhookEvents{applied.outcome.title()}", unit=MetricUnit.Count, value=1)
    # Ids and types only: a payload may hold customers' personal data (decision 10).
    logger.info(
        "Webhook event handled",
        extra={
            "provider": event.provider,
            "event_id": event.id,
            "event_type": event.type,
            "outcome": applied.outcome,
            "detail": applied.detail,
        },
    )


@metrics.log_metrics
@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )


# Init's objects stay for the process's life: keep them out of every later collection, then
# collect as usual.
gc.freeze()
gc.enable()
