"""HTTP glue shared by every API function: resolver factory, error mapping, identity."""
