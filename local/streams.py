"""DynamoDB stream event sources: one poller thread per DynamoDB event of a function.

Each poller reads the table's stream from moto (TRIM_HORIZON or LATEST at start, then
get_records about every 100 ms, less often while quiet, at once when woken after a handler
ran), shapes records as Lambda delivers them, drops those the FilterCriteria reject, and
invokes the function with up to BatchSize records, one batch at a time (ParallelizationFactor
1), while HTTP requests run concurrently: the stream only ever holds committed writes, because
a transaction checks all its conditions before writing (local.moto_dynamodb) and every
DynamoDB request runs under moto's lock. With ReportBatchItemFailures, a response listing
failures makes the poller re-deliver from the lowest failed sequence number; a raised exception
or a timeout fails the whole batch (halved first when BisectBatchOnFunctionError is set). After
MaximumRetryAttempts the records are given up, logged, and described to the OnFailure queue
when one is configured, as Lambda does.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import boto3
from botocore.exceptions import ClientError

from local.errors import InvocationError
from local.filters import matches_any
from local.functions import StreamSource
from local.invoker import Invoker

log = logging.getLogger("local.streams")

IDLE_INTERVAL = 1.0  # seconds between polls of a stream that has been quiet for a while


def _wire(value: Any) -> Any:
    """boto3 decodes B/BS to bytes; Lambda delivers them base64-encoded."""
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, dict):
        return {key: _wire(item) for key, item in value.items()}
    if isinstance(value, list | set):
        return [_wire(item) for item in value]
    return value


def to_lambda_record(raw: Mapping[str, Any], stream_arn: str, region: str) -> dict[str, Any]:
    """A GetRecords record as the Lambda DynamoDB event shape."""
    change = dict(raw.get("dynamodb") or {})
    created = change.get("ApproximateCreationDateTime")
    if isinstance(created, datetime):
        change["ApproximateCreationDateTime"] = int(created.timestamp())
    elif created is not None:
        change["ApproximateCreationDateTime"] = int(float(created))
    record: dict[str, Any] = {
        "eventID": raw.get("eventID"),
        "eventName": raw.get("eventName"),
        "eventVersion": raw.get("eventVersion", "1.1"),
        "eventSource": raw.get("eventSource", "aws:dynamodb"),
        "awsRegion": region,
        "dynamodb": _wire(change),
        "eventSourceARN": stream_arn,
    }
    if raw.get("userIdentity"):
        record["userIdentity"] = dict(raw["userIdentity"])
    return record


class StreamPoller:
    def __init__(
        self,
        source: StreamSource,
        invoker: Invoker,
        region: str,
        *,
        interval: float = 0.1,
        retry_delay: float = 0.1,
    ) -> None:
        self.source = source
        self.invoker = invoker
        self.region = region
        self.interval = interval
        self.retry_delay = retry_delay
        self.name = f"{source.function}.{source.event_name}"
        self._client: Any = None
        self._positions: dict[str, str | None] = {}  # shard id -> last sequence number read
        self._iterators: dict[str, str | None] = {}  # shard id -> the NextShardIterator to read
        self._buffer: list[dict[str, Any]] = []
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"stream-{self.name}", daemon=True)
        self._cond = threading.Condition()
        self._cycle_started = 0
        self._idle_through = -1
        self._dead = False
        self.fetched_total = 0
        self.delivered_total = 0

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> None:
        self._client = boto3.client("dynamodbstreams", region_name=self.region)
        self._discover_shards(self.source.starting_position)
        self._thread.start()

    def stop(self, timeout: float = 5) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def wake(self) -> None:
        """Poll now rather than at the end of the (idle-lengthened) interval."""
        self._wake.set()

    # -- draining -----------------------------------------------------------------------------

    def mark(self) -> tuple[int, int]:
        with self._cond:
            return self._cycle_started, self.fetched_total

    def wait_idle_after(self, cycle: int, deadline: float) -> bool:
        """Wait until a poll that began after `cycle` found nothing new and nothing is pending."""
        with self._cond:
            while not (self._dead or self._idle_through > cycle):
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._stop.is_set():
                    return False
                self._cond.wait(min(remaining, 0.5))
            return True

    # -- polling ------------------------------------------------------------------------------

    def _discover_shards(self, position: str) -> None:
        description = self._client.describe_stream(StreamArn=self.source.stream_arn)["StreamDescription"]
        for shard in description.get("Shards", []):
            shard_id = shard["ShardId"]
            if shard_id in self._positions:
                continue
            self._positions[shard_id] = None
            if position == "LATEST":  # start after whatever the shard already holds
                while self._read_shard(shard_id):
                    pass

    def _fresh_iterator(self, shard_id: str) -> str:
        """An iterator just after the last record read (or at the start of the shard)."""
        last = self._positions.get(shard_id)
        kwargs: dict[str, Any] = {"StreamArn": self.source.stream_arn, "ShardId": shard_id}
        if last is None:
            kwargs["ShardIteratorType"] = "TRIM_HORIZON"
        else:
            kwargs.update(ShardIteratorType="AFTER_SEQUENCE_NUMBER", SequenceNumber=last)
        return str(self._client.get_shard_iterator(**kwargs)["ShardIterator"])

    def _read_shard(self, shard_id: str) -> list[dict[str, Any]]:
        """The records after the last one read, through NextShardIterator as Lambda reads them;
        an expired (or missing) iterator is replaced by a fresh one at the same position."""
        iterator = self._iterators.get(shard_id) or self._fresh_iterator(shard_id)
        try:
            page = self._client.get_records(ShardIterator=iterator, Limit=1000)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ExpiredIteratorException":
                raise
            page = self._client.get_records(ShardIterator=self._fresh_iterator(shard_id), Limit=1000)
        self._iterators[shard_id] = page.get("NextShardIterator")
        records = [
            to_lambda_record(raw, self.source.stream_arn, self.region) for raw in page.get("Records", [])
        ]
        if records:
            self._positions[shard_id] = str(records[-1]["dynamodb"]["SequenceNumber"])
        return records

    def _fetch(self) -> int:
        fetched = 0
        for shard_id in list(self._positions):
            for record in self._read_shard(shard_id):
                fetched += 1
                if matches_any(self.source.filter_patterns, record):
                    self._buffer.append(record)
        return fetched

    def _run(self) -> None:
        cycles = 0
        pause = self.interval
        while not self._stop.is_set():
            self._wake.clear()
            with self._cond:
                self._cycle_started += 1
                cycle = self._cycle_started
            fetched, healthy = 0, True
            try:
                if cycles % 50 == 49:
                    self._discover_shards("TRIM_HORIZON")
                fetched = self._fetch()
            except Exception as exc:
                healthy = False
                if self._stop.is_set():
                    break
                log.warning("%s: reading %s failed (%s); retrying", self.name, self.source.stream_arn, exc)
            self._deliver_buffer()
            cycles += 1
            with self._cond:
                self.fetched_total += fetched
                if healthy and fetched == 0 and not self._buffer:
                    self._idle_through = cycle
                self._cond.notify_all()
            # An idle stream is polled less often (up to IDLE_INTERVAL); a wake() cuts the pause.
            pause = self.interval if fetched else min(pause * 2, max(self.interval, IDLE_INTERVAL))
            self._wake.wait(pause)
        with self._cond:
            self._dead = True
            self._cond.notify_all()

    # -- delivery -----------------------------------------------------------------------------

    def _deliver_buffer(self) -> None:
        attempts = 0
        limit = self.source.batch_size
        while self._buffer and not self._stop.is_set():
            batch = self._buffer[:limit]
            failed_from, function_error = self._invoke(batch)
            if failed_from is None:
                del self._buffer[: len(batch)]
                with self._cond:
                    self.delivered_total += len(batch)
                attempts, limit = 0, self.source.batch_size
                continue
            del self._buffer[:failed_from]
            failed = batch[failed_from:]
            attempts += 1
            if attempts > self.source.maximum_retry_attempts:
                self._give_up(failed, attempts, function_error)
                del self._buffer[: len(failed)]
                attempts, limit = 0, self.source.batch_size
                continue
            if function_error and self.source.bisect_batch_on_error and len(failed) > 1:
                limit = max(1, len(failed) // 2)
            self._stop.wait(min(self.retry_delay * attempts, 1.0))

    def _invoke(self, batch: list[dict[str, Any]]) -> tuple[int | None, bool]:
        """(index of the first record to re-deliver or None when all succeeded, function error?)"""
        started = time.monotonic()
        try:
            result = self.invoker.invoke(self.source.function, {"Records": batch})
        except InvocationError:
            log.info("stream %s: %d record(s) -> function error", self.name, len(batch))
            return 0, True
        elapsed_ms = (time.monotonic() - started) * 1000
        failures = result.get("batchItemFailures") if isinstance(result, dict) else None
        if not self.source.report_batch_item_failures or not failures:
            log.info("stream %s: %d record(s) ok (%.0f ms)", self.name, len(batch), elapsed_ms)
            return None, False
        sequences = [str(record["dynamodb"].get("SequenceNumber")) for record in batch]
        indexes = []
        for failure in failures:
            identifier = failure.get("itemIdentifier") if isinstance(failure, dict) else None
            if not identifier or str(identifier) not in sequences:
                indexes.append(0)  # Lambda treats an unknown identifier as a failure of the whole batch
            else:
                indexes.append(sequences.index(str(identifier)))
        first = min(indexes)
        log.info(
            "stream %s: %d record(s), %d reported failed; re-delivering from %s",
            self.name,
            len(batch),
            len(failures),
            sequences[first],
        )
        return first, False

    def _give_up(self, failed: list[dict[str, Any]], attempts: int, function_error: bool) -> None:
        first = failed[0]["dynamodb"].get("SequenceNumber")
        last = failed[-1]["dynamodb"].get("SequenceNumber")
        log.error(
            "stream %s: giving up on %d record(s) (%s..%s) after %d attempt(s)",
            self.name,
            len(failed),
            first,
            last,
            attempts,
        )
        if not self.source.on_failure_arn:
            return
        queue_name = self.source.on_failure_arn.rsplit(":", 1)[-1]
        now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
        message = {
            "requestContext": {
                "requestId": str(uuid.uuid4()),
                "functionArn": self.invoker.functions[self.source.function].arn,
                "condition": "RetryAttemptsExhausted",
                "approximateInvokeCount": attempts,
            },
            "responseContext": {
                "statusCode": 200,
                "executedVersion": "$LATEST",
                "functionError": "Unhandled" if function_error else "",
            },
            "version": "1.0",
            "timestamp": now,
            "DDBStreamBatchInfo": {
                "shardId": next(iter(self._positions), ""),
                "startSequenceNumber": first,
                "endSequenceNumber": last,
                "approximateArrivalOfFirstRecord": now,
                "approximateArrivalOfLastRecord": now,
                "batchSize": len(failed),
                "streamArn": self.source.stream_arn,
            },
        }
        try:
            sqs: Any = boto3.client("sqs", region_name=self.region)
            url = sqs.get_queue_url(QueueName=queue_name)["QueueUrl"]
            sqs.send_message(QueueUrl=url, MessageBody=json.dumps(message))
        except Exception as exc:
            log.error("stream %s: could not record the failure in %s: %s", self.name, queue_name, exc)


class StreamPollers:
    """Every stream poller of the stack, and the drain the tests wait on."""

    def __init__(self, pollers: list[StreamPoller]) -> None:
        self.pollers = pollers

    def start(self) -> None:
        for poller in self.pollers:
            poller.start()

    def stop(self) -> None:
        for poller in self.pollers:
            poller.stop(timeout=0)
        for poller in self.pollers:
            poller.stop()

    def wake(self) -> None:
        for poller in self.pollers:
            poller.wake()

    def drain(self, timeout: float = 10.0) -> bool:
        """Block until every poller has delivered everything its stream held when called.

        Repeats while a pass fetched anything, so records written by a stream consumer into
        another polled table are drained too.
        """
        deadline = time.monotonic() + timeout
        while True:
            marks = {poller: poller.mark() for poller in self.pollers}
            self.wake()
            for poller, (cycle, _) in marks.items():
                if not poller.wait_idle_after(cycle, deadline):
                    return False
            if all(poller.fetched_total == fetched for poller, (_, fetched) in marks.items()):
                return True
