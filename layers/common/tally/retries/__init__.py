"""Payment retries (issue 10, job 3): a native invoice charged to the account's saved card."""
