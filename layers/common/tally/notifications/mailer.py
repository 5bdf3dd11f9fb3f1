"""Sending an `Email`: the `Mailer` port, and SES (v2 `SendEmail`, Simple content) behind it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from tally.errors import ServiceUnavailable
from tally.notifications.email import Email
from tally.storage.errors import error_code, is_transient

CHARSET = "UTF-8"


class EmailNotSent(Exception):
    """The provider refused the message (an unverified sender, a suppressed recipient...).

    `code` is the provider's error code; the message is not kept, as it may quote an address."""

    def __init__(self, code: str) -> None:
        super().__init__(f"The email was not sent ({code})")
        self.code = code


class Mailer(Protocol):
    def send(self, email: Email) -> str:
        """Send it; answers the provider's message id. Raises ServiceUnavailable when the
        provider is throttled or down (worth a retry), EmailNotSent when it refuses the message."""
        ...


class SesV2Client(Protocol):
    """The part of boto3's `sesv2` client SesMailer uses."""

    def send_email(self, **kwargs: Any) -> Mapping[str, Any]: ...


class SesMailer:
    def __init__(self, client: SesV2Client, sender: str) -> None:
        self._client = client
        self._sender = sender

    def send(self, email: Email) -> str:
        content = {
            "Simple": {
                "Subject": {"Data": email.subject, "Charset": CHARSET},
                "Body": {
                    "Text": {"Data": email.text, "Charset": CHARSET},
                    "Html": {"Data": email.html, "Charset": CHARSET},
                },
            }
        }
        try:
            answer = self._client.send_email(
                FromEmailAddress=self._sender,
                Destination={"ToAddresses": [email.to]},
                Content=content,
            )
        except (ClientError, BotoCoreError) as exc:
            if is_transient(exc):
                raise ServiceUnavailable() from exc
            raise EmailNotSent(error_code(exc) or type(exc).__name__) from exc
        return str(answer["MessageId"])
