"""The accounts stores on the billing table (keys: tally.storage.keys; docs/identity.md "Items").

Every write is a tally.storage.transaction.Transaction carrying its audit record; invariants are
conditions of the same transaction (one account per SIREN, the owner count, one pending
invitation per email), so concurrent requests cannot break them.
"""
