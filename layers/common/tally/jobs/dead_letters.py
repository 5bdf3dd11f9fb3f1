"""The jobs' dead letters: listed for platform admins, and replayed one by one.

Listing receives from the dead-letter queue with a visibility timeout of 0, so nothing is
hidden or deleted by looking (SQS answers a sample of a large queue: up to `limit` messages).
The reason of each is its item's last error, which the worker keeps at JOBFAIL#{job}#{key}
(tally.jobs.runs). Replaying one finds it again (holding each message it receives for a few
seconds and releasing those it does not want), records the replay (audit, with the item's
failure record), sends its body to the jobs queue, then deletes it from the dead-letter queue:
a replay that fails half-way leaves the message in one queue or, at worst, in both (the job's
work is idempotent: a duplicate changes nothing).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from tally.accounts.dynamo.table import BillingTable
from tally.audit.records import AuditContext
from tally.errors import NotFound
from tally.jobs.messages import JobMessage
from tally.jobs.runs import RunStore
from tally.storage import keys
from tally.storage.guard import transient_as_unavailable

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.type_defs import MessageTypeDef

HOLD_SECONDS = 20  # how long a replay holds a message it received
ROUNDS = 10  # receives per listing or search (10 messages each)


@dataclass(frozen=True)
class DeadLetter:
    id: str
    job: str | None
    key: str | None
    run_id: str | None
    as_of: datetime | None
    receive_count: int
    first_sent_at: datetime | None
    reason: str | None
    failed_at: datetime | None


class DeadLetters:
    def __init__(
        self, sqs: SQSClient, dead_letter_url: str, queue_url: str, runs: RunStore, table: BillingTable
    ) -> None:
        self._sqs = sqs
        self._dead_letter_url = dead_letter_url
        self._queue_url = queue_url
        self._runs = runs
        self._table = table

    def _receive(self, visibility: int) -> list[MessageTypeDef]:
        with transient_as_unavailable():
            answer = self._sqs.receive_message(
                QueueUrl=self._dead_letter_url,
                MaxNumberOfMessages=10,
                VisibilityTimeout=visibility,
                WaitTimeSeconds=0,
                MessageSystemAttributeNames=["ApproximateReceiveCount", "SentTimestamp"],
            )
        return list(answer.get("Messages", []))

    def listed(self, limit: int = 50) -> list[DeadLetter]:
        seen: dict[str, MessageTypeDef] = {}
        for _ in range(ROUNDS):
            messages = self._receive(0)
            fresh = [m for m in messages if m["MessageId"] not in seen]
            seen |= {m["MessageId"]: m for m in fresh}
            if not fresh or len(seen) >= limit:
                break
        return self._described(list(seen.values())[:limit])

    def _described(self, messages: list[MessageTypeDef]) -> list[DeadLetter]:
        parsed: list[tuple[MessageTypeDef, JobMessage | None]] = []
        for message in messages:
            try:
                parsed.append((message, JobMessage.parse(message.get("Body", ""))))
            except ValueError:
                parsed.append((message, None))
        wanted: list[tuple[str, str]] = [(job.item.job, job.item.key) for _, job in parsed if job is not None]
        failures = self._runs.failures(wanted) if wanted else {}
        letters = []
        for message, job in parsed:
            attributes: dict[str, Any] = {str(k): v for k, v in message.get("Attributes", {}).items()}
            sent = attributes.get("SentTimestamp")
            failure = failures.get((job.item.job, job.item.key)) if job is not None else None
            letters.append(
                DeadLetter(
                    id=message["MessageId"],
                    job=job.item.job if job else None,
                    key=job.item.key if job else None,
                    run_id=job.run_id if job else None,
                    as_of=job.as_of if job else None,
                    receive_count=int(attributes.get("ApproximateReceiveCount", 0)),
                    first_sent_at=datetime.fromtimestamp(int(sent) / 1000, UTC) if sent else None,
                    reason=failure.error if failure else ("Not a job message" if job is None else None),
                    failed_at=failure.at if failure else None,
                )
            )
        return letters

    def replay(self, message_id: str, context: AuditContext) -> DeadLetter:
        found = self._find(message_id)
        if found is None:
            raise NotFound(f"No dead letter '{message_id}' (replayed already?)", field="message_id")
        [letter] = self._described([found])
        transaction = self._table.transaction(context)
        subject = f"{letter.job}#{letter.key}" if letter.job else message_id
        transaction.update(
            keys.job_failure(letter.job or "unknown", letter.key or message_id),
            "SET replayed_at = :at, replayed_message = :id",
            values={":at": self._table.now().isoformat(), ":id": message_id},
        )
        transaction.audit("job.dead_letter_replayed", "job_item", subject, account_id=None)
        self._table.commit(transaction)
        with transient_as_unavailable():
            self._sqs.send_message(QueueUrl=self._queue_url, MessageBody=found.get("Body", ""))
            self._sqs.delete_message(QueueUrl=self._dead_letter_url, ReceiptHandle=found["ReceiptHandle"])
        return letter

    def _find(self, message_id: str) -> MessageTypeDef | None:
        """The message, held for HOLD_SECONDS; the others received on the way are released."""
        for _ in range(ROUNDS):
            messages = self._receive(HOLD_SECONDS)
            if not messages:
                return None
            match = None
            for message in messages:
                if message["MessageId"] == message_id:
                    match = message
                    continue
                with contextlib.suppress(Exception), transient_as_unavailable():
                    self._sqs.change_message_visibility(
                        QueueUrl=self._dead_letter_url,
                        ReceiptHandle=message["ReceiptHandle"],
                        VisibilityTimeout=0,
                    )
            if match is not None:
                return match
        return None
