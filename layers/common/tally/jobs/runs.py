"""Job runs (start, end, items planned, done, failed) and each item's last error.

A planner run writes its run item when it starts and again when it has sent every item; the
workers ADD to its counters (`done`, `skipped`, `failed`) with atomic updates keyed by the run
id, so concurrent workers never lose a count. `failed` counts the items that failed their last
attempt (they are in the dead-letter queue now), not every failed attempt. The last error of an
item is kept at JOBFAIL#{job}#{key} (30 days), which the dead-letter listing reads as the reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal, Protocol

from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict, Field

from tally.jobs.base import JobName
from tally.storage import cursors, keys
from tally.storage.errors import error_code
from tally.storage.guard import transient_as_unavailable
from tally.storage.items import from_item, to_item

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

FAILURE_DAYS = 30
Counter = Literal["done", "skipped", "failed"]


class JobRun(BaseModel):
    """One planner run, as recorded."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    job: JobName
    run_id: str
    as_of: datetime
    started_at: datetime
    ended_at: datetime | None = Field(default=None, description="When every item was sent to the queue")
    planned: int = Field(default=0, description="Items sent to the workers")
    done: int = Field(default=0, description="Items the workers did (or found done already)")
    skipped: int = Field(default=0, description="Of `done`: found done already, or no longer due")
    failed: int = Field(default=0, description="Items that failed their last attempt (dead-lettered)")


RunRecord = JobRun  # the planner's answer


@dataclass(frozen=True)
class ItemFailure:
    job: str
    key: str
    error: str
    run_id: str
    at: datetime
    attempts: int


class RunStore(Protocol):
    def started(self, run: JobRun) -> None: ...

    def ended(self, run: JobRun) -> None:
        """The run's end and `planned` (its counters are left to the workers' ADDs)."""
        ...

    def count(self, job: JobName, run_id: str, counter: Counter) -> None:
        """ADD 1 to the run's counter."""
        ...

    def failure(self, failure: ItemFailure) -> None: ...

    def failures(self, items: list[tuple[str, str]]) -> dict[tuple[str, str], ItemFailure]:
        """The last error of each (job, key) that has one."""
        ...


class DynamoRunStore:
    def __init__(self, client: DynamoDBClient, table: str) -> None:
        self._client = client
        self._table = table

    def started(self, run: JobRun) -> None:
        item = keys.job_run(run.job, run.run_id) | to_item({"kind": "job_run", **run.model_dump(mode="json")})
        with transient_as_unavailable():
            self._client.put_item(TableName=self._table, Item=item)

    def ended(self, run: JobRun) -> None:
        with transient_as_unavailable():
            self._client.update_item(
                TableName=self._table,
                Key=keys.job_run(run.job, run.run_id),
                UpdateExpression="SET ended_at = :end, planned = :planned",
                ExpressionAttributeValues={
                    ":end": {"S": (run.ended_at or run.started_at).isoformat()},
                    ":planned": {"N": str(run.planned)},
                },
            )

    def count(self, job: JobName, run_id: str, counter: Counter) -> None:
        """ADD 1 to a recorded run's counter; a run never recorded (a message made by hand, a
        run expired) is left alone rather than half-created."""
        try:
            with transient_as_unavailable():
                self._client.update_item(
                    TableName=self._table,
                    Key=keys.job_run(job, run_id),
                    UpdateExpression="ADD #counter :one",
                    ConditionExpression="attribute_exists(PK)",
                    ExpressionAttributeNames={"#counter": counter},
                    ExpressionAttributeValues={":one": {"N": "1"}},
                )
        except ClientError as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise

    def failure(self, failure: ItemFailure) -> None:
        expires = int((failure.at + timedelta(days=FAILURE_DAYS)).timestamp())
        item = keys.job_failure(failure.job, failure.key) | to_item(
            {
                "kind": "job_failure",
                "job": failure.job,
                "key": failure.key,
                "error": failure.error[:1000],
                "run_id": failure.run_id,
                "at": failure.at.isoformat(),
                "attempts": failure.attempts,
                "ttl": expires,
            }
        )
        with transient_as_unavailable():
            self._client.put_item(TableName=self._table, Item=item)

    def failures(self, items: list[tuple[str, str]]) -> dict[tuple[str, str], ItemFailure]:
        wanted = list(
            {keys.job_failure(job, key)["PK"]["S"]: keys.job_failure(job, key) for job, key in items}.values()
        )
        found: dict[tuple[str, str], ItemFailure] = {}
        for start in range(0, len(wanted), 100):
            request: Any = {self._table: {"Keys": wanted[start : start + 100]}}
            while request:
                with transient_as_unavailable():
                    answer = self._client.batch_get_item(RequestItems=request)
                for raw in answer.get("Responses", {}).get(self._table, []):
                    values = from_item(raw)
                    found[(str(values["job"]), str(values["key"]))] = ItemFailure(
                        job=str(values["job"]),
                        key=str(values["key"]),
                        error=str(values["error"]),
                        run_id=str(values["run_id"]),
                        at=datetime.fromisoformat(str(values["at"])),
                        attempts=int(values["attempts"]),
                    )
                request = answer.get("UnprocessedKeys") or None
        return found

    def page(
        self, job: JobName, limit: int = 50, cursor: str | None = None
    ) -> tuple[list[JobRun], str | None]:
        """A job's runs, newest first (one Query of its partition, never a scan)."""
        params: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "PK = :pk",
            "ExpressionAttributeValues": {":pk": {"S": keys.job_run_pk(job)}},
            "ScanIndexForward": False,
            "Limit": limit,
        }
        if cursor:
            params["ExclusiveStartKey"] = cursors.decode(
                cursor,
                partition_name="PK",
                partition=keys.job_run_pk(job),
                sort_name="SK",
                pk_prefix=keys.JOB_RUN_PREFIX,
            )
        with transient_as_unavailable():
            answer = self._client.query(**params)
        runs = [JobRun.model_validate(from_item(item)) for item in answer["Items"]]
        last = answer.get("LastEvaluatedKey")
        return runs, cursors.encode(dict(last)) if last else None
