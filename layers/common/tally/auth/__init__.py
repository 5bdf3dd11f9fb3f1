"""Signing users up and in on Cognito: registration, codes, passwords, tokens and TOTP MFA."""
