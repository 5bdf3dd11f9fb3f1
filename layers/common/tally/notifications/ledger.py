"""At most one email per (template, entity, step), whatever reruns: the email ledger.

    ledger = EmailLedger(clients.dynamodb(), settings.billing_table_name, SesMailer(...))
    result = ledger.send_once(email, LedgerKey("dunning-reminder", invoice_id, "J+7"))

The protocol, one item per key (tally.storage.keys.email_sent):

1. Claim: a conditional Put of `status=sending` with a random token and an expiry. It succeeds
   only if there is no item, or a `sending` claim whose expiry has passed. Otherwise: `sent`
   answers ALREADY_SENT, a live claim answers IN_PROGRESS (another worker is sending it now);
   neither sends.
2. Send through the mailer.
3. Mark `status=sent` (conditional on still holding the token), with the message id.

When the send fails (SES throttled or down, or it refuses the message), the claim is deleted and
the error raised: the job's retry, or its next run, may send. A process that dies between 1 and 3
leaves a claim that expires after `claim_seconds`, longer than a Lambda can run (900 s), so its
holder is surely gone when another takes it. The one window where an email can go twice is a
death after SES accepted the message and before the `sent` mark landed (the mark is retried
first); the alternative, never retaking a claim, would lose the email for every crash before the
send. A rerun after a completed send never sends again.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any, cast

from botocore.exceptions import BotoCoreError, ClientError

from tally.clock import Clock, SystemClock
from tally.errors import ServiceUnavailable
from tally.notifications.email import Email
from tally.notifications.mailer import Mailer
from tally.storage import keys
from tally.storage.errors import error_code
from tally.storage.guard import transient_as_unavailable
from tally.storage.items import from_item, to_item

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

LOGGER = logging.getLogger(__name__)
CLAIM_SECONDS = 960  # > the 900 s a Lambda may run: an expired claim's holder is gone
MARK_ATTEMPTS = 3
SENDING, SENT = "sending", "sent"


class SendOutcome(StrEnum):
    SENT = "sent"  # this call sent it
    ALREADY_SENT = "already_sent"  # an earlier call did
    IN_PROGRESS = "in_progress"  # another call holds the claim and is sending it


@dataclass(frozen=True)
class SendResult:
    outcome: SendOutcome
    message_id: str | None = None  # the provider's id, when known


@dataclass(frozen=True)
class LedgerKey:
    template: str
    entity_id: str
    step: str | None = None  # e.g. "J+7" (tally.notifications.catalogue.dunning_step)

    @classmethod
    def of(cls, email: Email, step: str | None = None) -> LedgerKey:
        """The key of a rendered email: its template and its entity_id."""
        if email.entity_id is None:
            raise ValueError("The email names no entity: give entity_id to render()")
        return cls(email.template, email.entity_id, step)


class EmailLedger:
    def __init__(
        self,
        client: DynamoDBClient,
        table: str,
        mailer: Mailer,
        *,
        clock: Clock | None = None,
        claim_seconds: int = CLAIM_SECONDS,
    ) -> None:
        self._client = client
        self._table = table
        self._mailer = mailer
        self._clock = clock or SystemClock()
        self._claim_seconds = claim_seconds

    def send_once(self, email: Email, key: LedgerKey) -> SendResult:
        """Send `email` unless the ledger says it was (or is being) sent under `key`.

        Raises what the mailer raises (ServiceUnavailable, EmailNotSent) after releasing the
        claim, and ServiceUnavailable when DynamoDB is unavailable before anything was sent."""
        item_key = keys.email_sent(key.template, key.entity_id, key.step)
        token = secrets.token_hex(16)
        existing = self._claim(item_key, key, token)
        if existing is not None:
            if existing.get("status") == SENT:
                return SendResult(SendOutcome.ALREADY_SENT, existing.get("message_id"))
            return SendResult(SendOutcome.IN_PROGRESS)
        try:
            message_id = self._mailer.send(email)
        except Exception:
            self._release(item_key, token)
            raise
        self._mark_sent(item_key, token, message_id)
        return SendResult(SendOutcome.SENT, message_id)

    def _claim(self, item_key: keys.Key, key: LedgerKey, token: str) -> dict[str, Any] | None:
        """None when the claim is ours; otherwise the item that holds the key."""
        now = self._clock.now()
        item = item_key | to_item(
            {
                "kind": "email_ledger",
                "template": key.template,
                "entity_id": key.entity_id,
                "step": key.step,
                "status": SENDING,
                "claim_token": token,
                "claimed_at": now.isoformat(),
                "claim_expires_at": int((now + timedelta(seconds=self._claim_seconds)).timestamp()),
            }
        )
        try:
            with transient_as_unavailable():
                self._client.put_item(
                    TableName=self._table,
                    Item=item,
                    ConditionExpression=(
                        "attribute_not_exists(PK) OR (#status = :sending AND claim_expires_at < :now)"
                    ),
                    ExpressionAttributeNames={"#status": "status"},
                    ExpressionAttributeValues={
                        ":sending": {"S": SENDING},
                        ":now": {"N": str(int(now.timestamp()))},
                    },
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
        except ClientError as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise
            held: Mapping[str, Any] | None = cast("dict[str, Any]", exc.response).get("Item")
            if held is None:  # a DynamoDB stand-in that does not return it
                with transient_as_unavailable():
                    held = self._client.get_item(
                        TableName=self._table, Key=item_key, ConsistentRead=True
                    ).get("Item", {})
            return from_item(held)
        return None

    def _release(self, item_key: keys.Key, token: str) -> None:
        """Give the key back so that a retry can send; if this fails, the claim expires."""
        try:
            self._client.delete_item(
                TableName=self._table,
                Key=item_key,
                ConditionExpression="claim_token = :token",
                ExpressionAttributeValues={":token": {"S": token}},
            )
        except (ClientError, BotoCoreError):
            LOGGER.warning("Email claim not released; it will expire", exc_info=True)

    def _mark_sent(self, item_key: keys.Key, token: str, message_id: str) -> None:
        for attempt in range(1, MARK_ATTEMPTS + 1):
            try:
                with transient_as_unavailable():
                    self._client.update_item(
                        TableName=self._table,
                        Key=item_key,
                        UpdateExpression="SET #status = :sent, message_id = :id, sent_at = :at "
                        "REMOVE claim_expires_at",
                        ConditionExpression="claim_token = :token",
                        ExpressionAttributeNames={"#status": "status"},
                        ExpressionAttributeValues={
                            ":sent": {"S": SENT},
                            ":id": {"S": message_id},
                            ":at": {"S": self._clock.now().isoformat()},
                            ":token": {"S": token},
                        },
                    )
                return
            except ServiceUnavailable:
                if attempt == MARK_ATTEMPTS:
                    # Sent, but not marked: the claim expires in claim_seconds (module docstring).
                    LOGGER.error("Email sent but not marked as sent in the ledger")
            except ClientError:
                # The claim was taken over (it had expired): the email is sent, the item is theirs.
                LOGGER.error("Email sent after its claim had expired", exc_info=True)
                return
