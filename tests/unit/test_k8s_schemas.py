"""The conversion of Kubernetes OpenAPI definitions and CRDs into kubeconform schemas."""

from __future__ import annotations

import re
from pathlib import PurePosixPath
from typing import Any

import pytest

from tests.deploy.schemas import (
    OBJECT_META,
    QUANTITY,
    SCHEMA_LOCATION,
    convert,
    crd_schemas,
    native_definitions,
    native_schemas,
    reachable,
    schema_path,
)

Schema = dict[str, Any]


def swagger(definitions: Schema) -> Schema:
    return {"swagger": "2.0", "definitions": definitions}


def kind(properties: Schema, *gvks: tuple[str, str, str]) -> Schema:
    return {
        "type": "object",
        "properties": properties,
        "x-kubernetes-group-version-kind": [
            {"group": group, "version": version, "kind": kind_name}
            for group, version, kind_name in gvks
        ],
    }


def crd(versions: list[Schema]) -> Schema:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {"group": "example.com", "names": {"kind": "Widget"}, "versions": versions},
    }


def crd_version(name: str, *, served: bool = True) -> Schema:
    schema = {
        "type": "object",
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object"},
            "spec": {"type": "object", "properties": {"size": {"type": "integer"}}},
        },
    }
    return {"name": name, "served": served, "schema": {"openAPIV3Schema": schema}}


META_DEFINITIONS = {OBJECT_META: {"type": "object", "properties": {"name": {"type": "string"}}}}


def test_an_object_that_lists_its_properties_rejects_any_other() -> None:
    converted = convert({"type": "object", "properties": {"name": {"type": "string"}}})

    assert converted["additionalProperties"] is False


def test_an_object_nested_in_a_list_is_strict_too() -> None:
    converted = convert(
        {"type": "array", "items": {"type": "object", "properties": {"port": {"type": "integer"}}}}
    )

    assert converted["items"]["additionalProperties"] is False


def test_a_map_keeps_the_schema_of_its_values() -> None:
    converted = convert({"type": "object", "additionalProperties": {"type": "string"}})

    assert converted["additionalProperties"] == {"type": "string"}


def test_an_object_that_preserves_unknown_fields_stays_open() -> None:
    converted = convert(
        {
            "type": "object",
            "properties": {"name": {"type": "string"}},
            "x-kubernetes-preserve-unknown-fields": True,
        }
    )

    assert "additionalProperties" not in converted


def test_a_branch_of_one_of_stays_open_because_it_only_constrains_declared_fields() -> None:
    converted = convert(
        {
            "type": "object",
            "properties": {"value": {"type": "string"}, "valueFrom": {"type": "object"}},
            "oneOf": [
                {"properties": {"value": {}}, "required": ["value"]},
                {"properties": {"valueFrom": {}}, "required": ["valueFrom"]},
            ],
        }
    )

    assert all("additionalProperties" not in branch for branch in converted["oneOf"])


def test_int_or_string_accepts_an_integer_or_a_string() -> None:
    converted = convert({"type": "string", "format": "int-or-string"})

    assert converted == {"type": ["integer", "string"]}


def test_a_crd_int_or_string_without_its_own_any_of_accepts_both() -> None:
    converted = convert({"x-kubernetes-int-or-string": True})

    assert converted == {"type": ["integer", "string"]}


def test_a_quantity_accepts_a_string_or_a_number() -> None:
    definitions = native_definitions(swagger({QUANTITY: {"type": "string"}}))

    assert definitions[QUANTITY] == {"type": ["string", "number"]}


def test_an_optional_field_accepts_null_and_a_required_one_does_not() -> None:
    converted = convert(
        {
            "type": "object",
            "required": ["name"],
            "properties": {"name": {"type": "string"}, "labels": {"type": "object"}},
        }
    )

    assert converted["properties"]["name"] == {"type": "string"}
    assert converted["properties"]["labels"] == {"type": ["object", "null"]}


def test_an_optional_enum_accepts_null() -> None:
    converted = convert(
        {"type": "object", "properties": {"policy": {"type": "string", "enum": ["A"]}}}
    )

    assert converted["properties"]["policy"] == {"type": ["string", "null"], "enum": ["A", None]}


def test_an_optional_reference_accepts_null() -> None:
    converted = convert({"type": "object", "properties": {"spec": {"$ref": "#/definitions/Spec"}}})

    assert converted["properties"]["spec"] == {
        "anyOf": [{"$ref": "#/definitions/Spec"}, {"type": "null"}]
    }


def test_a_nullable_required_field_accepts_null() -> None:
    converted = convert(
        {
            "type": "object",
            "required": ["until"],
            "properties": {"until": {"type": "string", "nullable": True}},
        }
    )

    assert converted["properties"]["until"] == {"type": ["string", "null"]}


def test_descriptions_and_extensions_are_left_out() -> None:
    converted = convert({"type": "string", "description": "d", "x-kubernetes-list-type": "atomic"})

    assert converted == {"type": "string"}


def test_a_kind_carries_every_definition_it_reaches_and_no_other() -> None:
    definitions = {
        "Widget": kind({"spec": {"$ref": "#/definitions/Spec"}}, ("", "v1", "Widget")),
        "Spec": {"type": "object", "properties": {"ports": {"$ref": "#/definitions/Ports"}}},
        "Ports": {"type": "array", "items": {"type": "integer"}},
        "Unused": {"type": "string"},
    }

    schema = native_schemas(swagger(definitions))[PurePosixPath("v1/widget_v1.json")]

    assert set(schema["definitions"]) == {"Spec", "Ports"}


def test_a_cycle_of_references_ends() -> None:
    definitions = {
        "Props": {"type": "object", "properties": {"items": {"$ref": "#/definitions/OrArray"}}},
        "OrArray": {"type": "object", "properties": {"schema": {"$ref": "#/definitions/Props"}}},
    }

    found = reachable(definitions, {"$ref": "#/definitions/Props"})

    assert set(found) == {"Props", "OrArray"}


def test_a_reference_to_a_missing_definition_is_refused() -> None:
    with pytest.raises(KeyError, match="Missing"):
        reachable({}, {"$ref": "#/definitions/Missing"})


def test_a_kind_is_pinned_to_its_api_version_and_kind() -> None:
    definitions = {"Deployment": kind({}, ("apps", "v1", "Deployment"))}

    schema = native_schemas(swagger(definitions))[PurePosixPath("apps/deployment_v1.json")]

    assert schema["properties"]["apiVersion"]["enum"] == ["apps/v1"]
    assert schema["properties"]["kind"]["enum"] == ["Deployment"]


def test_a_definition_shared_by_several_groups_gets_a_file_in_each() -> None:
    definitions = {
        "DeleteOptions": kind({}, ("", "v1", "DeleteOptions"), ("apps", "v1", "DeleteOptions"))
    }

    paths = set(native_schemas(swagger(definitions)))

    assert paths == {
        PurePosixPath("v1/deleteoptions_v1.json"),
        PurePosixPath("apps/deleteoptions_v1.json"),
    }


def test_two_definitions_of_one_kind_are_refused() -> None:
    definitions = {
        "One": kind({}, ("", "v1", "Widget")),
        "Other": kind({}, ("", "v1", "Widget")),
    }

    with pytest.raises(ValueError, match="widget_v1"):
        native_schemas(swagger(definitions))


def test_each_served_version_of_a_crd_gets_a_file() -> None:
    versions = [crd_version("v1"), crd_version("v1beta1"), crd_version("v1alpha1", served=False)]

    paths = set(crd_schemas(crd(versions), META_DEFINITIONS))

    assert paths == {
        PurePosixPath("example.com/widget_v1.json"),
        PurePosixPath("example.com/widget_v1beta1.json"),
    }


def test_a_custom_resource_is_strict_below_its_root() -> None:
    schemas = crd_schemas(crd([crd_version("v1")]), META_DEFINITIONS)

    spec = schemas[PurePosixPath("example.com/widget_v1.json")]["properties"]["spec"]
    assert spec["type"] == ["object", "null"]
    assert spec["additionalProperties"] is False


def test_a_custom_resource_metadata_is_checked_as_object_meta() -> None:
    schema = crd_schemas(crd([crd_version("v1")]), META_DEFINITIONS)[
        PurePosixPath("example.com/widget_v1.json")
    ]

    assert schema["properties"]["metadata"]["anyOf"][0] == {"$ref": f"#/definitions/{OBJECT_META}"}
    assert schema["definitions"] == META_DEFINITIONS


def test_a_crd_of_an_older_api_is_refused() -> None:
    old = {**crd([]), "apiVersion": "apiextensions.k8s.io/v1beta1"}

    with pytest.raises(ValueError, match=r"widgets\.example\.com"):
        crd_schemas(old, META_DEFINITIONS)


def kubeconform_location(api_version: str, kind_name: str) -> str:
    """SCHEMA_LOCATION filled in the way kubeconform v0.8.0's registry.schemaPath does."""
    group_parts = api_version.split("/")
    variables = {
        "ResourceKind": kind_name.lower(),
        "ResourceAPIVersion": group_parts[-1],
        "Group": group_parts[0],
    }
    return re.sub(r"\{\{ \.(\w+) \}\}", lambda match: variables[match[1]], SCHEMA_LOCATION)


@pytest.mark.parametrize(
    ("api_version", "kind_name"),
    [
        ("v1", "Service"),
        ("apps/v1", "Deployment"),
        ("autoscaling/v2", "HorizontalPodAutoscaler"),
        ("gateway.networking.k8s.io/v1", "HTTPRoute"),
        ("kafka.strimzi.io/v1beta2", "KafkaNodePool"),
    ],
)
def test_a_file_is_where_kubeconform_looks_for_its_kind(api_version: str, kind_name: str) -> None:
    assert str(schema_path(api_version, kind_name)) == kubeconform_location(api_version, kind_name)
