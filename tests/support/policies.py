"""Reading the IAM grants template.yaml gives each function, as (action, resource, key prefixes)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from fnmatch import fnmatchcase
from typing import Any

from local.template import Resource, Template

# (action, logical id of the resource, dynamodb:LeadingKeys patterns or None when unrestricted)
Grant = tuple[str, str, frozenset[str] | None]


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def statements(template: Template, function: Resource) -> Iterator[dict[str, Any]]:
    """Every IAM statement the function's role holds: SAM inline policies, or its explicit role's."""
    role = function.properties.get("Role")
    if role is None:
        for policy in function.properties.get("Policies") or []:
            assert isinstance(policy, dict), f"{function.logical_id}: only inline policy documents"
            yield from policy["Statement"]
        return
    role_id = role["Fn::GetAtt"][0]
    for policy in template.resources[role_id].properties.get("Policies") or []:
        yield from policy["PolicyDocument"]["Statement"]


def resource_id(resource: Any) -> str:
    """The logical id an IAM Resource names (Ref, GetAtt or a Sub on a GetAtt)."""
    if isinstance(resource, dict) and "Ref" in resource:
        return str(resource["Ref"])
    if isinstance(resource, dict) and "Fn::GetAtt" in resource:
        return str(resource["Fn::GetAtt"][0])
    if isinstance(resource, dict) and "Fn::Sub" in resource:
        # The one resource the ARN names: ${EventsTable.Arn}/stream/*, or
        # arn:${AWS::Partition}:ses:...:identity/${SenderEmailIdentity}; a table's index is
        # named <table>/index/<index> (${BillingTable.Arn}/index/GSI1).
        text = str(resource["Fn::Sub"])
        named = {ref.split(".")[0] for ref in re.findall(r"\$\{([^}!]+)\}", text)}
        named = {ref for ref in named if not ref.startswith("AWS::")}
        if len(named) == 1:
            index = re.search(r"/index/([A-Za-z0-9_.-]+)$", text)
            return f"{named.pop()}/index/{index[1]}" if index else str(named.pop())
    raise AssertionError(f"unexpected IAM resource {resource!r}")


def object_keys(template: Template, resource: Any) -> tuple[str, str] | None:
    """A bucket's objects under a key pattern (`${DocumentsBucket.Arn}/invoices/*`): the bucket's
    logical id and the pattern, which takes the place of LeadingKeys for S3 object actions."""
    if not (isinstance(resource, dict) and "Fn::Sub" in resource):
        return None
    found = re.fullmatch(r"\$\{([A-Za-z0-9]+)\.Arn\}/(.+)", str(resource["Fn::Sub"]))
    if found is None or template.resources[found[1]].type != "AWS::S3::Bucket":
        return None
    return found[1], found[2]


def grants(template: Template, function: Resource) -> set[Grant]:
    found: set[Grant] = set()
    for statement in statements(template, function):
        assert statement["Effect"] == "Allow"
        condition = (statement.get("Condition") or {}).get("ForAllValues:StringLike") or {}
        prefixes = condition.get("dynamodb:LeadingKeys")
        for action in as_list(statement["Action"]):
            for resource in as_list(statement["Resource"]):
                if (objects := object_keys(template, resource)) is not None:
                    found.add((action, objects[0], frozenset({objects[1]})))
                    continue
                found.add((action, resource_id(resource), frozenset(prefixes) if prefixes else None))
    return found


def allows(granted: set[Grant], action: str, resource: str, partition_key: str | None) -> bool:
    """Whether a call is allowed, as IAM evaluates ForAllValues:StringLike on dynamodb:LeadingKeys
    (for an S3 object action, `partition_key` is the object's key, matched against the pattern)."""
    for granted_action, granted_resource, prefixes in granted:
        if (granted_action, granted_resource) != (action, resource):
            continue
        if prefixes is None:
            return True
        if partition_key is not None and any(fnmatchcase(partition_key, pattern) for pattern in prefixes):
            return True
    return False
