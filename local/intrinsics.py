"""Resolving CloudFormation intrinsic functions against the local stack.

`Resolver.resolve(value)` walks any template value and replaces Ref, Fn::GetAtt, Fn::Sub,
Fn::If, Fn::Join, Fn::Select, Fn::Split, Fn::Equals, Fn::Not, Fn::And, Fn::Or,
Fn::FindInMap, Fn::Base64 and Condition with what CloudFormation would produce. References to
resources are answered by a lookup the resource creator provides (local physical ids and ARNs).
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from local.template import Template

ACCOUNT_ID = "123456789012"  # moto's default account
STACK_NAME = "tally-local"


class UnresolvedError(LookupError):
    """A reference to a resource that does not exist (yet) in the local stack."""

    def __init__(self, logical_id: str, attribute: str | None = None) -> None:
        self.logical_id = logical_id
        self.attribute = attribute
        where = f"{logical_id}.{attribute}" if attribute else logical_id
        super().__init__(f"cannot resolve {where}")


class TemplateError(ValueError):
    """The template uses an intrinsic wrongly (or one the local stack does not support)."""


class _NoValue:
    """AWS::NoValue: the property (or list item) disappears."""

    def __repr__(self) -> str:
        return "AWS::NoValue"


NO_VALUE: Any = _NoValue()

# (logical_id, attribute or None for Ref) -> value; raises UnresolvedError when unknown.
ResourceLookup = Callable[[str, str | None], Any]

_SUB_VARIABLE = re.compile(r"\$\{([^}]*)\}")


@dataclass
class Pseudo:
    region: str
    account_id: str = ACCOUNT_ID
    stack_name: str = STACK_NAME
    stack_id: str = ""
    partition: str = "aws"
    url_suffix: str = "amazonaws.com"

    def __post_init__(self) -> None:
        if not self.stack_id:
            self.stack_id = (
                f"arn:{self.partition}:cloudformation:{self.region}:{self.account_id}:"
                f"stack/{self.stack_name}/00000000-0000-4000-8000-000000000000"
            )

    def values(self) -> dict[str, Any]:
        return {
            "AWS::Region": self.region,
            "AWS::AccountId": self.account_id,
            "AWS::StackName": self.stack_name,
            "AWS::StackId": self.stack_id,
            "AWS::Partition": self.partition,
            "AWS::URLSuffix": self.url_suffix,
            "AWS::NotificationARNs": [],
            "AWS::NoValue": NO_VALUE,
        }


def parameter_values(template: Template, overrides: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Each parameter's value: the override if given, else its Default. CommaDelimitedList splits."""
    overrides = dict(overrides or {})
    unknown = set(overrides) - set(template.parameters)
    if unknown:
        raise TemplateError(f"unknown parameter(s): {', '.join(sorted(unknown))}")
    values: dict[str, Any] = {}
    for name, spec in template.parameters.items():
        if name in overrides:
            value: Any = overrides[name]
        elif "Default" in spec:
            value = spec["Default"]
        else:
            raise TemplateError(f"parameter {name} has no Default; pass a value for it")
        kind = str(spec.get("Type", "String"))
        if kind == "CommaDelimitedList" or kind.startswith("List<"):
            value = value if isinstance(value, list) else [part.strip() for part in str(value).split(",")]
        elif isinstance(value, bool):
            value = "true" if value else "false"
        else:
            value = str(value)  # CloudFormation hands every scalar parameter to Ref as a string
        allowed = spec.get("AllowedValues")
        if allowed is not None and not isinstance(value, list) and value not in [str(v) for v in allowed]:
            raise TemplateError(f"parameter {name}={value!r} is not one of {allowed}")
        values[name] = value
    return values


class Resolver:
    def __init__(
        self,
        template: Template,
        pseudo: Pseudo,
        parameters: Mapping[str, Any],
        lookup: ResourceLookup,
    ) -> None:
        self.template = template
        self.pseudo = pseudo
        self.parameters = dict(parameters)
        self.lookup = lookup
        self._conditions: dict[str, bool] = {}

    # -- conditions -------------------------------------------------------------------------

    def condition(self, name: str) -> bool:
        if name not in self._conditions:
            if name not in self.template.conditions:
                raise TemplateError(f"unknown condition {name}")
            self._conditions[name] = self._truth(self.resolve(self.template.conditions[name]))
        return self._conditions[name]

    @staticmethod
    def _truth(value: Any) -> bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in {"true", "false"}:
            return value.lower() == "true"
        raise TemplateError(f"a condition must be a boolean, not {value!r}")

    def is_enabled(self, condition: str | None) -> bool:
        return condition is None or self.condition(condition)

    # -- references ---------------------------------------------------------------------------

    def ref(self, name: str) -> Any:
        pseudo = self.pseudo.values()
        if name in pseudo:
            return pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        return self.lookup(name, None)

    def get_att(self, logical_id: str, attribute: str) -> Any:
        return self.lookup(logical_id, attribute)

    # -- the walk -----------------------------------------------------------------------------

    def resolve_property(self, value: Any) -> Any:
        """A property's value; None when absent or AWS::NoValue (CloudFormation drops the property)."""
        resolved = self.resolve(value)
        return None if resolved is NO_VALUE else resolved

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            items = [self.resolve(item) for item in value]
            return [item for item in items if item is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            (key, argument), *_ = value.items()
            handler = self._FUNCTIONS.get(key)
            # A one-key mapping {"Condition": "Name"} is the intrinsic; {"Condition": {...}} is data.
            if handler is not None and (key != "Condition" or isinstance(argument, str)):
                return handler(self, argument)
        resolved = {key: self.resolve(item) for key, item in value.items()}
        return {key: item for key, item in resolved.items() if item is not NO_VALUE}

    def _ref(self, argument: Any) -> Any:
        return self.ref(str(self.resolve(argument)))

    def _get_att(self, argument: Any) -> Any:
        argument = self.resolve(argument)
        if isinstance(argument, str):
            logical_id, _, attribute = argument.partition(".")
        elif isinstance(argument, list) and len(argument) == 2:
            logical_id, attribute = str(argument[0]), str(argument[1])
        else:
            raise TemplateError(f"Fn::GetAtt needs [LogicalId, Attribute], got {argument!r}")
        return self.get_att(logical_id, attribute)

    def _sub(self, argument: Any) -> str:
        if isinstance(argument, list):
            if len(argument) != 2 or not isinstance(argument[1], dict):
                raise TemplateError("Fn::Sub takes a string or [string, {variables}]")
            text, variables = str(argument[0]), {k: self.resolve(v) for k, v in argument[1].items()}
        else:
            text, variables = str(argument), {}

        def substitute(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"  # ${!Literal} is an escape
            if name in variables:
                return _as_text(variables[name])
            if "." in name and not name.startswith("AWS::"):
                logical_id, _, attribute = name.partition(".")
                return _as_text(self.get_att(logical_id, attribute))
            return _as_text(self.ref(name))

        return _SUB_VARIABLE.sub(substitute, text)

    def _if(self, argument: Any) -> Any:
        if not isinstance(argument, list) or len(argument) != 3:
            raise TemplateError("Fn::If takes [condition, value_if_true, value_if_false]")
        chosen = argument[1] if self.condition(str(argument[0])) else argument[2]
        return self.resolve(chosen)

    def _equals(self, argument: Any) -> bool:
        values = self.resolve(argument)
        if not isinstance(values, list) or len(values) != 2:
            raise TemplateError("Fn::Equals takes two values")
        return _as_text(values[0]) == _as_text(values[1])

    def _not(self, argument: Any) -> bool:
        values = self.resolve(argument)
        if not isinstance(values, list) or len(values) != 1:
            raise TemplateError("Fn::Not takes a list of one condition")
        return not self._truth(values[0])

    def _and(self, argument: Any) -> bool:
        return all(self._truth(item) for item in self.resolve(argument))

    def _or(self, argument: Any) -> bool:
        return any(self._truth(item) for item in self.resolve(argument))

    def _condition(self, argument: Any) -> bool:
        return self.condition(str(argument))

    def _join(self, argument: Any) -> str:
        if not isinstance(argument, list) or len(argument) != 2:
            raise TemplateError("Fn::Join takes [delimiter, [values]]")
        delimiter, items = str(argument[0]), self.resolve(argument[1])
        if not isinstance(items, list):
            raise TemplateError("Fn::Join needs a list of values")
        return delimiter.join(_as_text(item) for item in items)

    def _select(self, argument: Any) -> Any:
        if not isinstance(argument, list) or len(argument) != 2:
            raise TemplateError("Fn::Select takes [index, [values]]")
        index, items = int(self.resolve(argument[0])), self.resolve(argument[1])
        if not isinstance(items, list) or not 0 <= index < len(items):
            raise TemplateError(f"Fn::Select index {index} out of range")
        return items[index]

    def _split(self, argument: Any) -> list[str]:
        if not isinstance(argument, list) or len(argument) != 2:
            raise TemplateError("Fn::Split takes [delimiter, string]")
        return _as_text(self.resolve(argument[1])).split(str(argument[0]))

    def _find_in_map(self, argument: Any) -> Any:
        values = self.resolve(argument)
        if not isinstance(values, list) or len(values) not in (3, 4):
            raise TemplateError("Fn::FindInMap takes [map, top key, second key]")
        try:
            return self.template.mappings[values[0]][values[1]][values[2]]
        except KeyError:
            if len(values) == 4 and isinstance(values[3], dict) and "DefaultValue" in values[3]:
                return values[3]["DefaultValue"]
            raise TemplateError(f"Fn::FindInMap {values[:3]} not found") from None

    def _base64(self, argument: Any) -> str:
        return base64.b64encode(_as_text(self.resolve(argument)).encode()).decode()

    def _get_azs(self, argument: Any) -> list[str]:
        region = _as_text(self.resolve(argument)) or self.pseudo.region
        return [f"{region}a", f"{region}b", f"{region}c"]

    def _to_json_string(self, argument: Any) -> str:
        return json.dumps(self.resolve(argument), separators=(",", ":"))

    def _length(self, argument: Any) -> int:
        values = self.resolve(argument)
        if not isinstance(values, list):
            raise TemplateError("Fn::Length takes a list")
        return len(values)

    def _unsupported(self, argument: Any) -> Any:
        raise TemplateError(f"intrinsic not supported by the local stack: {argument!r}")

    _FUNCTIONS: ClassVar[dict[str, Callable[[Resolver, Any], Any]]] = {
        "Ref": _ref,
        "Fn::GetAtt": _get_att,
        "Fn::Sub": _sub,
        "Fn::If": _if,
        "Fn::Equals": _equals,
        "Fn::Not": _not,
        "Fn::And": _and,
        "Fn::Or": _or,
        "Condition": _condition,
        "Fn::Join": _join,
        "Fn::Select": _select,
        "Fn::Split": _split,
        "Fn::FindInMap": _find_in_map,
        "Fn::Base64": _base64,
        "Fn::GetAZs": _get_azs,
        "Fn::ToJsonString": _to_json_string,
        "Fn::Length": _length,
        "Fn::ImportValue": _unsupported,
        "Fn::Cidr": _unsupported,
        "Fn::Transform": _unsupported,
    }


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is NO_VALUE:
        return ""
    if isinstance(value, list | dict):
        raise TemplateError(f"expected a string, got {value!r}")
    return str(value)
