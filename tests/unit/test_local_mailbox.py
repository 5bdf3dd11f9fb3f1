"""The local mailbox: newest first, filtered by recipient, bounded, and a page that escapes everything."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from email.message import EmailMessage

from local.mailbox import Mailbox, _record, page


def deliver(mailbox: Mailbox, to: str, subject: str, html_part: str | None = None) -> None:
    mailbox.deliver(
        sender="no-reply@example.com", to=[to], subject=subject, text="t", html_part=html_part, source="ses"
    )


def test_newest_first_and_filtered_by_recipient_whatever_the_case() -> None:
    mailbox = Mailbox()
    mailbox.clock = lambda: datetime(2026, 11, 1, 12, tzinfo=UTC)
    deliver(mailbox, "a@example.com", "first")
    deliver(mailbox, "b@example.com", "other")
    deliver(mailbox, "A@Example.com", "second")

    assert [m.subject for m in mailbox.messages()] == ["second", "other", "first"]
    assert [m.subject for m in mailbox.messages(" a@EXAMPLE.com")] == ["second", "first"]
    assert mailbox.messages("nobody@example.com") == []
    assert mailbox.messages()[0].as_json() == {
        "id": "local-3",
        "from": "no-reply@example.com",
        "to": ["A@Example.com"],
        "subject": "second",
        "text": "t",
        "html": None,
        "sent_at": "2026-11-01T12:00:00Z",
        "source": "ses",
    }


def test_the_oldest_messages_go_first_past_the_limit() -> None:
    mailbox = Mailbox(limit=2)
    for subject in ("1", "2", "3"):
        deliver(mailbox, "a@example.com", subject)

    assert [m.subject for m in mailbox.messages()] == ["3", "2"]
    mailbox.clear()
    assert mailbox.messages() == []


def test_the_page_escapes_everything_and_frames_html_in_a_sandbox() -> None:
    mailbox = Mailbox()
    evil = "<script>alert(1)</script>"
    deliver(mailbox, "a@example.com", evil, html_part=f"<p onclick='x'>hi</p>{evil}")

    shown = page(mailbox.messages(), "a@example.com'><script>")

    assert "<script>" not in shown
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in shown
    assert "<iframe sandbox srcdoc='&lt;p onclick=&#x27;x&#x27;&gt;hi&lt;/p&gt;" in shown
    assert "value='a@example.com&#x27;&gt;&lt;script&gt;'" in shown


def test_ses_simple_and_raw_requests_are_recorded_whole() -> None:
    mailbox = Mailbox()
    _record(
        {
            "FromEmailAddress": "no-reply@example.com",
            "Destination": {"ToAddresses": ["a@example.com"], "CcAddresses": ["c@example.com"]},
            "Content": {
                "Simple": {
                    "Subject": {"Data": "Hello"},
                    "Body": {"Text": {"Data": "plain"}, "Html": {"Data": "<p>rich</p>"}},
                }
            },
        },
        "m-1",
        mailbox,
    )
    raw = EmailMessage()
    raw["Subject"] = "Invoice"
    raw.set_content("plain invoice")
    raw.add_alternative("<p>rich invoice</p>", subtype="html")
    _record(
        {
            "FromEmailAddress": "billing@example.com",
            "Destination": {"ToAddresses": ["a@example.com"]},
            "Content": {"Raw": {"Data": base64.b64encode(raw.as_bytes()).decode()}},
        },
        "m-2",
        mailbox,
    )

    invoice, hello = mailbox.messages()
    assert (hello.id, hello.to, hello.subject, hello.text, hello.html) == (
        "m-1",
        ("a@example.com", "c@example.com"),
        "Hello",
        "plain",
        "<p>rich</p>",
    )
    assert (invoice.id, invoice.subject, invoice.text.strip(), invoice.html) == (
        "m-2",
        "Invoice",
        "plain invoice",
        "<p>rich invoice</p>\n",
    )
