"""The audit trail: who changed what, when and why, written in the same transaction as the change
(tally.storage.transaction) and read newest first by pages of fixed cost (tally.audit.reader)."""
