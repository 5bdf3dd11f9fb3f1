"""`CardCharger` over `stripe.StripeClient`: an off-session PaymentIntent, confirmed at once, on
the account's Stripe customer and its saved card.

The card: the customer's `invoice_settings.default_payment_method`, else its first card payment
method; none is a result (NO_SAVED_CARD), and nothing is charged. The amount is the invoice's
amount due in Stripe's units for its currency (`stripe_amount`). The idempotency key makes a
request retried, or the same attempt made by two workers, one PaymentIntent: Stripe answers the
second with the first's result (a decline included, as the error it was).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from tally.billing.invoices import Invoice
from tally.money import exponent
from tally.payments.stripe_gateway import translate
from tally.retries.ports import NO_SAVED_CARD, ChargeResult

if TYPE_CHECKING:
    from stripe import StripeClient

# https://docs.stripe.com/currencies: Stripe's zero-decimal and three-decimal currencies; every
# other one, ISK, HUF and TWD included, it takes in hundredths.
STRIPE_ZERO_DECIMAL = frozenset(
    [
        "BIF",
        "CLP",
        "DJF",
        "GNF",
        "JPY",
        "KMF",
        "KRW",
        "MGA",
        "PYG",
        "RWF",
        "UGX",
        "VND",
        "VUV",
        "XAF",
        "XOF",
        "XPF",
    ]
)
STRIPE_THREE_DECIMAL = frozenset(["BHD", "JOD", "KWD", "OMR", "TND"])


def stripe_exponent(currency: str) -> int:
    code = currency.upper()
    if code in STRIPE_ZERO_DECIMAL:
        return 0
    return 3 if code in STRIPE_THREE_DECIMAL else 2


def stripe_amount(amount: int, currency: str) -> int:
    """Tally's minor units (tally.money's exponent) as Stripe's: the same for EUR or XOF; ISK (0
    in Tally, hundredths in Stripe) times 100; MGA (2 in Tally, 0 in Stripe) divided by 100,
    exactly or refused."""
    shift = stripe_exponent(currency) - exponent(currency.upper())
    if shift >= 0:
        return amount * int(10**shift)
    whole, rest = divmod(amount, int(10 ** (-shift)))
    if rest:
        raise ValueError(f"{amount} {currency} minor units cannot be charged in whole units by Stripe")
    return whole


class StripeCardCharger:
    def __init__(
        self, client: StripeClient | Callable[[], StripeClient], customers: Callable[[str], str | None]
    ) -> None:
        """`client`: the client or how to make it on first use; `customers`: an account's Stripe
        customer id (tally.checkout.dynamo.DynamoCheckoutStore.customer), None without one."""
        self._client = client
        self._customers = customers

    @property
    def client(self) -> StripeClient:
        made = self._client() if callable(self._client) else self._client
        self._client = made
        return made

    def charge(self, invoice: Invoice, attempt: int, *, idempotency_key: str) -> ChargeResult:
        customer_id = self._customers(invoice.account_id)
        if customer_id is None:
            return ChargeResult(False, None, NO_SAVED_CARD, "The account has no Stripe customer")
        try:
            card = self._saved_card(customer_id)
            if card is None:
                return ChargeResult(False, None, NO_SAVED_CARD, "The customer has no saved card")
            params: Any = {
                "amount": stripe_amount(invoice.amount_due, invoice.currency),
                "currency": invoice.currency.lower(),
                "customer": customer_id,
                "payment_method": card,
                "off_session": True,
                "confirm": True,
                "description": f"Invoice {invoice.number or invoice.id}",
                "metadata": {
                    "tally_account_id": invoice.account_id,
                    "tally_invoice_id": invoice.id,
                    "tally_attempt": str(attempt),
                },
            }
            intent = self.client.v1.payment_intents.create(params, {"idempotency_key": idempotency_key})
        except Exception as exc:
            declined = _declined(exc)
            if declined is not None:
                return declined
            mapped = translate(exc)
            if mapped is None:
                raise
            raise mapped from exc
        if intent.status == "succeeded":
            return ChargeResult(True, str(intent.id))
        # requires_action (authentication the customer must give) or still processing: not paid.
        return ChargeResult(False, str(intent.id), str(intent.status), "The charge was not completed")

    def _saved_card(self, customer_id: str) -> str | None:
        # As plain dicts: a deleted customer has no invoice_settings (nor a card).
        customer: dict[str, Any] = self.client.v1.customers.retrieve(customer_id).to_dict()
        if customer.get("deleted"):
            return None
        default = (customer.get("invoice_settings") or {}).get("default_payment_method")
        if default:
            return default if isinstance(default, str) else str(default["id"])
        cards = self.client.v1.payment_methods.list({"customer": customer_id, "type": "card", "limit": 1})
        return str(cards.data[0].id) if cards.data else None


def _declined(exc: Exception) -> ChargeResult | None:
    """A card error (declined, authentication required off-session) as a failed attempt."""
    import stripe

    if not isinstance(exc, stripe.CardError):
        return None
    error = exc.error
    intent = getattr(error, "payment_intent", None) if error is not None else None
    reference = None
    if intent is not None:
        reference = str(intent["id"] if not isinstance(intent, str) else intent)
    decline = (getattr(error, "decline_code", None) if error is not None else None) or exc.code
    return ChargeResult(False, reference, str(decline or "card_declined"), exc.user_message or str(exc))
