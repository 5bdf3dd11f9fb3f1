"""Against moto: the email ledger under concurrent sends of one email (exactly one goes out, to
the local mailbox through SES), and email templates overridden from the documents bucket."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from local.mailbox import MAILBOX
from tally.notifications.email import Email
from tally.notifications.ledger import EmailLedger, LedgerKey, SendOutcome
from tally.notifications.mailer import SesMailer
from tally.notifications.overrides import S3OverrideLoader
from tally.notifications.render import build_environment, packaged_loader, render, render_with
from tally.storage import clients, keys
from tally.storage.items import from_item
from tests.support.stack import Stack

THREADS = 8


class CountingMailer:
    """SES through moto, counted, and slow enough that the threads overlap while it sends."""

    def __init__(self, inner: SesMailer) -> None:
        self.inner = inner
        self.calls = 0
        self.lock = threading.Lock()

    def send(self, email: Email) -> str:
        with self.lock:
            self.calls += 1
        time.sleep(0.2)
        return self.inner.send(email)


def sender(stack: Stack) -> str:
    return stack.functions["AccountsFunction"].environment["SENDER_EMAIL"]


def test_concurrent_sends_of_one_email_send_exactly_one(stack: Stack) -> None:
    table = stack.ref("BillingTable")
    mailer = CountingMailer(SesMailer(clients.sesv2(), sender(stack)))
    ledger = EmailLedger(clients.dynamodb(), table, mailer)
    email = render(
        "welcome",
        "fr",
        to="awa@example.com",
        entity_id="acc_ledger",
        account_name="Ndiaye",
        app_url="https://x",
    )
    key = LedgerKey.of(email, None)
    start = threading.Barrier(THREADS)

    def attempt(_: int) -> SendOutcome:
        start.wait()
        return ledger.send_once(email, key).outcome

    with ThreadPoolExecutor(THREADS) as pool:
        outcomes = list(pool.map(attempt, range(THREADS)))

    assert outcomes.count(SendOutcome.SENT) == 1
    assert set(outcomes) <= {SendOutcome.SENT, SendOutcome.IN_PROGRESS, SendOutcome.ALREADY_SENT}
    assert mailer.calls == 1
    assert len(MAILBOX.messages(to="awa@example.com")) == 1
    item = from_item(
        clients.dynamodb().get_item(TableName=table, Key=keys.email_sent("welcome", "acc_ledger"))["Item"]
    )
    assert item["status"] == "sent"
    # A rerun of the job, later: nothing more.
    assert ledger.send_once(email, key).outcome is SendOutcome.ALREADY_SENT
    assert mailer.calls == 1


def test_templates_are_overridden_from_the_documents_bucket(stack: Stack) -> None:
    bucket = stack.ref("DocumentsBucket")
    s3: Any = clients.s3()
    s3.put_object(
        Bucket=bucket,
        Key="email-templates/welcome.fr.subject",
        Body=b"Bienvenue chez Ndiaye Cloud, {{ account_name }}",
    )
    env = build_environment(S3OverrideLoader(clients.s3(), bucket, "email-templates/", packaged_loader()))

    email = render_with(env, "welcome", "fr", to="a@example.com", account_name="Awa", app_url="https://x")
    english = render_with(env, "welcome", "en", to="a@example.com", account_name="Awa", app_url="https://x")

    assert email.subject == "Bienvenue chez Ndiaye Cloud, Awa"
    assert email.text.startswith("Bonjour")  # the packaged body, not overridden
    assert english.subject == "Welcome to Tally, Awa"  # no override: packaged
