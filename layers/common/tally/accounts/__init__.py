"""Accounts: the businesses Tally tracks and bills, and signing in."""
