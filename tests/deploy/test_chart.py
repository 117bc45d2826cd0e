"""The Helm chart, rendered by helm for each value set, checked for what operators rely on.

Schema validity (`kubeconform -strict`) is one test; the rest read the rendered objects:
every pod non-root on a read-only root filesystem with probes and resources, secrets
only by reference, settings the processes know, the route agreeing with the APIs' own
routes, and the limits the chart must refuse.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from infra.settings import Settings, settings_environment
from tests.deploy import tools
from tests.unit.test_gateway_routes import declared

ROOT = Path(__file__).resolve().parents[2]
VALUE_SETS = tools.value_sets()
OPERATORS = tools.EXAMPLES / "values-operators.yaml"
SMALL = tools.EXAMPLES / "values-small.yaml"

Manifest = dict[str, Any]


@cache
def rendered(values: Path) -> tuple[Manifest, ...]:
    text = tools.render([values])
    return tuple(document for document in yaml.safe_load_all(text) if document)


def objects(kind: str, values: Path) -> list[Manifest]:
    return [manifest for manifest in rendered(values) if manifest["kind"] == kind]


def pod_specs(values: Path) -> Iterator[tuple[str, Manifest]]:
    """Every pod template the release creates: its Deployments' and the migration Job's."""
    for manifest in rendered(values):
        if manifest["kind"] in ("Deployment", "Job"):
            yield manifest["metadata"]["name"], manifest["spec"]["template"]["spec"]


@pytest.mark.parametrize("values", VALUE_SETS, ids=lambda path: path.stem)
def test_each_value_set_lints_and_renders_objects_valid_against_the_kubernetes_schemas(
    values: Path,
) -> None:
    tools.lint([values])
    summary = tools.validate(tools.render([values]))
    assert summary["valid"] == len(rendered(values)) > 0


@pytest.mark.parametrize("manifest", tools.example_manifests(), ids=lambda path: path.stem)
def test_the_example_operator_manifests_are_valid_against_their_operators_schemas(
    manifest: Path,
) -> None:
    text = manifest.read_text()
    summary = tools.validate(text)
    assert summary["valid"] == sum(1 for document in yaml.safe_load_all(text) if document)


@pytest.mark.parametrize("values", VALUE_SETS, ids=lambda path: path.stem)
def test_every_pod_runs_as_a_non_root_user_on_a_read_only_root_filesystem(values: Path) -> None:
    for name, spec in pod_specs(values):
        assert spec["securityContext"]["runAsNonRoot"] is True, name
        assert spec["securityContext"]["runAsUser"] != 0, name
        assert spec["automountServiceAccountToken"] is False, name
        for container in spec["containers"]:
            context = container["securityContext"]
            assert context["readOnlyRootFilesystem"] is True, name
            assert context["allowPrivilegeEscalation"] is False, name
            assert context["capabilities"]["drop"] == ["ALL"], name
            assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"], name


@pytest.mark.parametrize("values", VALUE_SETS, ids=lambda path: path.stem)
def test_every_process_has_probes_and_bounded_resources(values: Path) -> None:
    for deployment in objects("Deployment", values):
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        assert container["livenessProbe"]["httpGet"]["path"] == "/health"
        assert container["readinessProbe"]["httpGet"]["path"] in ("/ready", "/health")
        assert container["startupProbe"]["httpGet"]["path"] == "/health"
        for bound in ("requests", "limits"):
            assert {"cpu", "memory"} <= container["resources"][bound].keys()


@pytest.mark.parametrize("values", VALUE_SETS, ids=lambda path: path.stem)
def test_each_process_runs_an_entry_point_of_the_image(values: Path) -> None:
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    for name, spec in pod_specs(values):
        (container,) = spec["containers"]
        assert container["command"][0] in scripts, name


@pytest.mark.parametrize("values", VALUE_SETS, ids=lambda path: path.stem)
def test_secrets_are_referenced_never_written_into_the_release(values: Path) -> None:
    assert objects("Secret", values) == []
    assert objects("ConfigMap", values) == []
    secret_settings = {"LEDGER_POSTGRES_URL", "LEDGER_MONGODB_URL", "LEDGER_REDIS_URL"}
    for name, spec in pod_specs(values):
        (container,) = spec["containers"]
        for variable in container["env"]:
            if variable["name"] in secret_settings | {"LEDGER_AUTH_KEY_ENCRYPTION_KEY"}:
                assert "secretKeyRef" in variable["valueFrom"], (name, variable)
            else:
                assert "@" not in variable.get("value", ""), (name, variable)


@pytest.mark.parametrize("values", VALUE_SETS, ids=lambda path: path.stem)
def test_every_variable_the_chart_sets_is_a_setting_the_processes_read(values: Path) -> None:
    known = settings_environment(Settings())
    for name, spec in pod_specs(values):
        (container,) = spec["containers"]
        for variable in container["env"]:
            assert variable["name"] in known, (name, variable["name"])


@pytest.mark.parametrize("values", VALUE_SETS, ids=lambda path: path.stem)
def test_the_relay_and_the_transfer_process_run_active_and_standby(values: Path) -> None:
    for deployment in objects("Deployment", values):
        if deployment["metadata"]["name"].endswith(("-relay", "-transfer-process")):
            assert deployment["spec"]["replicas"] == 2
            assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0


def test_the_apis_scale_on_cpu_and_the_projector_on_lag_where_keda_runs() -> None:
    autoscalers = {
        hpa["spec"]["scaleTargetRef"]["name"]: hpa
        for hpa in objects("HorizontalPodAutoscaler", OPERATORS)
    }
    assert set(autoscalers) == {"ledger-command-api", "ledger-query-api"}
    for hpa in autoscalers.values():
        assert hpa["spec"]["metrics"][0]["resource"]["name"] == "cpu"
    (scaled,) = objects("ScaledObject", OPERATORS)
    assert scaled["spec"]["scaleTargetRef"]["name"] == "ledger-projector"
    assert "ledger_projector_lag_events" in scaled["spec"]["triggers"][0]["metadata"]["query"]
    deployments = {d["metadata"]["name"]: d["spec"] for d in objects("Deployment", OPERATORS)}
    assert "replicas" not in deployments["ledger-projector"]  # the autoscalers own it
    assert "replicas" not in deployments["ledger-command-api"]


def test_the_migration_runs_before_each_install_and_upgrade() -> None:
    (job,) = objects("Job", OPERATORS)
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert job["spec"]["template"]["spec"]["containers"][0]["command"] == ["ledger", "migrate"]


def test_the_bundled_issuer_is_optional() -> None:
    assert not [
        d for d in objects("Deployment", OPERATORS) if d["metadata"]["name"].endswith("-issuer")
    ]
    (issuer,) = [
        d for d in objects("Deployment", SMALL) if d["metadata"]["name"].endswith("-issuer")
    ]
    env = {v["name"]: v for v in issuer["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["LEDGER_AUTH_ISSUER"]["value"] == "https://ledger.internal.example"
    assert "secretKeyRef" in env["LEDGER_AUTH_KEY_ENCRYPTION_KEY"]["valueFrom"]


def test_a_projector_beyond_the_partition_count_is_refused() -> None:
    with pytest.raises(tools.ToolError, match=r"exceeds kafka\.partitions"):
        tools.render(
            [OPERATORS], set_values={"projector.keda.enabled": "false", "projector.replicas": "13"}
        )
    with pytest.raises(tools.ToolError, match=r"keda.maxReplicas \(13\) exceeds kafka.partitions"):
        tools.render([OPERATORS], set_values={"projector.keda.maxReplicas": "13"})


def test_a_release_without_a_token_issuer_is_refused() -> None:
    with pytest.raises(tools.ToolError, match=r"set auth\.issuer and auth\.jwksUrl"):
        tools.render([])


def route_backend(route: Manifest, method: str, path: str) -> str | None:
    """The Service an HTTPRoute sends a request to, by the Gateway API's precedence: the
    longest matching path prefix, then a match that names the method."""
    candidates: list[tuple[int, bool, str]] = []
    for rule in route["spec"]["rules"]:
        for match in rule["matches"]:
            prefix = match["path"]["value"]
            prefix_matches = path == prefix or path.startswith(prefix.rstrip("/") + "/")
            if prefix_matches and match.get("method", method) == method:
                candidates.append((len(prefix), "method" in match, rule["backendRefs"][0]["name"]))
    return max(candidates)[2] if candidates else None


@pytest.mark.parametrize("values", [OPERATORS, SMALL], ids=lambda path: path.stem)
def test_the_route_sends_each_declared_api_route_to_the_api_that_serves_it(values: Path) -> None:
    (route,) = objects("HTTPRoute", values)
    services = {"command_api": "ledger-command-api", "query_api": "ledger-query-api"}
    for path, methods in declared().items():
        for method, api in methods.items():
            assert route_backend(route, method, path) == services[api], (method, path)
    # A method no API declares still reaches an API, which answers 405 with its Allow.
    assert route_backend(route, "DELETE", "/v1/accounts/some-id") == "ledger-query-api"


@pytest.mark.parametrize("path", ["/console", "/console/", "/console/pages/events.js"])
def test_the_route_sends_the_operators_console_to_the_query_api(path: str) -> None:
    (route,) = objects("HTTPRoute", OPERATORS)

    assert route_backend(route, "GET", path) == "ledger-query-api"


def test_network_policies_deny_by_default_and_open_only_the_apis_to_the_gateway() -> None:
    policies = {p["metadata"]["name"]: p["spec"] for p in objects("NetworkPolicy", OPERATORS)}
    deny = policies["ledger-default-deny"]
    assert deny["policyTypes"] == ["Ingress", "Egress"]
    assert "ingress" not in deny and "egress" not in deny
    apis = policies["ledger-apis"]
    (selector,) = apis["podSelector"]["matchExpressions"]
    assert selector["values"] == ["command-api", "query-api"]
    assert re.search("gateway", str(apis["ingress"]))


def test_a_misspelt_or_mistyped_value_is_refused_before_anything_renders() -> None:
    with pytest.raises(tools.ToolError, match="additional properties 'replicaz' not allowed"):
        tools.render([SMALL], set_values={"commandApi.replicaz": "2"})
    with pytest.raises(tools.ToolError, match="/kafka/partitions': got string, want integer"):
        tools.render([SMALL], set_values={"kafka.partitions": "zero"})
