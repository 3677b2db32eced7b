"""deploy/prometheus/ and deploy/grafana/ as their tools read them: promtool checks the scrape
configuration and the rules and runs the rules' unit tests; every alert has a runbook and a test
that sees it fire and one that sees it hold back; the dashboard's queries parse, and every metric
the rules and panels read is one the services export. (The live check, a real Prometheus against
the running services, is tests/services/system/test_prometheus.py.)"""
from __future__ import annotations

import argparse
import re
import subprocess
from pathlib import Path

import yaml

from helpers_deploy import (DASHBOARD, GRAFANA, PROMETHEUS, RULES, ROOT, alerts, dashboard, dashboard_queries,
                            metric_names, panels, rules, tool)
from omp_services.common.settings import ADDRESS_BOOK

#: the playbook's watchdog table and red flags (and what keeps them watched), each with its alert
PLAYBOOK = {
    "a service is down": "OMPServiceDown",
    "the database is unreachable": "OMPDatabaseUnreachable",
    "the daemon is paused while the queue has work": "OMPDaemonPausedWithWork",
    "the daemon is offline while the queue has work": "OMPDaemonOfflineWithWork",
    "disk pressure: free below 2 GB": "OMPDiskLow",
    "disk critical: free below 1 GB": "OMPDiskCritical",
    "stuck run: no progress for 10+ minutes": "OMPRunStuck",
    "memory runaway": "OMPRunMemoryRunaway",
    "error burst: 3+ failures in 1 hour": "OMPErrorBurst",
    "red flag: failure rate above 30%": "OMPFailureRateHigh",
    "red flag: restarts above 3 in 24 h": "OMPRestartsHigh",
    "red flag: disk usage above 80%": "OMPDiskUsageHigh",
    "red flag: memory usage above 80% sustained": "OMPMemoryUsageHigh",
    "red flag: zero promotions in 7 days while mining": "OMPNoPromotionIn7Days",
    "red flag: the variance gate blocking repeatedly": "OMPVarianceGateBlocking",
    "the Hall of Fame mirror lags": "OMPMirrorLagging",
}


def _promtool(*args: str, cwd: Path = PROMETHEUS) -> subprocess.CompletedProcess:
    return subprocess.run([tool("promtool"), *args], capture_output=True, text=True, cwd=cwd, timeout=300)


def test_promtool_accepts_the_scrape_configuration_and_the_rules():
    r = _promtool("check", "config", "prometheus.yml")
    assert r.returncode == 0, r.stdout + r.stderr
    r = _promtool("check", "rules", RULES.name)
    assert r.returncode == 0 and f"SUCCESS: {len(rules())} rules found" in r.stdout, r.stdout + r.stderr


TESTS = ("omp.rules.test.yml", "omp.rules.test-days.yml")


def test_the_rules_unit_tests_pass():
    r = _promtool("test", "rules", *TESTS)
    assert r.returncode == 0 and r.stdout.count("SUCCESS") == len(TESTS), r.stdout + r.stderr


def test_a_broken_alert_fails_its_unit_test(tmp_path):
    """The unit tests can fail: the disk floor compared the wrong way round is caught."""
    (tmp_path / RULES.name).write_text(RULES.read_text().replace(
        "< on (instance, job) group_left () omp_watchdog_disk_critical_free_bytes",
        "> on (instance, job) group_left () omp_watchdog_disk_critical_free_bytes"))
    (tmp_path / "omp.rules.test.yml").write_text((PROMETHEUS / "omp.rules.test.yml").read_text())
    r = _promtool("test", "rules", "omp.rules.test.yml", cwd=tmp_path)
    assert r.returncode != 0 and "OMPDiskCritical" in r.stderr, r.stdout + r.stderr


def test_every_playbook_condition_has_an_alert_with_a_runbook_and_a_test():
    by_name = {a["alert"]: a for a in alerts()}
    missing = {cond: name for cond, name in PLAYBOOK.items() if name not in by_name}
    assert not missing, missing
    tests = [t for f in TESTS for t in yaml.safe_load((PROMETHEUS / f).read_text())["tests"]]
    fires, holds = set(), set()
    for t in tests:
        for case in t.get("alert_rule_test", []):
            (fires if case.get("exp_alerts") else holds).add(case["alertname"])
    for name, a in by_name.items():
        assert name.startswith("OMP"), name
        assert a["labels"]["severity"] in ("critical", "warning"), name
        for key in ("summary", "description", "runbook"):
            assert a["annotations"].get(key, "").strip(), (name, key)
        assert name in fires, f"{name}: no unit test sees it fire"
        assert name in holds, f"{name}: no unit test sees it hold back (before its `for`, or on a look-alike)"


def _commands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(subs[0].choices) if subs else {}


def test_the_runbooks_name_commands_that_exist():
    """Each `omp ...` in a runbook is a command the omp parser knows (a renamed command would
    leave an operator with a dead instruction at the worst moment)."""
    from omp_cli.main import build_parser
    top = _commands(build_parser())
    seen = 0
    for a in alerts():
        for first, second in re.findall(r"\bomp ([a-z-]+)(?: ([a-z-]+))?", a["annotations"]["runbook"]):
            assert first in top, (a["alert"], first)
            sub = _commands(top[first])
            assert not sub or second in sub, (a["alert"], first, second)
            seen += 1
    assert seen >= len(alerts()) - 3       # a few runbooks are systemd's and journald's alone


def test_the_scrape_targets_are_the_services_metrics_ports():
    cfg = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())
    jobs = {j["job_name"]: j["static_configs"][0]["targets"] for j in cfg["scrape_configs"]}
    assert jobs == {f"omp-{s}": [f"127.0.0.1:{ADDRESS_BOOK[s].metrics_port}"]
                    for s in ("scheduler", "miner", "promoter", "watchdog")}
    assert all((PROMETHEUS / f).is_file() for f in cfg["rule_files"])


def _exported_names() -> set[str]:
    """Every metric name the services' code declares (string literals), with the series a counter
    or a histogram adds, and the process collector's."""
    declared = set()
    for path in (ROOT / "services").rglob("*.py"):
        declared |= set(re.findall(r'"((?:omp|grpc_server)_[a-z0-9_]+)"', path.read_text()))
    names = set(declared)
    for n in declared:
        names |= {n + "_bucket", n + "_count", n + "_sum"}
    return names | {"up", "process_resident_memory_bytes", "process_start_time_seconds",
                    "process_cpu_seconds_total"}


def test_every_metric_the_rules_and_panels_read_is_exported():
    exported = _exported_names()
    exprs = [r["expr"] for r in rules()] + [q for _, q in dashboard_queries()]
    read = set().union(*(metric_names(e) for e in exprs))
    assert len(read) > 25
    assert read <= exported, sorted(read - exported)
    recorded = {r["record"] for r in rules() if "record" in r}
    used = set(re.findall(r"\bomp:[a-z0-9_:]+", " ".join(exprs)))
    assert used <= recorded, sorted(used - recorded)


def test_the_dashboard_is_provisioned_and_its_panels_are_well_formed():
    ds = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "omp.yml").read_text())["datasources"][0]
    provider = yaml.safe_load((GRAFANA / "provisioning" / "dashboards" / "omp.yml").read_text())["providers"][0]
    assert ds["type"] == "prometheus" and provider["type"] == "file" and provider["options"]["path"]
    d = dashboard()
    assert d["uid"] and d["title"] and d["schemaVersion"] >= 36
    ids = [p["id"] for p in d["panels"]]
    assert len(ids) == len(set(ids))
    cells = set()
    for p in d["panels"]:
        g = p["gridPos"]
        assert 0 <= g["x"] and g["x"] + g["w"] <= 24, p["title"]
        mine = {(g["x"] + i, g["y"] + j) for i in range(g["w"]) for j in range(g["h"])}
        assert not cells & mine, f"{p['title']} overlaps another panel"
        cells |= mine
    for p in panels():
        assert p["datasource"]["uid"] == ds["uid"], p["title"]
        assert p["targets"] and all(t["datasource"]["uid"] == ds["uid"] for t in p["targets"]), p["title"]
        refs = [t["refId"] for t in p["targets"]]
        assert len(refs) == len(set(refs)), p["title"]
    # what the issue asks the dashboard to show
    titles = " | ".join(p["title"].lower() for p in panels())
    for topic in ("daemon state", "queue depth", "run progress", "sharpe", "evaluations per second", "cpu",
                  "memory", "disk", "incidents", "decisions by outcome", "rejections by gate", "error ratio",
                  "latency"):
        assert topic in titles, topic


def test_promtool_parses_every_panel_query(tmp_path):
    queries = dashboard_queries()
    doc = {"groups": [{"name": "dashboard", "rules": [{"record": f"omp:panel_{i}", "expr": q}
                                                      for i, (_, q) in enumerate(queries)]}]}
    (tmp_path / "panels.yml").write_text(yaml.safe_dump(doc))
    r = _promtool("check", "rules", "panels.yml", cwd=tmp_path)
    assert r.returncode == 0 and f"SUCCESS: {len(queries)} rules found" in r.stdout, r.stdout + r.stderr
    # and it would say so of a broken one
    doc["groups"][0]["rules"].append({"record": "omp:broken", "expr": "sum by (job (up)"})
    (tmp_path / "panels.yml").write_text(yaml.safe_dump(doc))
    assert _promtool("check", "rules", "panels.yml", cwd=tmp_path).returncode != 0


def test_the_deploy_guide_covers_prometheus_and_grafana():
    guide = (ROOT / "deploy" / "README.md").read_text()
    for needle in ("deploy/prometheus/prometheus.yml", "omp.rules.yml", "promtool", "provisioning/datasources",
                   "provisioning/dashboards", DASHBOARD.name):
        assert needle in guide, needle
    for a in alerts():      # the guide's table of alerts is whole
        assert f"| `{a['alert']}` | {a['labels']['severity']} |" in guide, a["alert"]
