"""Seeding the local user pool with a platform admin, so a developer can sign in at once."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from local.intrinsics import Resolver
from local.resources import ResourceRegistry
from local.template import Template

log = logging.getLogger("local.seed")

DEFAULT_ADMIN_EMAIL = "admin@tally.local"
DEFAULT_ADMIN_PASSWORD = "Tally-local-2026!"  # noqa: S105 - a local-only, documented default
ADMIN_GROUP = "platform-admin"


@dataclass(frozen=True)
class SeededAdmin:
    email: str
    user_pool_id: str
    group: str | None


def _admin_pool_and_group(
    template: Template, resolver: Resolver, registry: ResourceRegistry
) -> tuple[str | None, str | None]:
    """The platform-admin group the template declares (and its pool), else the only pool."""
    for group in template.of_type("AWS::Cognito::UserPoolGroup"):
        if (
            group.logical_id not in registry.physical
            or registry.physical[group.logical_id].ref != ADMIN_GROUP
        ):
            continue
        pool_id = resolver.resolve(group.properties.get("UserPoolId"))
        return str(pool_id), ADMIN_GROUP
    pools = [
        registry.physical[pool.logical_id].ref
        for pool in template.of_type("AWS::Cognito::UserPool")
        if pool.logical_id in registry.physical
    ]
    return (str(pools[0]) if pools else None), None


def seed_admin(
    template: Template, resolver: Resolver, registry: ResourceRegistry, email: str, password: str
) -> SeededAdmin | None:
    pool_id, group = _admin_pool_and_group(template, resolver, registry)
    if pool_id is None:
        log.warning("the template declares no user pool; no admin seeded")
        return None
    cognito: Any = registry.client("cognito-idp")
    cognito.admin_create_user(
        UserPoolId=pool_id,
        Username=email,
        UserAttributes=[
            {"Name": "email", "Value": email},
            {"Name": "email_verified", "Value": "true"},
        ],
        MessageAction="SUPPRESS",
    )
    cognito.admin_set_user_password(UserPoolId=pool_id, Username=email, Password=password, Permanent=True)
    if group is not None:
        cognito.admin_add_user_to_group(UserPoolId=pool_id, Username=email, GroupName=group)
    else:
        log.warning("the template declares no %s group; the seeded admin has no group", ADMIN_GROUP)
    return SeededAdmin(email=email, user_pool_id=pool_id, group=group)
