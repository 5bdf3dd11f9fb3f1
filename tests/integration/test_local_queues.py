"""The local stack's SQS event sources and ScheduleV2 runs, over a small fixture template: a
planner (the schedules' target) fanning out through a queue to a worker that uses Powertools'
BatchProcessor; partial failures, function errors, the dead-letter queue, the drain.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests
from aws_lambda_powertools.utilities.parser.models import SqsModel

from local.functions import QueueSource, ScheduleSource
from local.queues import failed_ids, poller_workers, to_lambda_record
from local.schedules import ScheduleInputError, schedule_event
from local.stack import LocalStack

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "local_queues" / "template.yaml"
REGION = "eu-west-1"
QUEUE_ARN = "arn:aws:sqs:eu-west-1:123456789012:work"


# -- the pieces -----------------------------------------------------------------------------------


def test_a_received_message_becomes_lambdas_sqs_record() -> None:
    message = {
        "MessageId": "m-1",
        "ReceiptHandle": "rh-1",
        "MD5OfBody": "49f68a5c8493ec2c0bf489821c21fc3b",
        "Body": "hi",
        "Attributes": {
            "SenderId": "AIDAIT2UOQQY3AUEKVGXU",
            "SentTimestamp": "1767225600000",
            "ApproximateReceiveCount": "2",
            "ApproximateFirstReceiveTimestamp": "1767225600005",
        },
        "MD5OfMessageAttributes": "fa20e2def088daf7b14bc51e836c5547",
        "MessageAttributes": {
            "kind": {"StringValue": "renewal", "DataType": "String"},
            "raw": {"BinaryValue": b"\x00\x01", "DataType": "Binary"},
        },
    }
    record = to_lambda_record(message, QUEUE_ARN, REGION)
    assert record == {
        "messageId": "m-1",
        "receiptHandle": "rh-1",
        "body": "hi",
        "attributes": message["Attributes"],
        "messageAttributes": {
            "kind": {
                "stringValue": "renewal",
                "stringListValues": [],
                "binaryListValues": [],
                "dataType": "String",
            },
            "raw": {
                "binaryValue": "AAE=",
                "stringListValues": [],
                "binaryListValues": [],
                "dataType": "Binary",
            },
        },
        "md5OfBody": "49f68a5c8493ec2c0bf489821c21fc3b",
        "md5OfMessageAttributes": "fa20e2def088daf7b14bc51e836c5547",
        "eventSource": "aws:sqs",
        "eventSourceARN": QUEUE_ARN,
        "awsRegion": REGION,
    }
    SqsModel.model_validate({"Records": [record]})  # Powertools' parser takes it


def test_reported_failures_keep_only_known_ids_else_the_whole_batch() -> None:
    batch = [{"messageId": "a"}, {"messageId": "b"}, {"messageId": "c"}]
    assert failed_ids({"batchItemFailures": [{"itemIdentifier": "b"}]}, batch) == {"b"}
    assert failed_ids({"batchItemFailures": []}, batch) == set()
    assert failed_ids(None, batch) == set()
    assert failed_ids({"batchItemFailures": [{"itemIdentifier": "zz"}]}, batch) == {"a", "b", "c"}
    assert failed_ids({"batchItemFailures": [{"itemIdentifier": ""}]}, batch) == {"a", "b", "c"}


def test_concurrent_batches_follow_the_instances_and_maximum_concurrency() -> None:
    source = QueueSource(function="F", event_name="E", queue_arn=QUEUE_ARN)
    assert poller_workers(4, source) == 4
    assert poller_workers(4, QueueSource("F", "E", QUEUE_ARN, maximum_concurrency=2)) == 2
    assert poller_workers(0, source) == 1  # throttled invocations still settle the messages


def test_a_schedules_event_is_its_input_with_as_of() -> None:
    schedule = ScheduleSource("F", "E", "s", "rate(1 day)", input='{"job": "renewals"}')
    assert schedule_event(schedule, None) == {"job": "renewals"}
    assert schedule_event(schedule, "2026-03-01T00:00:00Z") == {
        "job": "renewals",
        "as_of": "2026-03-01T00:00:00Z",
    }
    assert schedule_event(ScheduleSource("F", "E", "s", "rate(1 day)"), None) == {}
    with pytest.raises(ScheduleInputError):
        schedule_event(ScheduleSource("F", "E", "s", "rate(1 day)", input="[1]"), "2026-03-01T00:00:00Z")


# -- a whole stack ------------------------------------------------------------------------------


class Output:
    """The functions' stdout/stderr lines, as the stack's output sink receives them."""

    def __init__(self) -> None:
        self.lines: list[tuple[str, str]] = []
        self._lock = threading.Lock()

    def __call__(self, label: str, line: str) -> None:
        with self._lock:
            self.lines.append((label, line))

    def events(self) -> list[dict[str, Any]]:
        """The events the worker printed, one per batch."""
        with self._lock:
            lines = [line for label, line in self.lines if label.startswith("WorkerFunction#")]
        return [json.loads(line)["event"] for line in lines if line.startswith('{"event"')]

    def deliveries(self, since: int = 0) -> Counter[str]:
        """How many times each message key reached the worker."""
        return Counter(
            json.loads(record["body"])["key"]
            for event in self.events()[since:]
            for record in event["Records"]
        )


def eventually(check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out waiting for the functions' output"
        time.sleep(0.02)


@pytest.fixture(scope="module")
def output() -> Output:
    return Output()


@pytest.fixture(scope="module")
def stack(output: Output) -> Iterator[LocalStack]:
    with LocalStack(
        port=0,
        template=FIXTURE,
        region=REGION,
        seed=False,
        concurrency=2,
        output=output,
        queue_retry_visibility=0,
    ) as running:
        yield running


def _sqs(stack: LocalStack) -> Any:
    return boto3.client("sqs", region_name=REGION, endpoint_url=stack.moto_endpoint)


def _url(stack: LocalStack, logical_id: str) -> str:
    assert stack.registry is not None
    return str(stack.registry.lookup(logical_id, "QueueUrl"))


def _send(stack: LocalStack, *bodies: dict[str, Any]) -> None:
    sqs = _sqs(stack)
    for start in range(0, len(bodies), 10):
        entries = [
            {"Id": str(index), "MessageBody": json.dumps(body)}
            for index, body in enumerate(bodies[start : start + 10])
        ]
        sqs.send_message_batch(QueueUrl=_url(stack, "WorkQueue"), Entries=entries)


def _drain(stack: LocalStack, timeout: float = 15) -> None:
    answer = requests.get(
        f"{stack.base_url}/_local/queues/drain", params={"timeout": timeout}, timeout=timeout + 5
    )
    assert (answer.status_code, answer.json()) == (200, {"drained": True})


def _dead_letters(stack: LocalStack) -> list[dict[str, Any]]:
    sqs = _sqs(stack)
    url = _url(stack, "WorkDeadLetters")
    found: list[dict[str, Any]] = []
    while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        for message in messages:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        found.extend(json.loads(message["Body"]) for message in messages)
    return found


def test_the_stack_polls_each_sqs_event_and_knows_each_schedule(stack: LocalStack) -> None:
    assert stack.queues is not None
    assert stack.schedules is not None
    (poller,) = stack.queues.pollers
    assert (poller.source.function, poller.source.batch_size, poller.source.report_batch_item_failures) == (
        "WorkerFunction",
        5,
        True,
    )
    assert poller.workers == 2  # the function's instances (--concurrency 2)
    listing = requests.get(f"{stack.base_url}/_local/schedules", timeout=10).json()["schedules"]
    by_name = {schedule["name"]: schedule for schedule in listing}
    assert set(by_name) == {"fixture-fanout", "Nightly", "fixture-broken"}  # Name, else the event's key
    assert by_name["fixture-fanout"] == {
        "name": "fixture-fanout",
        "function": "PlannerFunction",
        "event": "Fanout",
        "expression": "cron(0 6 * * ? *)",
        "timezone": "Africa/Abidjan",
        "input": {"job": "fanout", "count": 7},
        "state": "ENABLED",
        "retry_policy": {"MaximumRetryAttempts": 2, "MaximumEventAgeInSeconds": 3600},
        "dead_letter_arn": "arn:aws:sqs:eu-west-1:123456789012:tally-local-ScheduleDeadLetters",
    }
    assert by_name["Nightly"]["input"] is None
    assert by_name["Nightly"]["timezone"] == "UTC"


def test_every_message_is_delivered_once_in_batches_shaped_as_lambdas(
    stack: LocalStack, output: Output
) -> None:
    _drain(stack)
    seen = len(output.events())
    keys = [f"ok-{n}" for n in range(12)]
    _send(stack, *({"key": key} for key in keys), {"key": "skipped", "skip": True})
    _drain(stack)
    eventually(lambda: sum(output.deliveries(seen).values()) >= len(keys))
    assert output.deliveries(seen) == Counter(keys)  # the filtered-out message is deleted, never delivered
    events = output.events()[seen:]
    assert all(1 <= len(event["Records"]) <= 5 for event in events)  # BatchSize
    for event in events:
        SqsModel.model_validate(event)
        for record in event["Records"]:
            assert record["eventSource"] == "aws:sqs"
            assert record["eventSourceARN"].endswith(":tally-local-WorkQueue")
            assert record["attributes"]["ApproximateReceiveCount"] == "1"
    assert _dead_letters(stack) == []


def test_partial_failures_are_redelivered_then_dead_lettered_after_max_receive_count(
    stack: LocalStack, output: Output
) -> None:
    _drain(stack)
    seen = len(output.events())
    _send(
        stack,
        {"key": "fine-1"},
        {"key": "flaky", "fail_until": 1},  # fails its first delivery only
        {"key": "poison", "fail_until": 99},  # fails every delivery
        {"key": "fine-2"},
    )
    _drain(stack)
    eventually(lambda: output.deliveries(seen).total() >= 7)
    # Only the failed ids come back; the poison message is received maxReceiveCount (3) times,
    # then moved to the dead-letter queue by the next receive.
    assert output.deliveries(seen) == Counter({"fine-1": 1, "fine-2": 1, "flaky": 2, "poison": 3})
    assert _dead_letters(stack) == [{"key": "poison", "fail_until": 99}]
    attributes = _sqs(stack).get_queue_attributes(QueueUrl=_url(stack, "WorkQueue"), AttributeNames=["All"])
    assert attributes["Attributes"]["ApproximateNumberOfMessages"] == "0"


def test_a_function_error_returns_the_whole_batch(stack: LocalStack, output: Output) -> None:
    _drain(stack)
    seen = len(output.events())
    _send(stack, {"key": "crash", "crash_until": 1})
    _drain(stack)
    eventually(lambda: output.deliveries(seen).total() >= 2)
    assert output.deliveries(seen) == Counter({"crash": 2})
    assert _dead_letters(stack) == []


def test_the_drain_times_out_while_a_batch_is_in_flight(stack: LocalStack) -> None:
    _drain(stack)
    _send(stack, {"key": "slow", "sleep": 1.5})
    time.sleep(0.3)
    answer = requests.get(f"{stack.base_url}/_local/queues/drain?timeout=0.2", timeout=10)
    assert (answer.status_code, answer.json()) == (504, {"drained": False})
    _drain(stack)
    assert requests.get(f"{stack.base_url}/_local/queues/drain?timeout=x", timeout=10).status_code == 400


def test_a_schedule_run_invokes_its_target_with_as_of_and_waits_for_the_workers(
    stack: LocalStack, output: Output
) -> None:
    _drain(stack)
    seen = len(output.events())
    clock_before = requests.get(f"{stack.base_url}/_local/clock", timeout=10).json()["now"]
    answer = requests.post(
        f"{stack.base_url}/_local/schedules/fixture-fanout/run",
        json={"as_of": "2026-03-01T07:00:00+01:00"},
        timeout=60,
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    as_of = "2026-03-01T06:00:00Z"
    assert body["schedule"] == "fixture-fanout"
    assert body["function"] == "PlannerFunction"
    assert body["result"] == {
        "planned": 7,
        "as_of": as_of,
        "event": {"job": "fanout", "count": 7, "as_of": as_of},
    }
    assert body["drained"] is True
    eventually(lambda: len(output.events()) - seen >= body["worker_invocations"])
    events = output.events()[seen:]
    assert body["worker_invocations"] == len(events) >= 2  # 7 messages, at most 5 a batch
    assert output.deliveries(seen) == Counter({f"plan-{n}": 1 for n in range(7)})
    assert {json.loads(record["body"])["as_of"] for event in events for record in event["Records"]} == {as_of}
    # as_of goes in the event only: the clock did not move.
    clock_after = datetime.fromisoformat(
        requests.get(f"{stack.base_url}/_local/clock", timeout=10).json()["now"]
    )
    assert clock_after - datetime.fromisoformat(clock_before) < timedelta(minutes=1)
    assert abs(clock_after - datetime.now(UTC)) < timedelta(minutes=1)


def test_a_schedule_without_as_of_and_the_errors(stack: LocalStack) -> None:
    base = stack.base_url
    answer = requests.post(f"{base}/_local/schedules/Nightly/run", timeout=60)
    assert answer.status_code == 200
    assert answer.json() == {
        "schedule": "Nightly",
        "function": "PlannerFunction",
        "result": {"planned": 0, "as_of": None, "event": {}},
        "drained": True,
        "worker_invocations": 0,
    }
    broken = requests.post(f"{base}/_local/schedules/fixture-broken/run", json={}, timeout=60)
    assert broken.status_code == 200
    assert broken.headers["x-amz-function-error"] == "Unhandled"
    assert broken.json()["errorMessage"].endswith("the planner is broken")
    assert requests.post(f"{base}/_local/schedules/nope/run", timeout=10).status_code == 404
    bad = requests.post(f"{base}/_local/schedules/Nightly/run", json={"as_of": "yesterday"}, timeout=10)
    assert bad.status_code == 400
    assert requests.post(f"{base}/_local/schedules/Nightly/run", data=b"[1]", timeout=10).status_code == 400
