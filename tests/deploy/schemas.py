"""kubeconform schemas for every kind the chart and its examples use, generated offline.

kubeconform downloads its schemas from GitHub, which this machine and CI cannot reach. Their
sources can be reached: the Kubernetes OpenAPI document ships in the `k8s.io/kubernetes` Go
module, the operators' CRDs in their Go modules, and Strimzi's in a jar on Maven Central. The
converters on PyPI (openapi2jsonschema, unmaintained, and its forks) read the OpenAPI document
only, not CRDs, and leave out the kinds whose definitions are cyclic; no library we could depend
on does both offline. So the conversion is written here, with tests in
tests/unit/test_k8s_schemas.py. It reads each schema the way the API server does:

- strict: an object schema that lists `properties` gets `additionalProperties: false` unless it
  sets its own or preserves unknown fields, so a misspelt field fails;
- an optional field may be null: the API server treats null as absent, and Helm renders an
  empty map or list as null;
- int-or-string and resource quantities accept both of their JSON forms;
- `apiVersion` and `kind` are pinned to the one kind a file is for;
- a custom resource's `metadata` is checked against the native ObjectMeta, as the server does.

Each file keeps the definitions it reaches under `definitions`, with its `$ref`s unchanged:
kubeconform compiles schemas as draft 4, which resolves local references, so a cycle
(JSONSchemaProps refers to itself) needs no unrolling.

Strimzi is Java: its `io.strimzi:api` jar holds classes only, but the same release's test jar
holds the CRDs its build generates from those classes (`crds/v1beta2/`, descriptions left out).
0.51.0 is the last release that serves `kafka.strimzi.io/v1beta2`, which the examples use
(1.x serves v1 only); its CRDs serve both versions, and both are generated.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
import zipfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

Schema = dict[str, Any]


@dataclass(frozen=True)
class GoModule:
    """A Go module at a pinned version, fetched with `go mod download`."""

    path: str
    version: str


@dataclass(frozen=True)
class MavenFile:
    """One pinned file of a Maven Central artifact, checked against its SHA-256."""

    group: str
    artifact: str
    version: str
    classifier: str
    sha256: str

    @property
    def repository_path(self) -> str:
        """The file's path under a Maven repository's root."""
        name = f"{self.artifact}-{self.version}-{self.classifier}.jar"
        return f"{self.group.replace('.', '/')}/{self.artifact}/{self.version}/{name}"


GoModuleFetcher = Callable[[GoModule], Path]
MavenFileFetcher = Callable[[MavenFile], Path]


KUBERNETES = GoModule("k8s.io/kubernetes", "v1.37.2")
SWAGGER = "api/openapi-spec/swagger.json"
# Gateway API v1.7.0 needs Go 1.27; v1.6.3 is the newest that this Go downloads.
CRD_DIRECTORIES = (
    (GoModule("sigs.k8s.io/gateway-api", "v1.6.3"), "config/crd/standard"),
    (GoModule("github.com/kedacore/keda/v2", "v2.21.0"), "config/crd/bases"),
    (GoModule("github.com/cloudnative-pg/cloudnative-pg", "v1.30.1"), "config/crd/bases"),
    (GoModule("github.com/mongodb/mongodb-kubernetes-operator", "v0.13.0"), "config/crd/bases"),
)
STRIMZI = MavenFile(
    "io.strimzi",
    "api",
    "0.51.0",
    "tests",
    sha256="b99f69303dc507ca505b74345d93f5260621bb084b8b79447f726e54b6e66a1d",
)
STRIMZI_CRDS = "crds/v1beta2/"

# The template kubeconform fills in for each resource (pkg/registry/registry.go): `Group` is
# the part of apiVersion before the slash (the version itself for core kinds), so no two
# kinds share a file, which `KindSuffix` (first label of the group only) cannot promise.
SCHEMA_LOCATION = "{{ .Group }}/{{ .ResourceKind }}_{{ .ResourceAPIVersion }}.json"

DEFINITIONS = "#/definitions/"
OBJECT_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
QUANTITY = "io.k8s.apimachinery.pkg.api.resource.Quantity"
PRESERVE_UNKNOWN = "x-kubernetes-preserve-unknown-fields"
# Words that document a schema without constraining it; dropped to keep the files small.
ANNOTATIONS = frozenset({"description", "example", "default", "externalDocs", "nullable"})
JUNCTORS = ("allOf", "anyOf", "oneOf")


def schema_path(api_version: str, kind: str) -> PurePosixPath:
    """Where kubeconform looks for `kind` of `api_version`, filling in SCHEMA_LOCATION."""
    group, _, version = api_version.rpartition("/")
    return PurePosixPath(group or version, f"{kind.lower()}_{version}.json")


def convert(schema: Schema, *, structural: bool = True) -> Schema:
    """Translate one OpenAPI schema (and what it contains) into a strict draft-4 schema.

    Branches of allOf/anyOf/oneOf/not are not structural: in a CRD they only add checks to
    properties that the enclosing schema declares, so closing or widening them would change
    what the branch matches.
    """
    result = {
        key: value
        for key, value in schema.items()
        if key not in ANNOTATIONS and not key.startswith("x-")
    }
    if schema.get("format") == "int-or-string" or (
        schema.get("x-kubernetes-int-or-string") and "anyOf" not in schema
    ):
        result.pop("format", None)
        result["type"] = ["integer", "string"]
    if "properties" in schema:
        result["properties"] = _convert_properties(schema, structural=structural)
        if structural and "additionalProperties" not in schema and not schema.get(PRESERVE_UNKNOWN):
            result["additionalProperties"] = False
    for key in ("items", "additionalProperties"):
        if isinstance(schema.get(key), dict):
            result[key] = convert(schema[key], structural=structural)
    for junctor in JUNCTORS:
        if junctor in schema:
            result[junctor] = [convert(branch, structural=False) for branch in schema[junctor]]
    if "not" in schema:
        result["not"] = convert(schema["not"], structural=False)
    return allow_null(result) if schema.get("nullable") else result


def _convert_properties(schema: Schema, *, structural: bool) -> dict[str, Schema]:
    required = set(schema.get("required", ()))
    properties: dict[str, Schema] = {}
    for name, property_schema in schema["properties"].items():
        converted = convert(property_schema, structural=structural)
        optional = structural and name not in required
        properties[name] = allow_null(converted) if optional else converted
    return properties


def allow_null(schema: Schema) -> Schema:
    """`schema`, also accepting null."""
    if not schema:
        return schema
    if "type" in schema and "$ref" not in schema:
        types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        widened = {**schema, "type": [*dict.fromkeys([*types, "null"])]}
        if "enum" in schema:
            widened["enum"] = [*schema["enum"], None]
        return widened
    return {"anyOf": [schema, {"type": "null"}]}


def references(schema: object) -> Iterator[str]:
    """The names of the definitions that `schema` refers to directly."""
    if isinstance(schema, dict):
        for key, value in schema.items():
            if key == "$ref" and isinstance(value, str):
                yield value.removeprefix(DEFINITIONS)
            else:
                yield from references(value)
    elif isinstance(schema, list):
        for item in schema:
            yield from references(item)


def reachable(definitions: Mapping[str, Schema], schema: Schema) -> dict[str, Schema]:
    """The definitions that `schema` reaches, following references once each (cycles end)."""
    found: dict[str, Schema] = {}
    pending = list(references(schema))
    while pending:
        name = pending.pop()
        if name in found:
            continue
        if name not in definitions:
            raise KeyError(f"a schema refers to {name!r}, which is not defined")
        found[name] = definitions[name]
        pending.extend(references(found[name]))
    return dict(sorted(found.items()))


def with_identity(schema: Schema, api_version: str, kind: str) -> Schema:
    """`schema` as the root of one kind: apiVersion and kind required and pinned."""
    properties = {
        **schema.get("properties", {}),
        "apiVersion": {"type": "string", "enum": [api_version]},
        "kind": {"type": "string", "enum": [kind]},
    }
    required = [*dict.fromkeys([*schema.get("required", ()), "apiVersion", "kind"])]
    return {**schema, "properties": properties, "required": required}


def native_definitions(swagger: Schema) -> dict[str, Schema]:
    """Every definition of the Kubernetes OpenAPI document, converted."""
    definitions: dict[str, Schema] = swagger["definitions"]
    converted = {name: convert(schema) for name, schema in definitions.items()}
    # Quantity is declared a string, but the API server also takes a number (`cpu: 1`).
    converted[QUANTITY] = {"type": ["string", "number"]}
    return converted


def native_schemas(swagger: Schema) -> dict[PurePosixPath, Schema]:
    """A standalone schema for each kind the Kubernetes OpenAPI document defines."""
    definitions = native_definitions(swagger)
    schemas: dict[PurePosixPath, Schema] = {}
    for name, schema in swagger["definitions"].items():
        for gvk in schema.get("x-kubernetes-group-version-kind", ()):
            api_version = "/".join(filter(None, (gvk["group"], gvk["version"])))
            root = with_identity(definitions[name], api_version, gvk["kind"])
            _add(schemas, schema_path(api_version, gvk["kind"]), _standalone(definitions, root))
    return schemas


def crd_schemas(crd: Schema, definitions: Mapping[str, Schema]) -> dict[PurePosixPath, Schema]:
    """A standalone schema for each served version of a CRD, its metadata checked against
    ObjectMeta from `definitions` (the native ones)."""
    if crd.get("apiVersion") != "apiextensions.k8s.io/v1":
        raise ValueError(f"{crd.get('metadata', {}).get('name')}: not an apiextensions/v1 CRD")
    group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
    schemas: dict[PurePosixPath, Schema] = {}
    for version in crd["spec"]["versions"]:
        if not version.get("served"):
            continue
        api_version = f"{group}/{version['name']}"
        source = version["schema"]["openAPIV3Schema"]
        properties = {
            **source.get("properties", {}),
            "metadata": {"$ref": DEFINITIONS + OBJECT_META},
        }
        root = with_identity(convert({**source, "properties": properties}), api_version, kind)
        _add(schemas, schema_path(api_version, kind), _standalone(definitions, root))
    return schemas


def _standalone(definitions: Mapping[str, Schema], root: Schema) -> Schema:
    return {**root, "definitions": reachable(definitions, root)}


def _add(schemas: dict[PurePosixPath, Schema], path: PurePosixPath, schema: Schema) -> None:
    if path in schemas:
        raise ValueError(f"two sources define the schema {path}")
    schemas[path] = schema


def schema_key() -> str:
    """A name that changes whenever a pinned source or the generator changes: both are
    this file, so its hash is the key, and no version number needs remembering to bump."""
    digest = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()
    return f"k8s-{KUBERNETES.version}-{digest[:12]}"


def ensure_schemas(root: Path, go_module: GoModuleFetcher, maven_file: MavenFileFetcher) -> Path:
    """The schema directory under `root` for the current pins, generated once."""
    return built_once(
        root / schema_key(),
        lambda staging: write_schemas(staging, _all_schemas(go_module, maven_file)),
    )


def built_once(target: Path, build: Callable[[Path], object]) -> Path:
    """`target`, a directory `build` fills, built once: into a temporary sibling renamed
    into place, so a directory that exists is complete (an interrupted build never counts);
    when two processes race, the first rename wins and both use it."""
    if target.is_dir():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        build(staging)
        staging.chmod(0o755)  # mkdtemp's 0700 would hide the result from other users
        try:
            staging.rename(target)
        except OSError:
            if not target.is_dir():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def write_schemas(directory: Path, schemas: Mapping[PurePosixPath, Schema]) -> None:
    """Write each schema as JSON at its path under `directory`."""
    for path, schema in schemas.items():
        file = directory / path
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_text(json.dumps(schema, separators=(",", ":"), sort_keys=True))


def _all_schemas(
    go_module: GoModuleFetcher, maven_file: MavenFileFetcher
) -> dict[PurePosixPath, Schema]:
    swagger = json.loads((go_module(KUBERNETES) / SWAGGER).read_text())
    schemas = native_schemas(swagger)
    definitions = native_definitions(swagger)
    for crd in _crds(go_module, maven_file):
        for path, schema in crd_schemas(crd, definitions).items():
            _add(schemas, path, schema)
    return schemas


def _crds(go_module: GoModuleFetcher, maven_file: MavenFileFetcher) -> Iterator[Schema]:
    for module, directory in CRD_DIRECTORIES:
        for file in sorted((go_module(module) / directory).glob("*.yaml")):
            yield from _custom_resource_definitions(file.read_text())
    with zipfile.ZipFile(maven_file(STRIMZI)) as jar:
        for name in sorted(jar.namelist()):
            if name.startswith(STRIMZI_CRDS) and name.endswith(".yaml"):
                yield from _custom_resource_definitions(jar.read(name).decode())


def _custom_resource_definitions(text: str) -> Iterable[Schema]:
    # The Gateway API's CRD files also hold the ValidatingAdmissionPolicies that go with them.
    return [
        document
        for document in yaml.safe_load_all(text)
        if isinstance(document, dict) and document.get("kind") == "CustomResourceDefinition"
    ]
