"""The deployment files agree with the code: every service is deployed with its module, its port,
the QZX_* settings it reads and the health paths it serves. (Docker is not run here.)"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

yaml = pytest.importorskip("yaml")

ROOT = Path(__file__).resolve().parents[3]
SERVICES = {"ingest": 8001, "alerts": 8002, "dispatch": 8003}  # DESIGN §3 ports


def load_all(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def test_every_service_has_a_deployment_and_a_service_with_probes() -> None:
    assert {p.name for p in (ROOT / "services").iterdir() if (p / "pyproject.toml").exists()} == set(SERVICES)
    kustomization = yaml.safe_load((ROOT / "deploy/k8s/kustomization.yaml").read_text())
    for name, port in SERVICES.items():
        assert f"{name}.yaml" in kustomization["resources"]
        docs = {d["kind"]: d for d in load_all(ROOT / f"deploy/k8s/{name}.yaml")}
        pod = docs["Deployment"]["spec"]["template"]
        assert (
            docs["Deployment"]["spec"]["selector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()
        )
        (container,) = pod["spec"]["containers"]
        assert container["command"] == ["python", "-m", f"qzx_{name}"]
        assert container["ports"][0]["containerPort"] == port
        assert {"name": f"QZX_{name.upper()}_PORT", "value": str(port)} in container["env"]
        assert {r[next(iter(r))]["name"] for r in container["envFrom"]} == {"qzx-config", "qzx-secrets"}
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert docs["Service"]["spec"]["ports"][0]["port"] == port


def test_config_and_secret_carry_the_settings_the_services_read() -> None:
    from qzx_common.settings import CommonSettings

    config = yaml.safe_load((ROOT / "deploy/k8s/config.yaml").read_text())["data"]
    secret = yaml.safe_load((ROOT / "deploy/k8s/secret.yaml").read_text())["stringData"]
    fields = {f"QZX_{name.upper()}" for name in CommonSettings.model_fields}
    assert {"QZX_DATABASE_URL", "QZX_JWT_SECRET", "QZX_EXCHANGE_KEYS"} <= set(secret)
    assert "QZX_KAFKA_BOOTSTRAP" in config and config["QZX_HOST"] == "0.0.0.0"
    unknown = (set(config) | set(secret)) - fields - {"QZX_HOST", "QZX_DEMO_DATA"}
    assert not unknown, f"settings no service reads: {unknown}"


def test_compose_runs_kafka_postgres_the_services_and_the_simulator() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    assert compose["kafka"]["image"].startswith("apache/kafka:")
    assert compose["kafka"]["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"  # KRaft
    assert compose["postgres"]["image"] == "postgres:16"
    for name, port in SERVICES.items():
        svc = compose[name]
        assert svc["build"]["dockerfile"] == "deploy/Dockerfile"
        assert svc["command"] == ["python", "-m", f"qzx_{name}"]
        env = svc["environment"]
        assert (
            env["QZX_DATABASE_URL"].startswith("postgresql://")
            and "@postgres:5432/" in env["QZX_DATABASE_URL"]
        )
        assert env["QZX_KAFKA_BOOTSTRAP"] == "kafka:9092"
        assert env[f"QZX_{name.upper()}_PORT"] == str(port)
        assert "/readyz" in " ".join(svc["healthcheck"]["test"]) and str(port) in " ".join(
            svc["healthcheck"]["test"]
        )
    assert compose["simulator"]["command"][:3] == ["python", "-m", "qzx_dev.simulator"]


def test_dockerfile_builds_one_non_root_image_from_the_workspace() -> None:
    text = (ROOT / "deploy/Dockerfile").read_text()
    assert "FROM python:3.11-slim" in text
    assert "uv sync --frozen --no-dev" in text and "COPY pyproject.toml uv.lock" in text
    user_lines = [line for line in text.splitlines() if line.startswith("USER ")]
    assert user_lines and user_lines[-1].split()[1].split(":")[0] not in ("0", "root")
    assert 'CMD ["python", "-m", "qzx_ingest"]' in text
