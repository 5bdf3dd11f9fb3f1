"""The jobs queue (SQS): batches of ten, the most SendMessageBatch takes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

from tally.errors import ServiceUnavailable
from tally.storage.guard import transient_as_unavailable

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

BATCH = 10
RESENDS = 3  # a batch's entries SQS did not take are sent again this many times


class JobQueue(Protocol):
    def send(self, bodies: Sequence[str]) -> None:
        """Every body sent (at most BATCH), or an exception."""
        ...


class SqsJobQueue:
    def __init__(self, client: SQSClient, url: str) -> None:
        self._client = client
        self._url = url

    def send(self, bodies: Sequence[str]) -> None:
        if len(bodies) > BATCH:
            raise ValueError(f"SendMessageBatch takes at most {BATCH} messages")
        pending = {str(index): body for index, body in enumerate(bodies)}
        for _ in range(RESENDS + 1):
            if not pending:
                return
            entries = [{"Id": index, "MessageBody": body} for index, body in pending.items()]
            with transient_as_unavailable():
                answer = self._client.send_message_batch(QueueUrl=self._url, Entries=entries)  # type: ignore[arg-type]
            failed = {entry["Id"] for entry in answer.get("Failed", [])}
            pending = {index: body for index, body in pending.items() if index in failed}
        if pending:
            raise ServiceUnavailable(f"SQS did not take {len(pending)} job messages: run the planner again")
