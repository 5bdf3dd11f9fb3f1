"""What the jobs need, built once per process (tally.jobs.wiring) or of fakes in unit tests."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tally.clock import Clock
from tally.invoices.notices import InvoiceNotices, RendersEmail, SendsOnce
from tally.invoices.service import InvoiceService, SellerSettingsService
from tally.invoices.subscription import SubscriptionInvoicing
from tally.jobs.due import DueIndex
from tally.plans.service import CatalogueService
from tally.retries.ports import FirstAttempts
from tally.subscriptions.ports import Accounts, SubscriptionStore

if TYPE_CHECKING:
    from tally.usage.dynamo import Managers


@dataclass(frozen=True)
class JobDeps:
    due: DueIndex
    subscriptions: SubscriptionStore
    accounts: Accounts
    settings: SellerSettingsService
    catalogue: CatalogueService
    # Services "as of" an instant: a job works an item at the instant it fell due.
    invoicing: Callable[[Clock], SubscriptionInvoicing]
    invoices: Callable[[Clock], InvoiceService]
    notices: InvoiceNotices
    managers: Callable[[str], Managers]  # an account's name, and its owners' and admins' addresses
    ledger: Callable[[], SendsOnce]
    app_url: str
    render_email: RendersEmail | None = None
    # Attempt 0 of a finalised invoice's card charge (tally.retries); None: no automatic charge.
    payment_retries: FirstAttempts | None = None
