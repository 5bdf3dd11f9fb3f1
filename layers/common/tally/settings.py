"""Typed settings read from the environment, once per process.

Every function gets the same variables from template.yaml's Globals; the local stack sets
them from the same template, so handlers never know where they run.
"""

from __future__ import annotations

import os
from functools import lru_cache

from pydantic import BaseModel, ConfigDict, Field, ValidationError

# Defined with the domain errors, so modules that raise it (tally.parameters) need no pydantic.
from tally.errors import SettingsError as SettingsError


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True, populate_by_name=True)

    billing_table_name: str = Field(alias="BILLING_TABLE_NAME")
    events_table_name: str = Field(alias="EVENTS_TABLE_NAME")
    user_pool_id: str = Field(default="", alias="USER_POOL_ID")
    user_pool_client_id: str = Field(default="", alias="USER_POOL_CLIENT_ID")
    event_retention_days: int = Field(default=90, ge=1, le=3650, alias="EVENT_RETENTION_DAYS")
    dedup_window_seconds: int = Field(default=60, ge=0, le=86_400, alias="DEDUP_WINDOW_SECONDS")
    # The Secrets Manager secret (ARN) holding the visitor fingerprint's salt: without it, stored
    # dedup keys cannot be reversed to an IP. Only the tracking function is given it.
    visitor_salt_secret_arn: str = Field(default="", alias="VISITOR_SALT_SECRET_ARN")
    # The Secrets Manager secret (ARN) holding the pepper of the API keys' hashes: without it, a
    # copy of the table cannot be used to test guesses. Given to the accounts function (which
    # creates keys) and to the authorizer (which checks them).
    api_key_pepper_secret_arn: str = Field(default="", alias="API_KEY_PEPPER_SECRET_ARN")
    # The address Tally's emails come from: an SES identity the functions that send may use.
    sender_email: str = Field(default="", alias="SENDER_EMAIL")
    # How long an instance trusts what it read of a user's memberships, sign-out and staff MFA:
    # the bound on a removed member keeping access (docs/identity.md; the bound is 300).
    membership_cache_seconds: int = Field(default=60, ge=0, le=300, alias="MEMBERSHIP_CACHE_SECONDS")
    # The front end's base URL: links in emails (an invitation's {app_url}/invitations/accept?token=…).
    app_url: str = Field(default="", alias="APP_URL")
    # --- issue 7, catalogue half: the seller's time zone, which subscription periods and trials
    # follow (DESIGN.md "Time"; an IANA name).
    seller_time_zone: str = Field(default="Europe/Paris", alias="SELLER_TIME_ZONE")
    # --- issue 8: the private bucket of invoice and credit-note PDFs.
    documents_bucket_name: str = Field(default="", alias="DOCUMENTS_BUCKET_NAME")
    # --- issue 10: the scheduled jobs' queue and its dead-letter queue (their URLs).
    jobs_queue_url: str = Field(default="", alias="JOBS_QUEUE_URL")
    jobs_dead_letter_queue_url: str = Field(default="", alias="JOBS_DEAD_LETTER_QUEUE_URL")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    try:
        return Settings.model_validate(dict(os.environ))
    except ValidationError as exc:  # pragma: no cover - a deployment error, not a request error
        raise SettingsError(str(exc)) from exc
