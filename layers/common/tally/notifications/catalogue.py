"""The billing emails (issue 8) and the variables each one needs; optional ones in brackets.

Amounts are integer minor units of `currency`; dates are `datetime.date`. Each email is sent at
most once per (template, entity, step) through tally.notifications.ledger.

    invoice-issued       account_name, invoice_number, total, amount_due, currency, due_date,
                         pdf_url, [payment_reference], [pay_url]
    payment-received     account_name, invoice_number, amount, amount_due (left after it),
                         currency, received_on, [reference]
    payment-failed       account_name, invoice_number, amount, currency, pay_url, [reason]
    credit-note-issued   account_name, credit_note_number, invoice_number, amount, currency,
                         refund (bool), pdf_url
    dunning-reminder     account_name, invoice_number, amount_due, currency, due_date, pay_url,
                         step (days from the due date: -3 friendly, 1 overdue, 3 second reminder,
                         7 urgent, 15 and more: suspension coming), [suspension_date]
    account-suspended    account_name, billing_url, [reason], [amount_due with currency]
    trial-ending         account_name, plan_name, trial_end, days_left, billing_url,
                         [price with currency and cycle: monthly | quarterly | annual]
    expiry-reminder      account_name, plan_name, expires_on, days_left, renew_url,
                         [price with currency]
    welcome              account_name, app_url, [name], [plan_name]
"""

from __future__ import annotations

BILLING_EMAILS = (
    "invoice-issued",
    "payment-received",
    "payment-failed",
    "credit-note-issued",
    "dunning-reminder",
    "account-suspended",
    "trial-ending",
    "expiry-reminder",
    "welcome",
)

# The dunning ladder's steps, in days from the due date (DESIGN "Dunning"; the settings may differ).
DUNNING_STEPS = (-3, 1, 3, 7, 15)


def dunning_step(days: int) -> str:
    """The ledger's step for a dunning email: "J-3", "J+1", ... "J+15"."""
    return f"J{days:+d}"
