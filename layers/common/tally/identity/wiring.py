"""The process's access policy over the billing table and the user pool, built on first use.

Its clients are made when first called (tally.storage.clients.on_first_use): a tenant's request
never makes the Cognito client, which only the staff MFA check uses.
"""

from __future__ import annotations

from functools import lru_cache

from tally.identity.cognito import CognitoMfaSettings
from tally.identity.directory import MembershipDirectory, StaffMfa
from tally.identity.dynamo import DynamoAccountStates, DynamoUserRecords
from tally.identity.policy import AccessPolicy
from tally.settings import get_settings
from tally.storage import clients


@lru_cache(maxsize=1)
def access_policy() -> AccessPolicy:
    settings = get_settings()
    dynamodb = clients.on_first_use(clients.dynamodb)
    ttl = settings.membership_cache_seconds
    return AccessPolicy(
        MembershipDirectory(DynamoUserRecords(dynamodb, settings.billing_table_name), ttl),
        DynamoAccountStates(dynamodb, settings.billing_table_name),
        StaffMfa(CognitoMfaSettings(clients.on_first_use(clients.cognito), settings.user_pool_id), ttl),
    )
