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
from services.common.clients import Client

pytestmark = pytest.mark.slow      # four services as processes, a real run


def _events(client, kind):
    return [e for e in client.stream("WatchEvents", spb.WatchEventsRequest(after_seq=0), timeout=10) if e.kind == kind]


def test_a_completed_run_is_judged_once_even_when_the_promoter_was_down(services, tmp_path, database_url):
    config = write_settings(tmp_path, database_url)
    pport, wport = free_port(), free_port()
    peers = ["--promoter", f"127.0.0.1:{pport}", "--watchdog", f"127.0.0.1:{wport}"]
    sched = services.start("services.scheduler.app", config, *peers)
    services.start("services.miner.app", config, "--scheduler", sched.address, "--watchdog", f"127.0.0.1:{wport}")
    client = scheduler_client(sched.address)
    c = client.call("AddCampaign", spb.AddCampaignRequest(campaign=pb.Campaign(
        name="tiny", config_path="tiny.toml", priority=1), actor="t"))
    client.call("StartDaemon", spb.DaemonRequest(actor="t"))
    set_data_ready(client)
    # the promoter is not running: the completed run waits in the outbox, retried
    wait_for(lambda: _events(client, "promotion.pending"), timeout=120, what="the completed run")
    run_id = json.loads(_events(client, "promotion.pending")[0].detail_json)["run_id"]
    assert not _events(client, "promotion.judged")
    promoter = services.start("services.promoter.app", config, "--port", str(pport), "--watchdog",
                              f"127.0.0.1:{wport}")
    judged = wait_for(lambda: _events(client, "promotion.judged"), timeout=60, what="the hand-off, retried")
    assert len(judged) == 1 and run_id in judged[0].message
    pclient = Client(promoter_pb2_grpc.PromoterServiceStub, promoter.address)
    d = pclient.call("GetDecision", ppb.GetDecisionRequest(run_id=run_id))
    assert d.stored and d.campaign_id == c.id and d.outcome in (ppb.PROMOTION_OUTCOME_REJECTED,
                                                                ppb.PROMOTION_OUTCOME_BLOCKED,
                                                                ppb.PROMOTION_OUTCOME_PROMOTED,
                                                                ppb.PROMOTION_OUTCOME_INCOMPLETE)
    assert f"judged: {ppb.PromotionOutcome.Name(d.outcome).split('_')[-1].lower()}" in judged[0].message
    # asked again (a retry after a lost answer): the same decision, nothing new
    again = pclient.call("PromoteRun", ppb.PromoteRunRequest(run_id=run_id, actor="t"))
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
    assert listed.returncode == 0 and isinstance(json.loads(listed.stdout), list)
    missing = omp("promote-check", "run_nothing_here")
    assert missing.returncode == 2 and "no run folder" in missing.stderr
