"""What operators rely on, against the running system: a request id ties a console action to its
response, its log line and its audit row; the alert rules and the dashboard load, and every metric
they reference is one the services export (scraped from their /metrics)."""

from __future__ import annotations

import io
import json
import logging
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from e2e_harness import System, new_plate

from qzx_common.logs import JsonFormatter

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy/prometheus/rules.yml"
PROMETHEUS_RULE = ROOT / "deploy/k8s/base/prometheusrule.yaml"
DASHBOARD = ROOT / "deploy/grafana/qzx.json"
# Series Prometheus makes itself for every target (not exported by the services).
PROMETHEUS_OWN = {"up"}
PROMQL_WORDS = {"and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right", "bool"}
DURATION = re.compile(r"^\d+[smhd]$")


# ---------------------------------------------------------------- what the files reference


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (functions, keywords, labels left out)."""
    bare = re.sub(r'"(?:[^"\\]|\\.)*"', "", expr)  # strings
    bare = re.sub(r"\{[^}]*\}", " ", bare)  # label matchers
    bare = re.sub(r"\[[^\]]*\]", " ", bare)  # ranges and subqueries
    bare = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", bare)
    names = set()
    for match in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", bare):
        word, rest = match.group(), bare[match.end() :].lstrip()
        if word in PROMQL_WORDS or rest.startswith("("):
            continue
        if bare[max(0, match.start() - 1)].isdigit():  # "5m", "1e3"
            continue
        names.add(word)
    return names


def rule_expressions() -> dict[str, str]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return {r["alert"]: r["expr"] for g in groups for r in g["rules"]}


def dashboard_expressions() -> dict[str, str]:
    dashboard = json.loads(DASHBOARD.read_text())
    return {
        f"{p['title']} {t['refId']}": t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])
    }


def test_the_expression_reader_finds_metrics_and_nothing_else() -> None:
    expr = (
        'histogram_quantile(0.95, sum by (service, le) (rate(qzx_x_bucket{status=~"5.."}[5m])))'
        ' / on (service) group_left sum without (pod) (qzx_y) > 1 / 60 and up{job=~".*qzx.*"} == 0'
    )
    assert metric_names(expr) == {"qzx_x_bucket", "qzx_y", "up"}


def test_the_alert_rules_have_the_structure_prometheus_loads() -> None:
    """promtool is not installable from PyPI or npm: the structure Prometheus requires is checked."""
    doc = yaml.safe_load(RULES.read_text())
    assert set(doc) == {"groups"} and doc["groups"]
    alerts = []
    for group in doc["groups"]:
        assert set(group) <= {"name", "interval", "rules"} and group["name"] and group["rules"]
        for rule in group["rules"]:
            assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}, rule
            assert re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", rule["alert"]), rule["alert"]
            assert DURATION.match(rule.get("for", "0s")), rule
            assert rule["labels"]["severity"] in {"critical", "warning"}, rule
            assert rule["annotations"]["summary"] and rule["annotations"]["description"], rule
            assert rule["expr"].count("(") == rule["expr"].count(")"), rule["alert"]
            assert metric_names(rule["expr"]), rule["alert"]
            alerts.append(rule["alert"])
    assert len(alerts) == len(set(alerts))
    # What the runbook promises an alert for.
    wanted = {
        "QzxConsumerLagGrowing",
        "QzxDeadLetters",
        "QzxRelayBacklog",
        "QzxP1Waiting",
        "QzxServiceNotReady",
    }
    assert wanted <= set(alerts)


def test_the_kubernetes_rule_is_the_rule_file() -> None:
    resource = yaml.safe_load(PROMETHEUS_RULE.read_text())
    assert resource["kind"] == "PrometheusRule"
    assert resource["spec"] == yaml.safe_load(RULES.read_text())


def test_the_dashboard_loads() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] and dashboard["title"] and isinstance(dashboard["schemaVersion"], int)
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids)) and ids
    for panel in dashboard["panels"]:
        assert {"x", "y", "w", "h"} <= set(panel["gridPos"]) and panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["expr"].count("(") == target["expr"].count(")"), panel["title"]


# ---------------------------------------------------------------- what the services export


def exported(text: str) -> set[str]:
    """Every series name a /metrics page can hold (families without samples yet included)."""
    names = set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            names.add(name)
            names.update({"counter": [f"{name}_total", f"{name}_created"]}.get(kind, []))
            if kind in ("histogram", "summary"):
                names.update(f"{name}_{suffix}" for suffix in ("bucket", "sum", "count", "created"))
        elif line and not line.startswith("#"):
            names.add(re.split(r"[{ ]", line, maxsplit=1)[0])
    return names


async def scrape(system: System) -> dict[str, str]:
    pages = {}
    for service in ("ingest", "alerts", "dispatch"):
        response = await system.client(service).get("/metrics")
        assert response.status_code == 200
        pages[service] = response.text
    return pages


async def test_every_metric_the_rules_and_the_dashboard_use_is_exported(system: System) -> None:
    commander = system.client("alerts")
    await commander.get("/v1/alerts")
    await commander.get("/no/such/path")  # counted under route "none": raw paths never become labels
    pages = await scrape(system)
    available = set.union(*(exported(page) for page in pages.values())) | PROMETHEUS_OWN
    referenced = {
        (where, name)
        for exprs in (rule_expressions(), dashboard_expressions())
        for where, expr in exprs.items()
        for name in metric_names(expr)
    }
    assert {name for _, name in referenced} >= {
        "qzx_consumer_lag",
        "qzx_relay_oldest_age_seconds",
        "qzx_ready",
    }
    assert sorted(r for r in referenced if r[1] not in available) == []
    alerts_page = pages["alerts"]
    assert (
        'qzx_http_requests_total{method="GET",route="/v1/alerts",service="alerts",status="200"}'
        in alerts_page
    )
    assert 'route="none",service="alerts",status="404"' in alerts_page
    assert "/no/such/path" not in alerts_page
    assert "qzx_no_such_metric" not in available
    assert 'qzx_ready{schema="alerts"} 1.0' in alerts_page  # sampled at start: database up, consumers running
    for name in (
        "qzx_alerts_pending",
        "qzx_alerts_sse_streams",
        "qzx_patrol_long_polls",
        "qzx_auth_failures_total",
    ):
        assert name in available


# ---------------------------------------------------------------- request ids


@pytest.fixture
def access_lines() -> Iterator[io.StringIO]:
    """The JSON lines the access log writes meanwhile."""
    lines = io.StringIO()
    handler = logging.StreamHandler(lines)
    handler.setFormatter(JsonFormatter("e2e"))
    logger = logging.getLogger("qzx.access")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield lines
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


async def test_a_request_id_ties_a_console_action_to_its_response_log_line_and_audit_row(
    system: System, access_lines: io.StringIO
) -> None:
    commander = system.client("alerts")
    auditor = system.client("alerts", role="auditor", jur="37")

    async def audited(request_id: str | None) -> tuple[str, list[dict[str, object]], list[str | None]]:
        headers = {"X-Request-Id": request_id} if request_id is not None else {}
        entry = {"plate": new_plate("A"), "priority": "P2", "reason": "request id test"}
        r = await commander.post("/v1/hotlists", json=entry, headers=headers)
        assert r.status_code == 201, r.text
        returned = r.headers["x-request-id"]
        logged = [
            line
            for line in map(json.loads, access_lines.getvalue().splitlines())
            if line.get("request_id") == returned
        ]
        audit = await auditor.get("/v1/audit", params={"target_id": r.json()["id"]})
        assert audit.status_code == 200, audit.text
        return returned, logged, [item["request_id"] for item in audit.json()["items"]]

    given = f"console-{uuid.uuid4().hex}"
    returned, logged, audit_ids = await audited(given)
    assert returned == given
    assert [(line["method"], line["path"], line["status"]) for line in logged] == [
        ("POST", "/v1/hotlists", 201)
    ]
    assert audit_ids == [given]

    # None given, or one that is not a plain id: the generated id is returned, logged and audited.
    for request_id in (None, "two words", "x" * 129):
        returned, logged, audit_ids = await audited(request_id)
        assert re.fullmatch(r"[0-9a-f]{32}", returned), returned
        assert len(logged) == 1 and audit_ids == [returned]
