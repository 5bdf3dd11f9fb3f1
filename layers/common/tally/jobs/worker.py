"""The jobs worker: each SQS record is one item given back to its job; only the records that
failed are reported (Powertools' partial batch response), so SQS retries those alone and, after
the queue's maxReceiveCount, moves them to the dead-letter queue.

Each failure's text is kept (JOBFAIL#{job}#{key}, tally.jobs.runs) as the dead letter's reason.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from tally import clock as clocks
from tally.jobs.base import Job, JobName, Worked
from tally.jobs.messages import JobMessage
from tally.jobs.runs import ItemFailure, RunStore

LOGGER = logging.getLogger(__name__)
MAX_RECEIVES = 3  # the jobs queue's RedrivePolicy maxReceiveCount


def describe(exc: BaseException) -> str:
    """An error in words for the dead-letter listing (the domain's messages quote no address)."""
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}"[:1000] if text else type(exc).__name__


class JobWorker:
    def __init__(
        self,
        jobs: Callable[[JobName], Job],
        runs: RunStore,
        *,
        max_receives: int = MAX_RECEIVES,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        self._jobs = jobs
        self._runs = runs
        self._max_receives = max_receives
        self._now = now or clocks.now

    def handle(self, event: dict[str, Any], context: LambdaContext | None) -> dict[str, Any]:
        """`{"batchItemFailures": [{"itemIdentifier": <message id>}, ...]}`: the failed items only."""
        # A batch whose every item failed is answered like any other (each item reported), not
        # raised: the invocation succeeds, SQS retries the items, and the function's error alarm
        # stays for the function's own failures.
        processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
        answer = process_partial_response(
            event=event, record_handler=self.record, processor=processor, context=context
        )
        return dict(answer)

    def record(self, record: SQSRecord) -> str:
        message = JobMessage.parse(record.body)
        item = message.item
        attempt = int(record.attributes.approximate_receive_count or 1)
        try:
            worked: Worked = self._jobs(item.job).work(item, message.as_of)
        except Exception as exc:
            LOGGER.warning(
                "Job item failed",
                extra={"job": item.job, "key": item.key, "attempt": attempt, "error": type(exc).__name__},
            )
            failure = ItemFailure(item.job, item.key, describe(exc), message.run_id, self._now(), attempt)
            with contextlib.suppress(Exception):  # the item's own error is what SQS must see
                self._runs.failure(failure)
                if attempt >= self._max_receives:
                    self._runs.count(item.job, message.run_id, "failed")
            raise
        self._runs.count(item.job, message.run_id, "done")
        if worked.outcome == "skipped":
            self._runs.count(item.job, message.run_id, "skipped")
        LOGGER.info("Job item worked", extra={"job": item.job, "key": item.key, "outcome": worked.outcome})
        return worked.outcome
