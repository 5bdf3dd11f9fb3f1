"""Subscriptions stored: an account's current subscription, its changes through the state machine
(tally.billing.subscription_state), and the account's status following it in the same
transaction (docs/billing.md "Storage")."""
