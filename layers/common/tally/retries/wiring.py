"""The payment retries job as the jobs worker builds it: its record in the billing table
(BILLING_TABLE_NAME), Stripe through the process's client (STRIPE_SECRET_KEY_ARN,
STRIPE_API_BASE), the invoices and settings of the jobs' services.

AWS actions it calls: dynamodb:Query (BillingTable/index/DueIndex, PAYMENT_RETRIES_DUE: the
planner), dynamodb:GetItem (PAYRETRY#, INVOICE#, SETTINGS#, ACCOUNT#: the Stripe customer),
dynamodb:UpdateItem (PAYRETRY#), dynamodb:PutItem (PAYRETRY#: attempt 0, by recurring invoicing;
INVOICE#, AUDIT#, ACCOUNT#: the payment through InvoiceService), secretsmanager:GetSecretValue
(StripeSecretKeySecret).
"""

from __future__ import annotations

from tally.accounts.dynamo.table import BillingTable
from tally.checkout.dynamo import DynamoCheckoutStore
from tally.jobs.deps import JobDeps
from tally.payments.stripe_client import stripe_client
from tally.retries.dynamo import DynamoRetryStore
from tally.retries.job import PaymentRetries
from tally.retries.stripe_charger import StripeCardCharger
from tally.settings import get_settings
from tally.storage import clients


def payment_retries_from_environment(deps: JobDeps) -> PaymentRetries:
    table = BillingTable(clients.on_first_use(clients.dynamodb), get_settings().billing_table_name)
    return PaymentRetries(
        DynamoRetryStore(table),
        StripeCardCharger(stripe_client, DynamoCheckoutStore(table).customer),
        deps.invoices,
        deps.settings,
    )
