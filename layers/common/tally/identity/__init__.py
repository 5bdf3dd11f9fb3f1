"""Identity and tenancy: who is calling (principal), what they may do (policy), and the
memberships and staff checks behind it (docs/identity.md)."""
