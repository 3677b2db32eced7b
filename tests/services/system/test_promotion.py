"""Promotion against real processes: a completed run is handed from the scheduler to the promoter
through the outbox written with its completion, judged once, and survives the promoter being down
when the run completes; the operator's commands show the gates."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from helpers_services import (ROOT, free_port, scheduler_client, set_data_ready, wait_for, write_settings)
from omp.v1 import common_pb2 as pb, promoter_pb2 as ppb, promoter_pb2_grpc, scheduler_pb2 as spb
from omp_services.common.clients import Client
from omp_services.common.convert import struct_dict

pytestmark = pytest.mark.slow      # four services as processes, a real run


def _events(client, kind):
    return [e for e in (x.event for x in client.stream("WatchEvents", spb.WatchEventsRequest(after_seq=0), timeout=10)) if e.kind == kind]


def test_a_completed_run_is_judged_once_even_when_the_promoter_was_down(services, tmp_path, database_url):
    config = write_settings(tmp_path, database_url)
    pport, wport = free_port(), free_port()
    peers = ["--promoter", f"127.0.0.1:{pport}", "--watchdog", f"127.0.0.1:{wport}"]
    sched = services.start("omp_services.scheduler.app", config, *peers)
    services.start("omp_services.miner.app", config, "--scheduler", sched.address, "--watchdog", f"127.0.0.1:{wport}")
    client = scheduler_client(sched.address)
    c = client.call("AddCampaign", spb.AddCampaignRequest(campaign=pb.Campaign(
        name="tiny", config_path="tiny.toml", priority=1), actor="t")).campaign
    client.call("StartDaemon", spb.StartDaemonRequest(actor="t"))
    set_data_ready(client)
    # the promoter is not running: the completed run waits in the outbox, retried
    wait_for(lambda: _events(client, "promotion.pending"), timeout=120, what="the completed run")
    run_id = struct_dict(_events(client, "promotion.pending")[0].detail)["run_id"]
    assert not _events(client, "promotion.judged")
    promoter = services.start("omp_services.promoter.app", config, "--port", str(pport), "--watchdog",
                              f"127.0.0.1:{wport}")
    judged = wait_for(lambda: _events(client, "promotion.judged"), timeout=60, what="the hand-off, retried")
    assert len(judged) == 1 and run_id in judged[0].message
    pclient = Client(promoter_pb2_grpc.PromoterServiceStub, promoter.address)
    d = pclient.call("GetDecision", ppb.GetDecisionRequest(run_id=run_id)).decision
    assert d.stored and d.campaign_id == c.id and d.outcome in (ppb.PROMOTION_OUTCOME_REJECTED,
                                                                ppb.PROMOTION_OUTCOME_BLOCKED,
                                                                ppb.PROMOTION_OUTCOME_PROMOTED,
                                                                ppb.PROMOTION_OUTCOME_INCOMPLETE)
    assert f"judged: {ppb.PromotionOutcome.Name(d.outcome).split('_')[-1].lower()}" in judged[0].message
    # asked again (a retry after a lost answer): the same decision, nothing new
    again = pclient.call("PromoteRun", ppb.PromoteRunRequest(run_id=run_id, actor="t")).decision
    assert again.decided_at == d.decided_at

    omp = lambda *a: subprocess.run([sys.executable, "-m", "omp_cli", *a, "--promoter", promoter.address,  # noqa: E731
                                     "--scheduler", sched.address], capture_output=True, text=True, cwd=ROOT,
                                    timeout=60)
    check = omp("promote-check", run_id, "--json")
    out = json.loads(check.stdout)
    assert out["run_id"] == run_id and not out["stored"] and out["run_gates"]
    assert check.returncode == (0 if out["outcome"] == "PROMOTION_OUTCOME_PROMOTED" else 1)
    human = omp("promote-check", run_id)
    assert run_id in human.stdout and ("FAIL" in human.stdout) == (check.returncode == 1)
    listed = omp("hof", "list", "--json")
    assert listed.returncode == 0 and isinstance(json.loads(listed.stdout)["items"], list)
    missing = omp("promote-check", "run_nothing_here")
    assert missing.returncode == 2 and "no run folder" in missing.stderr


def test_the_planted_edge_is_promoted_and_reaches_the_postgresql_mirror(services, tmp_path):
    """The shipped planted-edge campaign through real processes: promoted, its artifacts whole, and
    the entries in the PostgreSQL mirror (a database of its own) once `omp hof sync` says so.
    (A dirty checkout is accepted here; the code-version gate has its own tests.)"""
    from helpers_services import _pg_create, _pg_drop
    import psycopg
    mirror_db = _pg_create()
    try:
        config = write_settings(tmp_path, f"sqlite:///{tmp_path / 'omp.db'}",
                                paths={"configs_root": str(ROOT / "examples" / "campaigns")},
                                promotion={"allow_dirty_code": True, "mirror_interval_s": 0.5,
                                           "mirror_url": f"postgresql+psycopg://postgres@127.0.0.1:5432/{mirror_db}"})
        pport, wport = free_port(), free_port()
        promoter = services.start("omp_services.promoter.app", config, "--port", str(pport), "--watchdog",
                                  f"127.0.0.1:{wport}")
        sched = services.start("omp_services.scheduler.app", config, "--promoter", promoter.address, "--watchdog",
                               f"127.0.0.1:{wport}")
        services.start("omp_services.miner.app", config, "--scheduler", sched.address, "--watchdog", f"127.0.0.1:{wport}")
        client = scheduler_client(sched.address)
        client.call("AddCampaign", spb.AddCampaignRequest(campaign=pb.Campaign(
            name="planted", config_path="planted_edge.toml", priority=1), actor="t"))
        client.call("StartDaemon", spb.StartDaemonRequest(actor="t"))
        set_data_ready(client)
        judged = wait_for(lambda: _events(client, "promotion.judged"), timeout=180, what="the planted run judged")
        assert "judged: promoted" in judged[0].message
        omp = lambda *a: subprocess.run([sys.executable, "-m", "omp_cli", *a, "--promoter", promoter.address],  # noqa: E731
                                        capture_output=True, text=True, cwd=ROOT, timeout=60)
        entries = json.loads(omp("hof", "list", "--json").stdout)["items"]
        assert entries and all(e["state"] == "ENTRY_STATE_ACTIVE" and e["run_id"].startswith("run_") for e in entries)
        for e in entries:
            folder = tmp_path / "artifacts" / "hall_of_fame" / e["genome_hash"]
            assert len(list(folder.iterdir())) == 7 and "- [x] No look-ahead" in (folder / "packet.md").read_text()
        status = wait_for(lambda: (s := json.loads(omp("hof", "sync", "--json").stdout)).get("pending", 0) == 0
                          and s.get("last_sync") and s, timeout=30, what="the mirror in step")
        assert status["configured"] and not status.get("error")
        with psycopg.connect(f"postgresql://postgres@127.0.0.1:5432/{mirror_db}") as conn:
            mirrored = {r[0]: r[1] for r in conn.execute("SELECT genome_hash, state FROM hof_entries_mirror")}
        assert mirrored == {e["genome_hash"]: "active" for e in entries}
        import urllib.request
        scrape = urllib.request.urlopen(f"http://127.0.0.1:{promoter.metrics_port}/metrics", timeout=10).read().decode()
        assert 'omp_promoter_decisions_total{outcome="promoted"} 1.0' in scrape
        assert f'omp_hof_entries{{state="active"}} {float(len(entries))}' in scrape
        assert "omp_hof_mirror_pending 0.0" in scrape and "omp_hof_last_promotion_timestamp_seconds" in scrape
        check = omp("hof", "check", "--json")
        report = json.loads(check.stdout)
        assert check.returncode == 0 and report["ok"] is True and report["items"], report
    finally:
        _pg_drop(mirror_db)
