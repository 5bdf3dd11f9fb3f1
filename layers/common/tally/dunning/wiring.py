"""The dunning job as the jobs worker builds it: clients made on first use, the table from the
environment (BILLING_TABLE_NAME), emails through the ledger and SES.

AWS actions it calls: dynamodb:Query (BillingTable/index/DueIndex), dynamodb:GetItem,
dynamodb:PutItem, dynamodb:UpdateItem, dynamodb:DeleteItem (the email ledger's claims), and
dynamodb:ConditionCheckItem through TransactWriteItems (BillingTable), ses:SendEmail (SENDER_EMAIL's
identity). No S3: the dunning emails link to the app, they carry no PDF.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tally.accounts.dynamo.table import BillingTable
from tally.documents.store import DocumentStore
from tally.dunning.dynamo import DynamoDunningStore
from tally.dunning.job import DunningJob
from tally.invoices.dynamo import DynamoSellerStore
from tally.invoices.notices import InvoiceNotices
from tally.invoices.service import SellerSettingsService
from tally.settings import get_settings
from tally.storage import clients

if TYPE_CHECKING:
    from tally.notifications.ledger import EmailLedger


def dunning_job_from_environment() -> DunningJob:
    settings = get_settings()
    table = BillingTable(clients.on_first_use(clients.dynamodb), settings.billing_table_name)

    def ledger() -> EmailLedger:
        from tally.notifications.ledger import EmailLedger
        from tally.notifications.mailer import SesMailer

        return EmailLedger(
            clients.dynamodb(), settings.billing_table_name, SesMailer(clients.sesv2(), settings.sender_email)
        )

    # The documents store is never called by the dunning emails (no PDF); its client is made on
    # first use, so it costs nothing.
    documents = DocumentStore(clients.on_first_use(clients.s3), settings.documents_bucket_name or "unused")
    return DunningJob(
        DynamoDunningStore(table),
        SellerSettingsService(DynamoSellerStore(table)),
        InvoiceNotices(documents, ledger, settings.app_url),
    )
