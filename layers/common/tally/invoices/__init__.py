"""Invoices stored: drafts, gapless numbers at finalisation, payments, credit notes, listings, and
the seller's billing settings (docs/billing.md "Invoices"). The rules are tally.billing's."""
