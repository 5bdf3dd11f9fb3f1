"""Stand-ins for the jobs' ports (unit tests) and SQS delivery to the worker (integration)."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tally.jobs.due import DueEntry
from tally.jobs.runs import Counter, ItemFailure, JobRun
from tally.jobs.worker import JobWorker
from tally.subscriptions.due import due_entry
from tests.support.billing import InMemorySubscriptionStore


class InMemoryDueIndex:
    """The DueIndex as tally.subscriptions.due would write it for the store's subscriptions;
    `reads` counts the entries each query returned (what a Query's items would cost)."""

    def __init__(self, store: InMemorySubscriptionStore) -> None:
        self.store = store
        self.reads = 0
        self.queries = 0

    def due(self, partition: str, start: datetime | None, end: datetime) -> Iterator[DueEntry]:
        self.queries += 1
        found = []
        for subscription in self.store.subscriptions.values():
            entry = due_entry(subscription)
            if entry is None or entry[0] != partition:
                continue
            at = entry[1]
            if (start is None or at >= start) and at < end:
                found.append(DueEntry(subscription.account_id, subscription.id, at))
        found.sort(key=lambda e: (e.at, e.subscription_id))
        self.reads += len(found)
        yield from found


class InMemoryRunStore:
    def __init__(self) -> None:
        self.runs: dict[tuple[str, str], JobRun] = {}
        self.failed: dict[tuple[str, str], ItemFailure] = {}

    def started(self, run: JobRun) -> None:
        self.runs[(run.job, run.run_id)] = run

    def ended(self, run: JobRun) -> None:
        stored = self.runs[(run.job, run.run_id)]
        self.runs[(run.job, run.run_id)] = stored.model_copy(
            update={"ended_at": run.ended_at, "planned": run.planned}
        )

    def count(self, job: str, run_id: str, counter: Counter) -> None:
        stored = self.runs[(job, run_id)]
        self.runs[(job, run_id)] = stored.model_copy(update={counter: getattr(stored, counter) + 1})

    def failure(self, failure: ItemFailure) -> None:
        self.failed[(failure.job, failure.key)] = failure

    def failures(self, items: list[tuple[str, str]]) -> dict[tuple[str, str], ItemFailure]:
        return {item: self.failed[item] for item in items if item in self.failed}


@dataclass
class InMemoryQueue:
    """The jobs queue: every batch sent, in order."""

    batches: list[list[str]] = field(default_factory=list)

    def send(self, bodies: Sequence[str]) -> None:
        assert len(bodies) <= 10
        self.batches.append(list(bodies))

    @property
    def bodies(self) -> list[str]:
        return [body for batch in self.batches for body in batch]

    def take(self) -> list[str]:
        bodies, self.batches = self.bodies, []
        return bodies


def sqs_event(
    bodies: Sequence[str], receive_count: int = 1, ids: Sequence[str] | None = None
) -> dict[str, Any]:
    """The event Lambda's SQS event source mapping delivers."""
    return {
        "Records": [
            {
                "messageId": ids[index] if ids else f"m-{index}",
                "receiptHandle": f"rh-{index}",
                "body": body,
                "attributes": {
                    "ApproximateReceiveCount": str(receive_count),
                    "SentTimestamp": "0",
                    "SenderId": "test",
                    "ApproximateFirstReceiveTimestamp": "0",
                },
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:eu-west-1:123456789012:jobs",
                "awsRegion": "eu-west-1",
            }
            for index, body in enumerate(bodies)
        ]
    }


def work_all(worker: JobWorker, bodies: Sequence[str]) -> list[str]:
    """Each batch of ten through the worker; the bodies of the failed records."""
    failed: list[str] = []
    for start in range(0, len(bodies), 10):
        batch = list(bodies[start : start + 10])
        answer = worker.handle(sqs_event(batch), None)
        failed += [batch[int(f["itemIdentifier"].removeprefix("m-"))] for f in answer["batchItemFailures"]]
    return failed


def drain(sqs: Any, queue_url: str, worker: JobWorker, *, rounds: int = 1000) -> int:
    """Deliver the queue's messages to the worker as the event source mapping does (batches of
    ten, delete the successes; a failure is visible again at once here): how many were worked."""
    worked = 0
    for _ in range(rounds):
        answer = sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=10,
            VisibilityTimeout=0,
            MessageSystemAttributeNames=["ApproximateReceiveCount"],
        )
        messages = answer.get("Messages", [])
        if not messages:
            return worked
        counts = [int(m["Attributes"]["ApproximateReceiveCount"]) for m in messages]
        event = sqs_event([m["Body"] for m in messages], ids=[m["MessageId"] for m in messages])
        for record, count in zip(event["Records"], counts, strict=True):
            record["attributes"]["ApproximateReceiveCount"] = str(count)
        failed = {f["itemIdentifier"] for f in worker.handle(event, None)["batchItemFailures"]}
        done = [m for m in messages if m["MessageId"] not in failed]
        if done:
            sqs.delete_message_batch(
                QueueUrl=queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)],
            )
        worked += len(done)
    raise AssertionError("the queue did not drain")


def bodies_of(batches: Sequence[Sequence[str]]) -> list[dict[str, Any]]:
    return [json.loads(body) for batch in batches for body in batch]
