"""The local mailbox: every email the local stack's AWS sends, kept in memory, newest first.

Two sources feed it, in the process where moto runs:

- Cognito's code emails (sign-up, password reset), which `local.cognito_codes` writes here;
- SES: `install_ses_capture()` records every SESv2 `SendEmail` moto accepts, whole. moto keeps
  only the HTML part of Simple content (and refuses a sender that is not a verified identity,
  which the local stack creates from the template's AWS::SES::EmailIdentity).

Read it at `GET /_local/mailbox?to=<address>` (JSON) or `/_local/mailbox.html` (local.control).
"""

from __future__ import annotations

import base64
import email
import email.policy
import html
import itertools
import json
import threading
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from functools import wraps
from typing import Any, Literal
from urllib.parse import quote

from moto.sesv2.responses import SESV2Response

MAX_MESSAGES = 1_000  # the oldest go first: a long fuzz run must not grow the stack without end
Source = Literal["cognito", "ses"]


@dataclass(frozen=True)
class Message:
    id: str
    sender: str
    to: tuple[str, ...]
    subject: str
    text: str
    html: str | None
    sent_at: datetime
    source: Source

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "from": self.sender,
            "to": list(self.to),
            "subject": self.subject,
            "text": self.text,
            "html": self.html,
            "sent_at": self.sent_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
            "source": self.source,
        }


def _system_now() -> datetime:
    return datetime.now(UTC)


class Mailbox:
    def __init__(self, limit: int = MAX_MESSAGES) -> None:
        self._messages: deque[Message] = deque(maxlen=limit)
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        # The instant messages are stamped with: the local stack sets its own clock, so the
        # mailbox and the handlers agree when POST /_local/clock moves time.
        self.clock: Callable[[], datetime] = _system_now

    def deliver(
        self,
        *,
        sender: str,
        to: Iterable[str],
        subject: str,
        text: str,
        html_part: str | None,
        source: Source,
        message_id: str | None = None,
    ) -> Message:
        with self._lock:
            message = Message(
                id=message_id or f"local-{next(self._ids)}",
                sender=sender,
                to=tuple(to),
                subject=subject,
                text=text,
                html=html_part,
                sent_at=self.clock(),
                source=source,
            )
            self._messages.append(message)
        return message

    def messages(self, to: str | None = None) -> list[Message]:
        """Newest first; `to` keeps those sent to that address (compared case-insensitively)."""
        with self._lock:
            newest_first = list(reversed(self._messages))
        if not to:
            return newest_first
        wanted = to.strip().lower()
        return [message for message in newest_first if wanted in (a.lower() for a in message.to)]

    def clear(self) -> None:
        with self._lock:
            self._messages.clear()


MAILBOX = Mailbox()


# -- the page ------------------------------------------------------------------------------------

_STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:60rem;padding:0 1rem;color:#18181b}
article{border:1px solid #e4e4e7;border-radius:6px;padding:1rem;margin:1rem 0}
h2{font-size:1.1rem;margin:0 0 .5rem}dl{display:grid;grid-template-columns:6rem 1fr;margin:0;gap:.2rem}
dt{color:#71717a}dd{margin:0}pre{white-space:pre-wrap;background:#fafafa;padding:.75rem}
iframe{width:100%;height:24rem;border:1px solid #e4e4e7}
"""
# Everything shown is escaped; an email's HTML part is shown in a sandboxed frame (no scripts,
# no same-origin access), and the page itself loads nothing from anywhere.
PAGE_HEADERS = [
    ("content-type", "text/html; charset=utf-8"),
    (
        "content-security-policy",
        "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self'",
    ),
    ("x-content-type-options", "nosniff"),
]


def page(messages: list[Message], to: str | None) -> str:
    esc = html.escape
    wanted = to or ""
    json_link = "/_local/mailbox" + (f"?to={quote(wanted)}" if wanted else "")
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>Local mailbox</title>",
        f"<style>{_STYLE}</style></head><body><h1>Local mailbox</h1>",
        "<form method='get' action='/_local/mailbox.html'><label>To <input name='to' type='email' "
        f"value='{esc(wanted, quote=True)}'></label> <button>Show</button></form>",
        f"<p>{len(messages)} message(s), newest first. As JSON: <a href='{esc(json_link, quote=True)}'>"
        f"{esc(json_link)}</a></p>",
    ]
    for message in messages:
        parts.append(
            f"<article><h2>{esc(message.subject)}</h2><dl>"
            f"<dt>From</dt><dd>{esc(message.sender)}</dd>"
            f"<dt>To</dt><dd>{esc(', '.join(message.to))}</dd>"
            f"<dt>Sent</dt><dd>{esc(message.as_json()['sent_at'])}</dd>"
            f"<dt>Source</dt><dd>{esc(message.source)}</dd><dt>Id</dt><dd>{esc(message.id)}</dd></dl>"
            f"<h3>Text</h3><pre>{esc(message.text)}</pre>"
        )
        if message.html:
            parts.append(
                f"<details><summary>HTML</summary><iframe sandbox srcdoc='{esc(message.html, quote=True)}'>"
                "</iframe></details>"
            )
        parts.append("</article>")
    parts.append("</body></html>")
    return "".join(parts)


# -- SES ---------------------------------------------------------------------------------------

_installed = False
_install_lock = threading.Lock()


def _raw_parts(data: bytes) -> tuple[str, str, str | None]:
    """Subject, text and HTML of a raw MIME message."""
    parsed = email.message_from_bytes(data, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    text = parsed.get_body(("plain",))
    rich = parsed.get_body(("html",))
    return (
        str(parsed.get("Subject", "")),
        str(text.get_content()) if text is not None else "",
        str(rich.get_content()) if rich is not None else None,
    )


def _record(params: dict[str, Any], message_id: str, mailbox: Mailbox) -> None:
    destination = params.get("Destination") or {}
    recipients = [
        *destination.get("ToAddresses", []),
        *destination.get("CcAddresses", []),
        *destination.get("BccAddresses", []),
    ]
    content = params.get("Content") or {}
    if "Simple" in content:
        simple = content["Simple"]
        body = simple.get("Body") or {}
        subject = str((simple.get("Subject") or {}).get("Data", ""))
        text = str((body.get("Text") or {}).get("Data", ""))
        rich = (body.get("Html") or {}).get("Data")
    elif "Raw" in content:
        subject, text, rich = _raw_parts(base64.b64decode(content["Raw"]["Data"]))
    else:
        return  # templated content: moto does not send it either
    mailbox.deliver(
        sender=str(params.get("FromEmailAddress", "")),
        to=recipients,
        subject=subject,
        text=text,
        html_part=str(rich) if rich is not None else None,
        source="ses",
        message_id=message_id,
    )


def _capturing(
    send_email: Callable[[SESV2Response], str], mailbox: Mailbox
) -> Callable[[SESV2Response], str]:
    @wraps(send_email)
    def capture(self: SESV2Response) -> str:
        answer = send_email(self)  # raises when moto refuses it: a refused email never arrives
        _record(json.loads(self.body), str(json.loads(answer)["MessageId"]), mailbox)
        return answer

    return capture


def install_ses_capture(mailbox: Mailbox = MAILBOX) -> None:
    """Record what moto's SESv2 sends in `mailbox`, in this process; calling it again does nothing."""
    global _installed
    with _install_lock:
        if _installed:
            return
        SESV2Response.send_email = _capturing(SESV2Response.send_email, mailbox)  # type: ignore[method-assign,assignment]
        _installed = True
