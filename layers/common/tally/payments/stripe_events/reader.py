"""Reading the current state of Stripe's objects: Stripe is the source of truth, a webhook's
payload may be stale (events arrive late and out of order), so the applier reads before it acts.

Objects come back as plain dicts in Stripe's shapes (../shared/stripe/fixtures3.json).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from stripe import StripeClient, StripeObject

StripeDict = Mapping[str, Any]


class StripeReader(Protocol):
    def subscription(self, subscription_id: str) -> StripeDict: ...

    def invoice(self, invoice_id: str) -> StripeDict: ...

    def checkout_session(self, session_id: str) -> StripeDict: ...

    def charge(self, charge_id: str) -> StripeDict:
        """The charge with its refunds (`refunds.data`)."""
        ...

    def dispute(self, dispute_id: str) -> StripeDict: ...

    def customer_account(self, customer_id: str) -> str | None:
        """The Tally account a Stripe customer belongs to (`metadata.tally_account_id`)."""
        ...

    def invoice_of_charge(self, charge: StripeDict) -> str | None:
        """The invoice a charge paid, if it paid one."""
        ...


def _plain(value: StripeObject) -> dict[str, Any]:
    return value.to_dict(recursive=True)


class SdkStripeReader:
    """Over the process's `stripe.StripeClient` (tally.payments.stripe_client). Every call is
    one GET; errors are raised as the SDK raises them (the worker retries the event).

    `client` may be the factory (`stripe_client`): the key is then read from Secrets Manager on
    the first call, not when the worker is built."""

    def __init__(self, client: StripeClient | Callable[[], StripeClient]) -> None:
        self._given = client

    @property
    def _client(self) -> StripeClient:
        given = self._given
        if callable(given):  # the factory (a StripeClient is not callable)
            self._given = given = given()
        return given

    def subscription(self, subscription_id: str) -> StripeDict:
        return _plain(self._client.v1.subscriptions.retrieve(subscription_id))

    def invoice(self, invoice_id: str) -> StripeDict:
        return _plain(self._client.v1.invoices.retrieve(invoice_id))

    def checkout_session(self, session_id: str) -> StripeDict:
        return _plain(self._client.v1.checkout.sessions.retrieve(session_id))

    def charge(self, charge_id: str) -> StripeDict:
        # Refunds are not included by default in the current API version.
        return _plain(self._client.v1.charges.retrieve(charge_id, params={"expand": ["refunds"]}))

    def dispute(self, dispute_id: str) -> StripeDict:
        return _plain(self._client.v1.disputes.retrieve(dispute_id))

    def customer_account(self, customer_id: str) -> str | None:
        customer = _plain(self._client.v1.customers.retrieve(customer_id))
        if customer.get("deleted"):
            return None
        account = (customer.get("metadata") or {}).get("tally_account_id")
        return str(account) if account else None

    def invoice_of_charge(self, charge: StripeDict) -> str | None:
        # Older API versions name it on the charge; the current one through invoice payments.
        if isinstance(charge.get("invoice"), str):
            return str(charge["invoice"])
        intent = charge.get("payment_intent")
        if not intent:
            return None
        payments = self._client.v1.invoice_payments.list(
            params={"payment": {"type": "payment_intent", "payment_intent": str(intent)}, "limit": 1}
        )
        for payment in payments.data:
            invoice = payment.invoice
            return invoice if isinstance(invoice, str) else invoice.id
        return None
