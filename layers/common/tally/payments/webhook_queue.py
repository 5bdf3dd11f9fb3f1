"""The queue between the webhook route and its worker (SQS, `WEBHOOK_QUEUE_URL`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tally.payments.events import ProviderEvent
from tally.payments.webhooks import to_message
from tally.storage.guard import transient_as_unavailable

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient


class SqsEventQueue:
    def __init__(self, client: SQSClient, queue_url: str) -> None:
        self._client = client
        self._queue_url = queue_url

    def send(self, event: ProviderEvent) -> None:
        # Attributes name the event in the console and the dead-letter queue without reading bodies.
        with transient_as_unavailable():
            self._client.send_message(
                QueueUrl=self._queue_url,
                MessageBody=to_message(event),
                MessageAttributes={
                    "provider": {"DataType": "String", "StringValue": event.provider},
                    "event_id": {"DataType": "String", "StringValue": event.id},
                    "event_type": {"DataType": "String", "StringValue": event.type},
                },
            )
