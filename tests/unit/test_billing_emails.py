"""The billing emails (issue 8), each rendered in French and English on the shared layout, with
amounts written the locale's way."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from tally.billing.formatting import NBSP
from tally.notifications.catalogue import BILLING_EMAILS, DUNNING_STEPS, dunning_step
from tally.notifications.render import render

DUE = date(2026, 12, 7)
CONTEXTS: dict[str, dict[str, Any]] = {
    "invoice-issued": {
        "invoice_number": "INV-202611-00042",
        "total": 17700,
        "amount_due": 15000,
        "currency": "XOF",
        "due_date": DUE,
        "pdf_url": "https://files.example/inv.pdf?sig=1&x=2",
        "payment_reference": "INV20261100042",
    },
    "payment-received": {
        "invoice_number": "INV-202611-00042",
        "amount": 15000,
        "amount_due": 10000,
        "currency": "XOF",
        "received_on": date(2026, 11, 30),
        "reference": "VIR-778",
    },
    "payment-failed": {
        "invoice_number": "INV-202611-00042",
        "amount": 15000,
        "currency": "XOF",
        "pay_url": "https://app.example/pay/inv_1",
        "reason": "insufficient funds",
    },
    "credit-note-issued": {
        "credit_note_number": "CN-202611-00003",
        "invoice_number": "INV-202611-00042",
        "amount": 15000,
        "currency": "XOF",
        "refund": True,
        "pdf_url": "https://files.example/cn.pdf",
    },
    "dunning-reminder": {
        "invoice_number": "INV-202611-00042",
        "amount_due": 15000,
        "currency": "XOF",
        "due_date": DUE,
        "pay_url": "https://app.example/pay/inv_1",
        "step": 7,
    },
    "account-suspended": {
        "billing_url": "https://app.example/billing",
        "amount_due": 15000,
        "currency": "XOF",
    },
    "trial-ending": {
        "plan_name": "Pro",
        "trial_end": DUE,
        "days_left": 3,
        "billing_url": "https://app.example/billing",
        "price": 15000,
        "currency": "XOF",
        "cycle": "monthly",
    },
    "expiry-reminder": {
        "plan_name": "Pro",
        "expires_on": DUE,
        "days_left": 7,
        "renew_url": "https://app.example/renew",
        "price": 15000,
        "currency": "XOF",
    },
    "welcome": {"app_url": "https://app.example", "name": "Awa"},
}
AMOUNT = {"fr": f"15{NBSP}000{NBSP}FCFA", "en": f"15,000{NBSP}FCFA"}
FOOTER = {
    "fr": "Les réponses à cette adresse ne sont pas lues.",
    "en": "Replies to this address are not read.",
}


def test_every_billing_email_has_a_sample() -> None:
    assert set(CONTEXTS) == set(BILLING_EMAILS)


@pytest.mark.parametrize("locale", ["fr", "en"])
@pytest.mark.parametrize("template", BILLING_EMAILS)
def test_each_billing_email_renders_in_each_locale(template: str, locale: str) -> None:
    email = render(
        template,
        locale,
        to="jo@example.com",
        entity_id="inv_1",
        account_name="Ndiaye & Fils",
        **CONTEXTS[template],
    )

    assert email.subject
    assert "\n" not in email.subject
    assert email.text.rstrip().endswith(FOOTER[locale])
    assert f'<html lang="{locale}">' in email.html
    assert "Ndiaye &amp; Fils" in email.html  # escaped in HTML only
    assert "Ndiaye & Fils" in email.text
    if template != "welcome":
        assert AMOUNT[locale] in email.text
        assert AMOUNT[locale] in email.html
    assert ("Bonjour" if locale == "fr" else "Hello") in email.text
    for url in (value for value in CONTEXTS[template].values() if str(value).startswith("https://")):
        assert url in email.text
        assert url.replace("&", "&amp;") in email.html


def test_invoice_issued_in_french_reads_naturally() -> None:
    email = render(
        "invoice-issued", "fr", to="a@example.com", account_name="Acme", **CONTEXTS["invoice-issued"]
    )

    assert (
        email.subject == f"Facture INV-202611-00042 : 15{NBSP}000{NBSP}FCFA à régler avant le 7 décembre 2026"
    )
    assert "Échéance : 7 décembre 2026" in email.text
    assert "Télécharger la facture (PDF)" in email.html


def test_euro_amounts_in_both_locales() -> None:
    context = CONTEXTS["payment-received"] | {"amount": 123456, "amount_due": 0, "currency": "EUR"}
    french = render("payment-received", "fr", to="a@example.com", account_name="Acme", **context)
    english = render("payment-received", "en", to="a@example.com", account_name="Acme", **context)

    assert f"1{NBSP}234,56{NBSP}€" in french.subject
    assert "La facture est intégralement réglée." in french.text
    assert "€1,234.56" in english.subject
    assert "The invoice is paid in full." in english.text


@pytest.mark.parametrize(
    ("step", "english", "french"),
    [
        (-3, "Reminder: invoice INV-202611-00042 is due 7 December 2026", "Rappel : la facture"),
        (1, "Invoice INV-202611-00042 is overdue", "est en retard de paiement"),
        (3, "Second reminder", "Deuxième relance"),
        (7, "Urgent: invoice INV-202611-00042 is 7 days overdue", "impayée depuis 7 jours"),
        (15, "Last notice before suspension", "Dernier avis avant suspension"),
    ],
)
def test_the_dunning_reminder_changes_tone_with_its_step(step: int, english: str, french: str) -> None:
    context = CONTEXTS["dunning-reminder"] | {"step": step}
    assert (
        english in render("dunning-reminder", "en", to="a@example.com", account_name="A", **context).subject
    )
    assert french in render("dunning-reminder", "fr", to="a@example.com", account_name="A", **context).subject


def test_the_suspension_step_names_the_date_when_given() -> None:
    context = CONTEXTS["dunning-reminder"] | {"step": 15, "suspension_date": date(2026, 12, 25)}
    email = render("dunning-reminder", "fr", to="a@example.com", account_name="A", **context)
    assert "le compte sera suspendu le 25 décembre 2026" in email.text


def test_dunning_steps_name_their_ledger_step() -> None:
    assert [dunning_step(days) for days in DUNNING_STEPS] == ["J-3", "J+1", "J+3", "J+7", "J+15"]
