"""Tally's common layer: domain logic, storage and HTTP glue shared by every function."""
