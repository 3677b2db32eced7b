"""What the monitoring tests share: deploy/prometheus/ and deploy/grafana/ read as their tools read
them, and the dashboard's queries with Grafana's variables given values Prometheus takes."""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
PROMETHEUS = ROOT / "deploy" / "prometheus"
GRAFANA = ROOT / "deploy" / "grafana"
RULES = PROMETHEUS / "omp.rules.yml"
DASHBOARD = GRAFANA / "dashboards" / "omp.json"
#: the metric names a rule or panel may read; recorded series (name:with:colons) and ALERTS aside
METRIC = re.compile(r"\b((?:omp|grpc_server|process|python)_[a-z0-9_]+|up)\b(?!\s*\()")


def tool(name: str) -> str:
    exe = shutil.which(name)
    assert exe, f"{name} is needed (Debian's prometheus package; scripts/ensure-tools installs it)"
    return exe


def rules() -> list[dict]:
    return [r for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"]]


def alerts() -> list[dict]:
    return [r for r in rules() if "alert" in r]


def dashboard() -> dict:
    return json.loads(DASHBOARD.read_text())


def panels() -> list[dict]:
    return [p for p in dashboard()["panels"] if p["type"] != "row"]


def dashboard_queries(rate_interval: str = "1m", range_: str = "1h") -> list[tuple[str, str]]:
    """(panel title, PromQL) for every target of every panel, with $__rate_interval and $__range
    as Grafana would fill them in."""
    out = []
    for p in panels():
        for t in p["targets"]:
            expr = t["expr"].replace("$__rate_interval", rate_interval).replace("$__range", range_)
            out.append((p["title"], expr))
    return out


def metric_names(expr: str) -> set[str]:
    """The metrics an expression reads (a label value or a function name is not one)."""
    bare = re.sub(r'"[^"]*"', '""', expr)           # label values
    bare = re.sub(r"\{[^}]*\}", "{}", bare)          # label names
    bare = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", bare)
    bare = re.sub(r"\b[a-z_]+:[a-z0-9_:]+", "", bare)    # recorded series
    return set(METRIC.findall(bare))
