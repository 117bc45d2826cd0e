"""OpenAPI documents that describe parameters as they travel: text, never JSON `null`."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

NULL = {"type": "null"}


def omit_null_from_parameters(app: FastAPI) -> None:
    """Document an optional parameter as one that is left out, not one that may be null.

    FastAPI documents `int | None = None` as `anyOf: [integer, null]`. A header or query
    parameter is text: there is no null to send, so a generated client (or schemathesis)
    sends the word `null`, which the route refuses as not an integer. The code's meaning
    of `None` is "not given", which `required: false` already says.
    """
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            for path_item in generate().get("paths", {}).values():
                for operation in path_item.values():
                    for parameter in operation.get("parameters", []):
                        parameter["schema"] = without_null(parameter.get("schema", {}))
        return generate()

    app.openapi = openapi  # type: ignore[method-assign]


def without_null(schema: dict[str, Any]) -> dict[str, Any]:
    """`schema` without its null alternative (unchanged when it has none)."""
    options = schema.get("anyOf")
    if not isinstance(options, list) or NULL not in options:
        return schema
    rest = [option for option in options if option != NULL]
    outer = {key: value for key, value in schema.items() if key != "anyOf"}
    if len(rest) == 1:
        return {**rest[0], **outer}
    return {**outer, "anyOf": rest}
