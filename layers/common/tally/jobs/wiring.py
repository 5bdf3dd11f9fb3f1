"""The jobs' services over DynamoDB, SQS, S3 and SES, built once per process on first use."""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

from tally.accounts.dynamo.accounts import DynamoAccountStore
from tally.accounts.dynamo.table import BillingTable
from tally.clock import Clock
from tally.documents.store import DocumentStore
from tally.invoices.dynamo import DynamoInvoiceStore, DynamoSellerStore
from tally.invoices.notices import InvoiceNotices, SendsOnce
from tally.invoices.service import AccountCustomers, InvoiceService, SellerSettingsService
from tally.invoices.subscription import SubscriptionInvoicing
from tally.jobs.dead_letters import DeadLetters
from tally.jobs.deps import JobDeps
from tally.jobs.due import DynamoDueIndex
from tally.jobs.queue import SqsJobQueue
from tally.jobs.runs import DynamoRunStore
from tally.plans.dynamo import DynamoPlanStore
from tally.plans.service import CatalogueService
from tally.retries.dynamo import DynamoRetryStore
from tally.settings import get_settings
from tally.storage import clients
from tally.subscriptions.dynamo import DynamoSubscriptionStore
from tally.usage.dynamo import DynamoUsageStore

if TYPE_CHECKING:
    from tally.notifications.ledger import EmailLedger


@lru_cache(maxsize=1)
def table() -> BillingTable:
    return BillingTable(clients.on_first_use(clients.dynamodb), get_settings().billing_table_name)


@lru_cache(maxsize=1)
def runs() -> DynamoRunStore:
    return DynamoRunStore(clients.on_first_use(clients.dynamodb), get_settings().billing_table_name)


@lru_cache(maxsize=1)
def queue() -> SqsJobQueue:
    return SqsJobQueue(clients.on_first_use(clients.sqs), get_settings().jobs_queue_url)


@lru_cache(maxsize=1)
def dead_letters() -> DeadLetters:
    settings = get_settings()
    return DeadLetters(
        clients.on_first_use(clients.sqs),
        settings.jobs_dead_letter_queue_url,
        settings.jobs_queue_url,
        runs(),
        table(),
    )


def _ledger() -> SendsOnce:
    from tally.notifications.ledger import EmailLedger
    from tally.notifications.mailer import SesMailer

    settings = get_settings()
    ledger: EmailLedger = EmailLedger(
        clients.dynamodb(), settings.billing_table_name, SesMailer(clients.sesv2(), settings.sender_email)
    )
    return ledger


@lru_cache(maxsize=1)
def deps() -> JobDeps:
    settings = get_settings()
    billing = table()
    accounts = DynamoAccountStore(billing)
    subscriptions = DynamoSubscriptionStore(billing)
    seller = SellerSettingsService(DynamoSellerStore(billing))
    catalogue = CatalogueService(DynamoPlanStore(billing))
    invoice_store = DynamoInvoiceStore(billing)
    usage = DynamoUsageStore(clients.on_first_use(clients.dynamodb), settings.billing_table_name)

    def invoicing(clock: Clock) -> SubscriptionInvoicing:
        return SubscriptionInvoicing(
            subscriptions, invoice_store, seller, catalogue, usage, accounts, clock=clock
        )

    def invoices(clock: Clock) -> InvoiceService:
        return InvoiceService(
            invoice_store,
            seller,
            AccountCustomers(accounts),
            subscriptions=subscriptions,
            accounts=accounts,
            clock=clock,
        )

    documents = DocumentStore(clients.on_first_use(clients.s3), settings.documents_bucket_name)
    ledger = lru_cache(maxsize=1)(_ledger)
    return JobDeps(
        due=DynamoDueIndex(clients.on_first_use(clients.dynamodb), settings.billing_table_name),
        subscriptions=subscriptions,
        accounts=accounts,
        settings=seller,
        catalogue=catalogue,
        invoicing=invoicing,
        invoices=invoices,
        notices=InvoiceNotices(documents, ledger, settings.app_url),
        managers=usage.managers,
        ledger=ledger,
        app_url=settings.app_url.rstrip("/"),
        payment_retries=DynamoRetryStore(billing),
    )


def reset() -> None:
    """Forget every service (tests switch stacks between cases)."""
    for cached in (table, runs, queue, dead_letters, deps):
        cached.cache_clear()
