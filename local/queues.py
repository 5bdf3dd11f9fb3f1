"""SQS event sources: a poller per SQS event of a function, reading its queue in moto.

Each poller runs one or more threads (as many as the function may have instances, capped by
ScalingConfig.MaximumConcurrency), each receiving up to BatchSize messages with long polling
(WaitTimeSeconds 1: an idle queue costs one request a second, no busy loop; one receive at a
time per queue, so moto never hands one message to two threads), shaping them as Lambda's SQS
event, invoking the function and then:

- success: every message of the batch is deleted;
- ReportBatchItemFailures and a `batchItemFailures` answer: the listed messages stay (visible
  again after the retry visibility), the others are deleted; an identifier that is empty or
  not in the batch fails the whole batch, as in Lambda;
- a function error (raised, timed out, throttled): the whole batch stays.

A message that stays becomes visible again after the queue's VisibilityTimeout in AWS; locally
after `retry_visibility` seconds (1 by default) when that is shorter, so a retry does not take
minutes. The queue's RedrivePolicy is moto's: a receive moves a message already received
maxReceiveCount times to the dead-letter queue instead of delivering it (as SQS does).
Messages that the FilterCriteria reject are deleted without an invocation (Lambda's rule for
SQS). MaximumBatchingWindowInSeconds is not waited for: a batch goes as soon as a receive
returns messages.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

import boto3

from local.errors import InvocationError
from local.filters import matches_any
from local.functions import QueueSource
from local.invoker import Invoker

log = logging.getLogger("local.queues")

WAIT_SECONDS = 1  # long polling: a receive on an empty queue waits this long in moto
FIFO_IDLE_PAUSE = 0.2  # FIFO queues are short-polled (moto's long poll spins on a busy group)
DEFAULT_RETRY_VISIBILITY = 1
_EMPTY_COUNTS = (
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
)


def _message_attribute(value: Mapping[str, Any]) -> dict[str, Any]:
    """ReceiveMessage's MessageAttributeValue as Lambda spells it (camelCase, binary base64)."""
    binary = value.get("BinaryValue")
    attribute: dict[str, Any] = {
        "stringListValues": list(value.get("StringListValues") or []),
        "binaryListValues": [
            base64.b64encode(bytes(item)).decode("ascii") for item in value.get("BinaryListValues") or []
        ],
        "dataType": value.get("DataType", "String"),
    }
    if value.get("StringValue") is not None:
        attribute["stringValue"] = value["StringValue"]
    if binary is not None:
        attribute["binaryValue"] = base64.b64encode(bytes(binary)).decode("ascii")
    return attribute


def to_lambda_record(message: Mapping[str, Any], queue_arn: str, region: str) -> dict[str, Any]:
    """A ReceiveMessage message as a record of Lambda's SQS event."""
    record: dict[str, Any] = {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message.get("Body", ""),
        "attributes": {str(key): str(value) for key, value in (message.get("Attributes") or {}).items()},
        "messageAttributes": {
            str(name): _message_attribute(value)
            for name, value in (message.get("MessageAttributes") or {}).items()
        },
        "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }
    if message.get("MD5OfMessageAttributes"):
        record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
    return record


def _filterable(record: Mapping[str, Any]) -> dict[str, Any]:
    """What FilterCriteria see: the record, with a JSON body parsed (Lambda filters on it)."""
    view = dict(record)
    with contextlib.suppress(TypeError, ValueError):
        view["body"] = json.loads(record["body"])
    return view


def failed_ids(result: Any, batch: Sequence[Mapping[str, Any]]) -> set[str]:
    """The message ids a ReportBatchItemFailures answer leaves on the queue."""
    ids = {str(record["messageId"]) for record in batch}
    failures = result.get("batchItemFailures") if isinstance(result, dict) else None
    if not failures:
        return set()
    failed: set[str] = set()
    for failure in failures:
        identifier = failure.get("itemIdentifier") if isinstance(failure, dict) else None
        if not identifier or str(identifier) not in ids:
            return ids  # Lambda fails the whole batch on an empty or unknown identifier
        failed.add(str(identifier))
    return failed


class QueuePoller:
    def __init__(
        self,
        source: QueueSource,
        invoker: Invoker,
        region: str,
        *,
        workers: int = 1,
        retry_visibility: int = DEFAULT_RETRY_VISIBILITY,
        wait_seconds: int = WAIT_SECONDS,
    ) -> None:
        self.source = source
        self.invoker = invoker
        self.region = region
        self.workers = max(1, workers)
        self.retry_visibility = retry_visibility
        self.wait_seconds = wait_seconds
        self.name = f"{source.function}.{source.event_name}"
        self.receive_lock = threading.Lock()  # shared by the pollers of one queue (QueuePollers)
        self.queue_url = ""
        self._visibility = 30
        self._fifo = False
        self._client: Any = None
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._cond = threading.Condition()
        self.in_flight = 0  # batches received and not yet settled
        self.settled = 0  # batches settled (deleted, or left for a retry)
        self.invocations = 0

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> None:
        self._client = boto3.client("sqs", region_name=self.region)
        self.queue_url = str(self._client.get_queue_url(QueueName=self.source.queue_name)["QueueUrl"])
        attributes = self._client.get_queue_attributes(
            QueueUrl=self.queue_url, AttributeNames=["VisibilityTimeout", "FifoQueue"]
        )["Attributes"]
        self._visibility = int(attributes.get("VisibilityTimeout", 30))
        self._fifo = str(attributes.get("FifoQueue", "false")).lower() == "true"
        for number in range(1, self.workers + 1):
            thread = threading.Thread(target=self._run, name=f"sqs-{self.name}#{number}", daemon=True)
            self._threads.append(thread)
            thread.start()

    def stop(self, timeout: float = 5) -> None:
        self._stop.set()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            if thread.is_alive():
                thread.join(max(0.0, deadline - time.monotonic()))

    # -- draining -----------------------------------------------------------------------------

    def counts(self) -> tuple[int, int]:
        """(batches in flight, batches settled), read together."""
        with self._cond:
            return self.in_flight, self.settled

    def invocation_count(self) -> int:
        with self._cond:
            return self.invocations

    def queue_empty(self) -> bool:
        """Nothing visible, in flight or delayed on the queue."""
        attributes = self._client.get_queue_attributes(
            QueueUrl=self.queue_url, AttributeNames=list(_EMPTY_COUNTS)
        )["Attributes"]
        return all(int(attributes.get(name, 0)) == 0 for name in _EMPTY_COUNTS)

    # -- polling ------------------------------------------------------------------------------

    def _receive(self) -> list[dict[str, Any]]:
        with self.receive_lock:
            if self._stop.is_set():
                return []
            page = self._client.receive_message(
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=max(1, min(self.source.batch_size, 10)),
                WaitTimeSeconds=0 if self._fifo else self.wait_seconds,
                MessageSystemAttributeNames=["All"],
                MessageAttributeNames=["All"],
            )
            messages = list(page.get("Messages") or [])
            if messages:
                with self._cond:
                    self.in_flight += 1
            return messages

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                messages = self._receive()
            except Exception as exc:
                if self._stop.is_set():
                    break
                log.warning("queue %s: receiving failed (%s); retrying", self.name, exc)
                self._stop.wait(0.5)
                continue
            if not messages:
                if self._fifo:
                    self._stop.wait(FIFO_IDLE_PAUSE)
                continue
            try:
                self._handle(messages)
            except Exception as exc:  # moto gone while stopping, or a bug: never kill the thread
                if not self._stop.is_set():
                    log.exception("queue %s: settling a batch failed: %s", self.name, exc)
            finally:
                with self._cond:
                    self.in_flight -= 1
                    self.settled += 1
                    self._cond.notify_all()

    # -- delivery -----------------------------------------------------------------------------

    def _handle(self, messages: list[dict[str, Any]]) -> None:
        records = [to_lambda_record(message, self.source.queue_arn, self.region) for message in messages]
        patterns = self.source.filter_patterns
        batch = [record for record in records if matches_any(patterns, _filterable(record))]
        dropped = [record for record in records if record not in batch]
        if dropped:
            self._delete(dropped)
        if not batch:
            return
        failed = self._invoke(batch)
        self._delete([record for record in batch if record["messageId"] not in failed])
        if failed:
            self._retry_later([record for record in batch if record["messageId"] in failed])

    def _invoke(self, batch: list[dict[str, Any]]) -> set[str]:
        """The ids of the messages to leave on the queue."""
        started = time.monotonic()
        with self._cond:
            self.invocations += 1
        try:
            result = self.invoker.invoke(self.source.function, {"Records": batch})
        except InvocationError as exc:
            log.info("queue %s: %d message(s) -> function error (%s)", self.name, len(batch), exc.message)
            return {str(record["messageId"]) for record in batch}
        elapsed_ms = (time.monotonic() - started) * 1000
        failed = failed_ids(result, batch) if self.source.report_batch_item_failures else set()
        if failed:
            log.info(
                "queue %s: %d message(s), %d reported failed (%.0f ms)",
                self.name,
                len(batch),
                len(failed),
                elapsed_ms,
            )
        else:
            log.info("queue %s: %d message(s) ok (%.0f ms)", self.name, len(batch), elapsed_ms)
        return failed

    def _delete(self, records: list[dict[str, Any]]) -> None:
        for start in range(0, len(records), 10):
            entries = [
                {"Id": str(index), "ReceiptHandle": record["receiptHandle"]}
                for index, record in enumerate(records[start : start + 10])
            ]
            answer = self._client.delete_message_batch(QueueUrl=self.queue_url, Entries=entries)
            for failure in answer.get("Failed") or []:
                log.warning("queue %s: could not delete a message: %s", self.name, failure.get("Message"))

    def _retry_later(self, records: list[dict[str, Any]]) -> None:
        """Shorten the rest of the visibility timeout to the local retry delay (never lengthen it)."""
        if self.retry_visibility >= self._visibility:
            return
        for start in range(0, len(records), 10):
            entries = [
                {
                    "Id": str(index),
                    "ReceiptHandle": record["receiptHandle"],
                    "VisibilityTimeout": self.retry_visibility,
                }
                for index, record in enumerate(records[start : start + 10])
            ]
            self._client.change_message_visibility_batch(QueueUrl=self.queue_url, Entries=entries)


class QueuePollers:
    """Every SQS poller of the stack, the drain, and how many batches they have invoked."""

    def __init__(self, pollers: list[QueuePoller]) -> None:
        self.pollers = pollers
        locks: dict[str, threading.Lock] = {}
        for poller in pollers:  # one receive at a time per queue, across its pollers
            poller.receive_lock = locks.setdefault(poller.source.queue_arn, poller.receive_lock)

    def start(self) -> None:
        for poller in self.pollers:
            poller.start()

    def stop(self) -> None:
        for poller in self.pollers:
            poller.stop(timeout=0)
        for poller in self.pollers:
            poller.stop()

    def invocations(self) -> int:
        """Invocations by every poller since the start (a schedule run counts its workers')."""
        return sum(poller.invocation_count() for poller in self.pollers)

    def _settled(self) -> int:
        return sum(poller.counts()[1] for poller in self.pollers)

    def drain(self, timeout: float = 10.0, pause: float = 0.05) -> bool:
        """Block until every polled queue is empty and no batch is in flight.

        A batch's messages stay on their queue (not visible) until it is settled, and what its
        function sent is on the target queue before then; so a pass that finds every queue
        empty, nothing in flight and no batch settled while it looked saw a still moment.
        """
        deadline = time.monotonic() + timeout
        while True:
            before = self._settled()
            if all(poller.queue_empty() for poller in self.pollers):
                counts = [poller.counts() for poller in self.pollers]
                if all(in_flight == 0 for in_flight, _ in counts) and sum(s for _, s in counts) == before:
                    return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(pause)


def poller_workers(capacity: int, source: QueueSource) -> int:
    """Concurrent batches for one event: the function's instances, capped by MaximumConcurrency."""
    if source.maximum_concurrency is not None:
        capacity = min(capacity, source.maximum_concurrency)
    return max(1, capacity)
