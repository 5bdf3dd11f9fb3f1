"""The plans catalogue stored: plans and their immutable versions in the billing table, the
service the plan routes and `make dev`'s seeding share (docs/billing.md "Storage")."""
