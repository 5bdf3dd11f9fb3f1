"""Loading template.yaml: CloudFormation short-form tags and SAM Globals.

PyYAML does not know `!Ref`, `!Sub`, `!GetAtt`...; the loader here turns each short form into
the long form CloudFormation itself uses (`{"Ref": ...}`, `{"Fn::Sub": ...}`), so the rest of
the local stack only ever sees plain JSON-like data.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import yaml

# Short-form tag -> long-form key. `!GetAtt A.B` (scalar) becomes ["A", "B"] below.
_TAGS = {
    "Ref": "Ref",
    "Condition": "Condition",
    "Sub": "Fn::Sub",
    "GetAtt": "Fn::GetAtt",
    "If": "Fn::If",
    "Equals": "Fn::Equals",
    "Join": "Fn::Join",
    "Select": "Fn::Select",
    "Split": "Fn::Split",
    "Not": "Fn::Not",
    "And": "Fn::And",
    "Or": "Fn::Or",
    "FindInMap": "Fn::FindInMap",
    "Base64": "Fn::Base64",
    "GetAZs": "Fn::GetAZs",
    "ImportValue": "Fn::ImportValue",
    "Cidr": "Fn::Cidr",
    "Length": "Fn::Length",
    "ToJsonString": "Fn::ToJsonString",
    "Transform": "Fn::Transform",
}


class TemplateLoader(yaml.SafeLoader):
    """A safe loader that also accepts CloudFormation's short-form intrinsic tags."""


def _construct_tag(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node) -> dict[str, Any]:
    key = _TAGS.get(tag_suffix)
    if key is None:
        raise yaml.constructor.ConstructorError(None, None, f"unknown tag !{tag_suffix}", node.start_mark)
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if key == "Fn::GetAtt":
            logical_id, _, attribute = str(value).partition(".")
            value = [logical_id, attribute]
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(cast(yaml.MappingNode, node), deep=True)
    return {key: value}


TemplateLoader.add_multi_constructor("!", _construct_tag)


def load_yaml(text: str) -> dict[str, Any]:
    document = yaml.load(text, Loader=TemplateLoader)  # noqa: S506 - a SafeLoader subclass
    if not isinstance(document, dict):
        raise ValueError("a template must be a YAML mapping")
    return document


def merge_globals(global_props: Mapping[str, Any], own_props: Mapping[str, Any]) -> dict[str, Any]:
    """SAM's Globals rules: maps merge (recursively), lists concatenate, scalars are overridden."""
    merged: dict[str, Any] = copy.deepcopy(dict(global_props))
    for key, value in own_props.items():
        current = merged.get(key)
        if isinstance(current, dict) and isinstance(value, dict) and not _is_intrinsic(value):
            merged[key] = merge_globals(current, value)
        elif isinstance(current, list) and isinstance(value, list):
            merged[key] = current + copy.deepcopy(value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _is_intrinsic(value: Mapping[str, Any]) -> bool:
    return len(value) == 1 and next(iter(value)) in {"Ref", "Condition"} | set(_TAGS.values())


# SAM resource type -> the Globals section that applies to it.
_GLOBALS_SECTION = {
    "AWS::Serverless::Function": "Function",
    "AWS::Serverless::HttpApi": "HttpApi",
    "AWS::Serverless::Api": "Api",
    "AWS::Serverless::SimpleTable": "SimpleTable",
    "AWS::Serverless::StateMachine": "StateMachine",
    "AWS::Serverless::LayerVersion": "LayerVersion",
}


@dataclass(frozen=True)
class Resource:
    logical_id: str
    type: str
    properties: dict[str, Any]
    condition: str | None = None


@dataclass
class Template:
    """template.yaml as data: parameters, conditions, mappings and resources (Globals applied)."""

    path: Path
    document: dict[str, Any]
    parameters: dict[str, dict[str, Any]] = field(default_factory=dict)
    conditions: dict[str, Any] = field(default_factory=dict)
    mappings: dict[str, Any] = field(default_factory=dict)
    globals: dict[str, dict[str, Any]] = field(default_factory=dict)
    resources: dict[str, Resource] = field(default_factory=dict)

    @property
    def root(self) -> Path:
        """Directory that relative CodeUri/ContentUri paths are relative to."""
        return self.path.parent

    def of_type(self, *types: str) -> list[Resource]:
        return [resource for resource in self.resources.values() if resource.type in types]

    def global_section(self, name: str) -> dict[str, Any]:
        return self.globals.get(name, {})


def parse_template(document: dict[str, Any], path: Path) -> Template:
    template = Template(
        path=path,
        document=document,
        parameters=dict(document.get("Parameters") or {}),
        conditions=dict(document.get("Conditions") or {}),
        mappings=dict(document.get("Mappings") or {}),
        globals={key: dict(value or {}) for key, value in (document.get("Globals") or {}).items()},
    )
    for logical_id, body in (document.get("Resources") or {}).items():
        if not isinstance(body, dict) or "Type" not in body:
            raise ValueError(f"resource {logical_id} has no Type")
        resource_type = str(body["Type"])
        properties = dict(body.get("Properties") or {})
        section = _GLOBALS_SECTION.get(resource_type)
        if section and section in template.globals:
            properties = merge_globals(template.globals[section], properties)
        template.resources[str(logical_id)] = Resource(
            logical_id=str(logical_id),
            type=resource_type,
            properties=properties,
            condition=body.get("Condition"),
        )
    return template


def load_template(path: Path) -> Template:
    path = path.resolve()
    return parse_template(load_yaml(path.read_text(encoding="utf-8")), path)
