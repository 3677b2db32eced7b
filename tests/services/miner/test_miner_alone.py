"""The miner on its own (no scheduler: its reports wait, which is what it does when the scheduler is
down): runs per attempt, and errors that blame the right party."""
from __future__ import annotations

import json
import logging
import re

import grpc
import psutil
import pytest

from helpers_services import CONFIGS, miner_client, wait_for, write_settings
from omp.v1 import common_pb2 as pb, miner_pb2 as mpb
from omp_services.common import settings as settings_mod
from omp_services.common.errors import DeadlineExceeded, FailedPrecondition, InvalidArgument, OmpError, Unavailable
from omp_services.miner.app import MinerApp
from omp_services.miner.settings import SECTIONS


@pytest.fixture
def miner(tmp_path):
    cfg_root = tmp_path / "configs"
    cfg_root.mkdir()
    tiny = (CONFIGS / "tiny.toml").read_text().replace("../../../examples/data/",
                                                       str(CONFIGS.parents[2] / "examples" / "data") + "/")
    (cfg_root / "tiny.toml").write_text(tiny)
    (cfg_root / "long.toml").write_text(re.sub(r"\ngenerations = \d+", "\ngenerations = 100000", tiny))
    path = write_settings(tmp_path, f"sqlite:///{tmp_path / 'omp.db'}", paths={"configs_root": str(cfg_root)})
    settings = settings_mod.load(path, sections=SECTIONS)
    app = MinerApp(settings, "127.0.0.1:1")          # nobody there: reports wait and retry
    app.start()
    client = miner_client(f"127.0.0.1:{app.service.port}")
    yield app, client, cfg_root
    client.close()
    app.stop(1.0)


def test_start_run_is_idempotent_per_attempt(miner):
    app, client, _ = miner
    req = mpb.StartRunRequest(campaign_id="camp_manual", attempt=1, config_path="tiny.toml")
    a = client.call("StartRun", req).run
    b = client.call("StartRun", req).run
    assert a.run_id == b.run_id
    assert len(client.call("ListRuns", mpb.ListRunsRequest(campaign_id="camp_manual")).runs) == 1
    with pytest.raises(FailedPrecondition, match="config_hash"):
        client.call("StartRun", mpb.StartRunRequest(campaign_id="camp_manual", attempt=2, config_path="tiny.toml",
                                                    config_hash="0" * 64))


def test_a_config_that_does_not_validate_is_the_callers_bad_input(miner):
    app, client, root = miner
    text = (root / "tiny.toml").read_text()
    assert re.search(r"\npopulation = \d+", text)
    (root / "bad.toml").write_text(re.sub(r"\npopulation = \d+", "\npopulation = -3", text))
    for method, req in (("ValidateConfig", mpb.ValidateConfigRequest(config_path="bad.toml")),
                        ("StartRun", mpb.StartRunRequest(campaign_id="camp_b", attempt=1, config_path="bad.toml"))):
        with pytest.raises(InvalidArgument, match=r"config_path 'bad.toml': ga.population: must be in 4..100000, "
                                                  r"got -3"):
            client.call(method, req)
    assert client.call("ListRuns", mpb.ListRunsRequest()).runs == []      # nothing started


def test_a_bug_in_the_server_is_internal_and_logged_once_never_the_clients_fault(miner, caplog):
    """A ValueError from deep inside (here: a run folder whose candidates file is not JSON) is the
    server's fault: INTERNAL with a generic message, the traceback logged once."""
    app, client, _ = miner
    run = client.call("StartRun", mpb.StartRunRequest(campaign_id="camp_x", attempt=1, config_path="tiny.toml")).run
    app.runs.store.update(run.run_id, status="completed", run_dir=str(app.settings.runs_dir))
    (app.settings.runs_dir / "candidates.json").write_text("{not json")
    with caplog.at_level(logging.ERROR), pytest.raises(OmpError) as err:
        client.call("ExportTopCandidates", mpb.ExportTopCandidatesRequest(run_id=run.run_id, top=1))
    assert err.value.code == grpc.StatusCode.INTERNAL
    assert str(err.value) == "internal error: JSONDecodeError"
    logged = [r for r in caplog.records if r.levelno >= logging.ERROR and "ExportTopCandidates" in r.getMessage()]
    assert len(logged) == 1 and logged[0].exc_info is not None
    json.dumps(str(err.value))      # the message carries no traceback or data


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_a_later_attempt_stops_the_earlier_run_before_it_starts_and_an_earlier_one_is_refused(miner):
    app, client, _ = miner
    first = client.call("StartRun", mpb.StartRunRequest(campaign_id="camp_s", attempt=1, config_path="long.toml")).run
    assert _alive(first.pid)
    second = client.call("StartRun", mpb.StartRunRequest(campaign_id="camp_s", attempt=3, config_path="long.toml"),
                         timeout=60).run
    assert not _alive(first.pid) and _alive(second.pid)          # never two live runs of one campaign
    old = client.call("GetRun", mpb.GetRunRequest(run_id=first.run_id)).run
    assert old.status == pb.RUN_STATUS_CANCELLED
    running = client.call("ListRuns", mpb.ListRunsRequest(campaign_id="camp_s", status=pb.RUN_STATUS_RUNNING)).runs
    assert [r.run_id for r in running] == [second.run_id]
    with pytest.raises(FailedPrecondition, match="superseded by attempt 3"):
        client.call("StartRun", mpb.StartRunRequest(campaign_id="camp_s", attempt=2, config_path="long.toml"))
    # cancel is idempotent: a second cancel, and a cancel of an ended run, change nothing
    a = client.call("CancelRun", mpb.CancelRunRequest(run_id=second.run_id, reason="done looking")).run
    b = client.call("CancelRun", mpb.CancelRunRequest(run_id=second.run_id, reason="again")).run
    assert a.run_id == b.run_id == second.run_id
    wait_for(lambda: not _alive(second.pid), timeout=30, what="the cancelled run to exit")
    c = client.call("CancelRun", mpb.CancelRunRequest(run_id=first.run_id, reason="long gone")).run
    assert c.status == pb.RUN_STATUS_CANCELLED


def test_nothing_starts_once_draining_or_after_the_callers_deadline(miner):
    app, client, _ = miner
    with pytest.raises(DeadlineExceeded, match="nothing started"):
        app.runs.start("camp_d", 1, "tiny.toml", "", time_left=lambda: 0.0)
    app.runs.draining.set()
    with pytest.raises(Unavailable, match="shutting down"):
        client.call("StartRun", mpb.StartRunRequest(campaign_id="camp_d", attempt=1, config_path="tiny.toml"))
    assert client.call("ListRuns", mpb.ListRunsRequest()).runs == []


def test_a_second_miner_on_the_same_database_keeps_to_its_own_runs(miner, tmp_path):
    """Several miners share one database: a second one (another id) lists every run but only its own
    with this_miner_only, refuses to cancel the first one's run naming its miner, and at its start
    fails none of the first one's running runs as orphaned."""
    app, client, cfg_root = miner
    run = client.call("StartRun", mpb.StartRunRequest(campaign_id="camp_a", attempt=1, config_path="long.toml")).run
    assert run.miner_id == app.miner_id
    path = write_settings(tmp_path, f"sqlite:///{tmp_path / 'omp.db'}", name="second.toml",
                          paths={"configs_root": str(cfg_root), "runs_dir": str(tmp_path / "second")},
                          miner={"id": "second-host"})
    second = MinerApp(settings_mod.load(path, sections=SECTIONS), "127.0.0.1:1")
    assert second.orphans == []
    second.start()
    other = miner_client(f"127.0.0.1:{second.service.port}")
    try:
        assert [r.run_id for r in other.call("ListRuns", mpb.ListRunsRequest()).runs] == [run.run_id]
        assert list(other.call("ListRuns", mpb.ListRunsRequest(this_miner_only=True)).runs) == []
        assert [r.run_id for r in client.call("ListRuns", mpb.ListRunsRequest(this_miner_only=True)).runs] == \
            [run.run_id]
        with pytest.raises(FailedPrecondition, match=f"runs on the miner {app.miner_id}: cancel it there"):
            other.call("CancelRun", mpb.CancelRunRequest(run_id=run.run_id, reason="wrong miner"))
        got = client.call("GetRun", mpb.GetRunRequest(run_id=run.run_id)).run
        assert got.status == pb.RUN_STATUS_RUNNING
    finally:
        other.close()
        second.stop(1.0)
