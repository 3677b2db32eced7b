"""A real Prometheus (Debian's package) against the four services as processes, with the scrape
configuration and the rules of deploy/prometheus/ (only the targets and intervals changed for a
test): every rule evaluates without error on the services' real series, an alert fires for a real
condition (the watchdog's disk floor above the free disk), every metric the rules and the
dashboard read is there, and every panel's query returns data."""
from __future__ import annotations

import json
import subprocess
import time
import urllib.parse
import urllib.request

import pytest
import yaml

from helpers_deploy import PROMETHEUS, RULES, dashboard_queries, metric_names, rules, tool
from helpers_services import (ROOT, _pg_create, _pg_drop, free_port, scheduler_client, set_data_ready, wait_for,
                              write_settings)
from omp.v1 import common_pb2 as pb, scheduler_pb2 as spb

pytestmark = pytest.mark.slow      # four services, a real run and a Prometheus, as processes

SERVICES = ("scheduler", "miner", "promoter", "watchdog")


class Prometheus:
    def __init__(self, tmp_path, metrics_ports: dict[str, int]):
        cfg = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())
        cfg["global"] = {"scrape_interval": "1s", "evaluation_interval": "1s"}
        cfg["rule_files"] = [str(RULES)]
        del cfg["alerting"]             # no Alertmanager here: the alerts are read from Prometheus's API
        for job in cfg["scrape_configs"]:
            job["static_configs"][0]["targets"] = [f"127.0.0.1:{metrics_ports[job['job_name'].removeprefix('omp-')]}"]
        (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(cfg))
        self.port = free_port()
        self.log = open(tmp_path / "prometheus.log", "wb")
        self.proc = subprocess.Popen([tool("prometheus"), f"--config.file={tmp_path / 'prometheus.yml'}",
                                      f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                                      f"--web.listen-address=127.0.0.1:{self.port}"],
                                     stdout=self.log, stderr=self.log)
        wait_for(self._ready, timeout=60, interval=0.2, what="Prometheus ready")

    def _ready(self) -> bool:
        try:
            return urllib.request.urlopen(f"http://127.0.0.1:{self.port}/-/ready", timeout=2).status == 200
        except OSError:
            assert self.proc.poll() is None, "Prometheus exited"
            return False

    def api(self, path: str, **params):
        url = f"http://127.0.0.1:{self.port}/api/v1/{path}" + (f"?{urllib.parse.urlencode(params)}" if params else "")
        doc = json.loads(urllib.request.urlopen(url, timeout=30).read())
        assert doc["status"] == "success", doc
        return doc["data"]

    def query(self, expr: str) -> list:
        return self.api("query", query=expr)["result"]

    def firing(self) -> dict[str, list[dict]]:
        out: dict[str, list[dict]] = {}
        for a in self.api("alerts")["alerts"]:
            if a["state"] == "firing":
                out.setdefault(a["labels"]["alertname"], []).append(a)
        return out

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=30)
        self.log.close()


def _events(client, kind):
    return [e for e in (x.event for x in client.stream("WatchEvents", spb.WatchEventsRequest(after_seq=0), timeout=10)) if e.kind == kind]


def test_prometheus_scrapes_the_services_evaluates_the_rules_and_fires_an_alert(services, tmp_path):
    mirror_db = _pg_create()
    prometheus = None
    try:
        ports = {s: (free_port(), free_port()) for s in SERVICES}
        sections = {s: {"port": p, "metrics_port": m} for s, (p, m) in ports.items()}
        sections["paths"] = {"configs_root": str(ROOT / "examples" / "campaigns")}
        sections["promotion"] = {"allow_dirty_code": True, "mirror_interval_s": 0.5,
                                 "mirror_url": f"postgresql+psycopg://postgres@127.0.0.1:5432/{mirror_db}"}
        config = write_settings(tmp_path, f"sqlite:///{tmp_path / 'omp.db'}", **sections)
        for s in ("promoter", "scheduler", "miner", "watchdog"):
            services.start(f"omp_services.{s}.app", config)
        prometheus = Prometheus(tmp_path, {s: m for s, (_, m) in ports.items()})
        t0 = time.time()
        # Prometheus takes up its targets some seconds after it is ready: the run must not be over by then
        wait_for(lambda: len(prometheus.query("up == 1")) == len(SERVICES), timeout=60, interval=0.5,
                 what="every service scraped")

        # a real run: progress while it runs, a decision and a Hall of Fame entry once it ends
        client = scheduler_client(f"127.0.0.1:{ports['scheduler'][0]}")
        client.call("AddCampaign", spb.AddCampaignRequest(campaign=pb.Campaign(
            name="planted", config_path="planted_edge.toml", priority=1), actor="t"))
        client.call("StartDaemon", spb.StartDaemonRequest(actor="t"))
        set_data_ready(client)
        wait_for(lambda: prometheus.query("omp_miner_run_generation"), timeout=180, interval=0.5,
                 what="a running run's progress in Prometheus")
        wait_for(lambda: _events(client, "promotion.judged"), timeout=180, interval=0.5, what="the run judged")
        wait_for(lambda: prometheus.query("sum(omp_promoter_decisions_total) > 0"), timeout=30, interval=0.5,
                 what="the decision in Prometheus")
        assert prometheus.query("omp_queue_campaigns") and not prometheus.firing().get("OMPDiskCritical")

        # every rule evaluates on the real series without an error (a bad match would say so here)
        groups = prometheus.api("rules")["groups"]
        evaluated = {r.get("name") for g in groups for r in g["rules"]}
        assert evaluated == {r.get("alert") or r.get("record") for r in rules()}
        broken = [(r["name"], r.get("lastError")) for g in groups for r in g["rules"] if r["health"] != "ok"]
        assert not broken, broken

        # a real condition: the watchdog restarted with a disk floor above the free disk
        critical = write_settings(tmp_path, f"sqlite:///{tmp_path / 'omp.db'}", name="critical.toml",
                                  **{**sections, "watchdog": {**sections["watchdog"], "disk_warn_gb": 1e9,
                                                              "disk_critical_gb": 1e9}})
        _restart_watchdog(services, critical)
        alerts = wait_for(lambda: prometheus.firing().get("OMPDiskCritical"), timeout=60, interval=0.5,
                          what="OMPDiskCritical firing")
        assert alerts[0]["labels"]["severity"] == "critical" and alerts[0]["labels"]["job"] == "omp-watchdog"
        assert "below the critical floor" in alerts[0]["annotations"]["summary"]
        wait_for(lambda: prometheus.query('ALERTS{alertname="OMPDiskCritical", alertstate="firing"}'), timeout=30,
                 interval=0.5, what="the alert stored as a series (the dashboard's panel of firing alerts)")

        # every metric the rules and the panels read is there, and every panel's query has data
        names = set(prometheus.api("label/__name__/values"))
        read = set().union(*(metric_names(r["expr"]) for r in rules()),
                           *(metric_names(q) for _, q in dashboard_queries()))
        assert read <= names, sorted(read - names)
        end = time.time()
        span = int(end - t0) + 1
        empty = []
        for title, q in dashboard_queries(rate_interval="10s", range_=f"{span}s"):
            # steps back from `end`, so that the last falls on it (a range query's steps start at its start)
            data = prometheus.api("query_range", query=q, start=end - span, end=end, step="1s")["result"]
            if not any(series["values"] for series in data):
                empty.append((title, q))
        assert not empty, empty
    finally:
        if prometheus is not None:
            prometheus.stop()
        _pg_drop(mirror_db)


def _restart_watchdog(services, config):
    for sp in services.started:
        if sp.module == "omp_services.watchdog.app":
            sp.terminate()
    services.start("omp_services.watchdog.app", config)
