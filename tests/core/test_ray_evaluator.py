"""The Ray Core evaluator against a real Ray cluster on this machine: a head and a second node, each
its own processes (ray.cluster_utils starts them as `ray start` would), with Ray's token
authentication on. The same bits as the local evaluator, the same run folder byte for byte (from
`omp run-campaign --backend ray`), the same folder when an actor is killed mid-run, batches of a
lost node given to the survivors, a node that sees other data refusing, and a driver without the
token refused by the cluster."""
from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import psutil
import pytest

from helpers_core import FIXTURES, ROOT
from omp_core import _draws, config as config_mod, data, ga
from omp_core.evaluator import LocalEvaluator, SnapshotSource, campaign_snapshot
from omp_core.features import FeatureBank
from omp_core.ray_evaluator import NAMESPACE, RayEvaluator, SnapshotUnavailable, batch_size
from omp_core.run import run_campaign

# real processes, seconds each; one cluster at a time on this machine (the group keeps these tests
# on one pytest worker)
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("ray")]

TINY = FIXTURES / "campaigns" / "tiny.toml"
ray = None          # the module, once the cluster fixture has imported it


def folder_bytes(run_dir: Path) -> dict:
    return {str(p.relative_to(run_dir)): p.read_bytes() for p in sorted(run_dir.rglob("*"))
            if p.is_file() and p.name != "timings.json"}


@pytest.fixture(scope="module")
def cluster():
    """A head and a second node (one CPU each), token authentication on; this process is a driver.
    Ray reads its authentication settings when it is imported: they are set first, and Ray is
    imported here, not at the top of the module."""
    folder = Path(tempfile.mkdtemp(prefix="omp-ray-", dir="/tmp"))      # Ray's socket paths must be short
    token = folder / "token"
    token.write_text(secrets.token_hex(32))
    auth = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(token), "RAY_USAGE_STATS_ENABLED": "0"}
    saved = {k: os.environ.get(k) for k in auth}
    os.environ.update(auth)
    Path(tempfile.gettempdir(), "ray").mkdir(exist_ok=True)          # where Ray notes the current cluster
    global ray
    import ray
    from ray.cluster_utils import Cluster
    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False,
                                                      "temp_dir": str(folder / "t")})
    second = c.add_node(num_cpus=1)
    c.wait_for_nodes()
    ray.init(address=c.address, namespace=NAMESPACE, log_to_driver=False)
    try:
        yield c, second, auth
    finally:
        ray.shutdown()
        c.shutdown()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@pytest.fixture(scope="module")
def tiny_snapshot():
    cfg = config_mod.load(TINY)
    market = data.load_market(cfg.sources(), cfg.mandate.universe, cfg.data.validation.policy(),
                              min_bars=cfg.data.min_bars)
    split = int(round(market.n_bars * (1.0 - cfg.validation.holdout_fraction)))
    bank = FeatureBank.build(market, cfg.strategy.feature_names())
    snap = campaign_snapshot(cfg, market, bank, 0, split)
    space = ga.SearchSpace(cfg.strategy, bank, split)
    rng = _draws.Stream((5,))
    genomes = [space.genome(rng) for _ in range(300)]
    return SnapshotSource(str(TINY.resolve()), None, 0, split, market.snapshot_id, cfg.config_hash), snap, genomes


def test_the_batch_size_keeps_two_batches_per_actor_within_bounds():
    assert batch_size(1000, 2) == 250 and batch_size(10, 4) == 64 and batch_size(10**6, 1) == 4096
    assert batch_size(0, 0) == 64


def test_ray_workers_give_the_local_evaluators_bits_on_both_nodes(cluster, tiny_snapshot):
    source, snap, genomes = tiny_snapshot
    local = LocalEvaluator(1)
    local.register("w", snap)
    want = local.evaluate(genomes, "w")
    ev = RayEvaluator(threads_per_node=1)
    try:
        ev.register("w", source, snap.scoring, len(snap.market.symbols))
        got = ev.evaluate(genomes, "w")
        figures = ev.figures()
    finally:
        ev.close()
    assert got.tobytes() == want.tobytes()                  # bit for bit, rows by genome index
    assert figures["actors"] == 2 and figures["batches"] == 4 and figures["batch_size"] == 75


def test_a_node_that_sees_other_data_refuses_to_score(cluster, tiny_snapshot):
    source, snap, genomes = tiny_snapshot
    ev = RayEvaluator(threads_per_node=1)
    try:
        ev.register("other", SnapshotSource(source.config_path, None, source.start, source.end, "0" * 64),
                    snap.scoring, len(snap.market.symbols))
        with pytest.raises(SnapshotUnavailable, match="could not be built: ValueError: .*this host sees other files"):
            ev.evaluate(genomes[:10], "other")
        ev.register("edited", SnapshotSource(source.config_path, None, source.start, source.end,
                                             source.data_snapshot_id, "f" * 64), snap.scoring, len(snap.market.symbols))
        with pytest.raises(SnapshotUnavailable, match="the config changed"):
            ev.evaluate(genomes[:10], "edited")
        with pytest.raises(KeyError, match="unknown snapshot id 'nope'"):
            ev.evaluate(genomes[:10], "nope")
    finally:
        ev.close()


def test_omp_run_campaign_on_ray_writes_the_local_run_folder_byte_for_byte(cluster, tmp_path):
    c, _, auth = cluster
    local = run_campaign(TINY, tmp_path / "local", threads=1)
    r = subprocess.run([sys.executable, "-m", "omp_cli", "run-campaign", str(TINY), "--out", str(tmp_path / "ray"),
                        "--threads", "1", "--backend", "ray", "--ray-address", c.address, "--json"],
                       capture_output=True, text=True, cwd=ROOT, timeout=300, env={**os.environ, **auth})
    assert r.returncode == 0, r.stderr[-3000:]
    run_dir = Path(json.loads(r.stdout)["run_dir"])
    assert folder_bytes(run_dir) == folder_bytes(local.run_dir)
    timings = json.loads((run_dir / "timings.json").read_text())
    assert timings["backend"] == "ray" and timings["ray"]["actors"] == 2 and timings["ray"]["genomes"] > 0


def test_a_driver_without_the_token_is_refused_by_the_cluster(cluster):
    c, _, auth = cluster
    env = {k: v for k, v in os.environ.items() if k not in auth}
    probe = f"import ray; ray.init(address={c.address!r}, log_to_driver=False)"
    r = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, env=env)
    assert r.returncode != 0 and "ConnectionError" in r.stderr


def _scorer_pids() -> list[int]:
    """The worker processes of the scorer actors alive now (those of a closed evaluator may still
    be dying: they do not answer)."""
    pids = []
    for a in ray.util.list_named_actors(all_namespaces=True):
        if a["name"].startswith("omp-scorer"):
            try:
                pids.append(ray.get(ray.get_actor(a["name"], namespace=NAMESPACE).describe.remote(), timeout=10)["pid"])
            except (ValueError, ray.exceptions.RayError):
                continue
    return pids


def test_actors_killed_mid_run_give_the_same_run_folder(cluster, tmp_path):
    local = run_campaign(TINY, tmp_path / "local", threads=1)
    killed = []

    def kill_them(p):
        if not killed and p.generation == 2:
            # the run's actors (and any an earlier evaluator left dying) lose their worker processes
            for pid in _scorer_pids():
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
    ray_run = run_campaign(TINY, tmp_path / "ray", threads=1, backend="ray", progress=kill_them)
    assert killed
    timings = json.loads((ray_run.run_dir / "timings.json").read_text())
    assert timings["ray"]["resubmitted_batches"] >= 1
    assert folder_bytes(ray_run.run_dir) == folder_bytes(local.run_dir)


def test_a_miner_set_to_the_ray_backend_runs_its_campaigns_on_the_cluster(cluster, tmp_path, monkeypatch):
    """[miner] backend = "ray": the run process scores on the cluster, authenticated by the token
    file the miner's settings name (the miner's own environment has no token)."""
    from omp.v1 import common_pb2 as pb, miner_pb2 as mpb, miner_pb2_grpc
    from omp_services.common import settings as settings_mod
    from omp_services.common.clients import Client
    from omp_services.miner.app import MinerApp
    from omp_services.miner.settings import SECTIONS
    c, _, auth = cluster
    for k in auth:
        monkeypatch.delenv(k, raising=False)
    configs = tmp_path / "configs"
    configs.mkdir()
    (configs / "tiny.toml").write_text(TINY.read_text().replace("../../../examples/data/", str(ROOT / "examples" / "data") + "/"))
    settings = settings_mod.load(overrides={
        "paths": {"configs_root": str(configs), "data_dir": str(tmp_path / "var"), "runs_dir": str(tmp_path / "runs")},
        "database": {"url": f"sqlite:///{tmp_path / 'omp.db'}"},
        "miner": {"port": 0, "metrics_port": 0, "threads": 1, "drain_s": 0.0, "backend": "ray",
                  "ray_address": c.address, "ray_auth_token_file": auth["RAY_AUTH_TOKEN_PATH"]}}, sections=SECTIONS)
    app = MinerApp(settings, "127.0.0.1:1")          # no scheduler: its reports wait
    app.start()
    client = Client(miner_pb2_grpc.MinerServiceStub, f"127.0.0.1:{app.service.port}")
    try:
        run = client.call("StartRun", mpb.StartRunRequest(campaign_id="camp_ray", attempt=1,
                                                          config_path="tiny.toml")).run
        # the run as it changes, until it ends (the miner's own watch; a deadline, no polling)
        for change in client.stream("WatchRun", mpb.WatchRunRequest(run_id=run.run_id), timeout=180):
            run = change.run
        assert run.status == pb.RUN_STATUS_COMPLETED, run.error
        timings = json.loads((Path(run.run_dir) / "timings.json").read_text())
        assert timings["backend"] == "ray" and timings["ray"]["actors"] == 2 and timings["ray"]["genomes"] > 0
    finally:
        client.close()
        app.stop(1.0)


def test_an_unreadable_token_file_stops_the_miner_naming_the_key(tmp_path):
    from omp_services.common import settings as settings_mod
    from omp_services.miner.app import MinerApp
    from omp_services.miner.settings import SECTIONS
    settings = settings_mod.load(overrides={
        "paths": {"data_dir": str(tmp_path / "var"), "runs_dir": str(tmp_path / "runs")},
        "database": {"url": f"sqlite:///{tmp_path / 'omp.db'}"},
        "miner": {"port": 0, "metrics_port": 0, "backend": "ray", "ray_auth_token_file": str(tmp_path / "nope")}},
        sections=SECTIONS)
    with pytest.raises(ValueError, match="miner.ray_auth_token_file: must be a readable file"):
        MinerApp(settings, "127.0.0.1:1")


@contextlib.contextmanager
def _warmed(tiny_snapshot):
    """A RayEvaluator whose actors have built the snapshot "w", and the local evaluator of it."""
    source, snap, genomes = tiny_snapshot
    local = LocalEvaluator(1)
    local.register("w", snap)
    ev = RayEvaluator(threads_per_node=1)
    try:
        ev.register("w", source, snap.scoring, len(snap.market.symbols))
        ev.evaluate(genomes[:10], "w")
        yield ev, local
    finally:
        ev.close()


def test_when_every_actor_is_lost_new_ones_take_the_batches(cluster, tiny_snapshot):
    genomes = tiny_snapshot[2]
    with _warmed(tiny_snapshot) as (ev, local):
        for actor in ev.actors:                                 # both worker processes die
            os.kill(ray.get(actor.describe.remote())["pid"], signal.SIGKILL)
        got = ev.evaluate(genomes, "w")
        assert ev.resubmitted >= 2 and len(ev.actors) == 2
    assert got.tobytes() == local.evaluate(genomes, "w").tobytes()


def test_a_cluster_that_does_not_answer_fails_at_once_and_leaves_no_run_folder(tmp_path):
    r = subprocess.run([sys.executable, "-m", "omp_cli", "run-campaign", str(TINY), "--out", str(tmp_path / "out"),
                        "--backend", "ray", "--ray-address", "127.0.0.1:1", "--json"],
                       capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert r.returncode == 1, r.stderr[-2000:]
    assert "the Ray cluster at 127.0.0.1:1 does not answer" in json.loads(r.stdout)["error"]["message"]
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


# last: it kills the second node of the module's cluster
def test_the_batches_of_a_lost_node_go_to_the_surviving_actors(cluster, tiny_snapshot):
    c, second, _ = cluster
    genomes = tiny_snapshot[2]
    with _warmed(tiny_snapshot) as (ev, local):
        # the second node dies at once: its raylet and every process under it (its actor's worker
        # among them), SIGKILL, as when a host loses power
        raylet = psutil.Process(second.all_processes["raylet"][0].process.pid)
        for p in [*raylet.children(recursive=True), raylet]:
            p.kill()
        got = ev.evaluate(genomes, "w")
        assert ev.resubmitted >= 1
    assert got.tobytes() == local.evaluate(genomes, "w").tobytes()
