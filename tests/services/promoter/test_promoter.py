"""The promoter's domain on both databases, over real run folders: the gates in order with their
values and thresholds, artifacts written whole and read-only, idempotency by run id, one entry per
genome, state changes with history, and a kill at each step of a promotion leaving exactly one row
and one complete folder per genome.

The run folders are real (omp_core's tiny campaign); where a test needs a candidate to pass or
fail a given gate, it rewrites that candidate's figures in candidates.json: the gates read nothing
else, and the real figures of a tiny run fail them all."""
from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from omp_core.run import run_campaign
from omp_services.common.clock import FakeClock
from omp_services.common.errors import FailedPrecondition, InvalidArgument, NotFound
from omp_services.common.vocabulary import EntryState, PromotionOutcome
from omp_services.promoter.promoter import Promoter
from omp_services.promoter.repository import PromoterStore
from omp_services.promoter.settings import AutoRejectSettings, PromotionSettings

ROOT = Path(__file__).resolve().parents[3]
TINY = ROOT / "tests" / "fixtures" / "campaigns" / "tiny.toml"
GOOD = {"sharpe": 1.4, "max_drawdown": 0.12, "trades": 25, "turnover_per_year": 6.0}


@pytest.fixture(scope="module")
def real_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    r = run_campaign(TINY, out, run_id="run_source",
                     provenance={"campaign_id": "camp_1", "attempt": 1, "environment": "dev"})
    return r.run_dir


def make_run(runs: Path, source: Path, run_id: str, *, good: int = 0, pbo: float | None = None, dirty=False,
             variance=None, **manifest_over) -> Path:
    """A copy of a real run folder as ``run_id``; its first ``good`` candidates get passing figures."""
    d = runs / run_id
    shutil.copytree(source, d)
    m = json.loads((d / "manifest.json").read_text())
    m.update(run_id=run_id, git_dirty=dirty, git_sha=m["git_sha"] if m["git_sha"] != "unknown" else "a" * 40,
             **manifest_over)
    (d / "manifest.json").write_text(json.dumps(m))
    c = json.loads((d / "candidates.json").read_text())
    c["run_id"] = run_id
    if good or pbo is not None:
        c["pbo"]["pbo"] = 0.1 if pbo is None else pbo
    for k, cand in enumerate(c["candidates"]):
        cand["candidate_id"] = f"{run_id}-c{k + 1:02d}"
        if k < good:
            cand["out_of_sample"].update(GOOD, sharpe=GOOD["sharpe"] + k * 0.1)
            cand["dsr"], cand["stress"]["passed"] = 0.9, 4
    c["sharpe_variance"] = variance if variance is not None else {"in_sample": 0.2, "out_of_sample": 0.3}
    (d / "candidates.json").write_text(json.dumps(c))
    return d


@pytest.fixture
def promoter(db, tmp_path):
    runs, hof = tmp_path / "runs", tmp_path / "artifacts" / "hall_of_fame"
    runs.mkdir()
    found = []
    p = Promoter(PromoterStore(db), runs, hof, PromotionSettings(), AutoRejectSettings(), "dev", FakeClock(),
                 found.append)
    p.found = found
    return p


def _gates(d):
    return {g.gate: g for g in d.run_gates}


def test_a_run_passing_every_gate_enters_with_artifacts_and_provenance(promoter, real_run):
    make_run(promoter.runs_dir, real_run, "run_good", good=1)
    check = promoter.check("run_good")
    assert check.outcome is PromotionOutcome.PROMOTED and not check.stored
    assert promoter.entries(None, 0, 10)[1] == 0 and not any(promoter.hof_dir.iterdir())    # a check writes nothing
    d = promoter.promote("run_good", "camp_1", "op")
    assert d.outcome is PromotionOutcome.PROMOTED and d.stored
    won = [c for c in d.candidates if c.outcome is PromotionOutcome.PROMOTED]
    assert len(won) == 1 and won[0].entry_state is EntryState.ACTIVE
    lost = [c for c in d.candidates if c.outcome is PromotionOutcome.REJECTED]
    assert lost and all(any(not g.passed for g in c.gates) for c in lost)
    e = promoter.entry(won[0].genome_hash)
    assert (e.run_id, e.campaign_id, e.environment, e.state) == ("run_good", "camp_1", "dev", EntryState.ACTIVE)
    assert e.config_hash and e.snapshot_id and e.git_sha and e.seeds and e.history[0].actor == "op"
    folder = promoter.hof_dir / e.genome_hash
    assert sorted(p.name for p in folder.iterdir()) == ["equity.png", "metrics.json", "oos_returns.csv", "packet.md",
                                                        "provenance.json", "strategy.toml", "trades.csv"]
    assert not os.access(folder, os.W_OK) or os.geteuid() == 0      # read-only (root writes anyway)
    assert oct(folder.stat().st_mode & 0o777) == "0o555"
    prov = json.loads((folder / "provenance.json").read_text())
    assert (prov["run_id"], prov["candidate_id"], prov["genome_hash"]) == ("run_good", e.candidate_id, e.genome_hash)
    packet = promoter.packet(e.genome_hash)
    assert "- [x] OOS Sharpe >= threshold: 1.4" in packet and "- [x] Ready for Hall of Fame promotion" in packet
    again = promoter.promote("run_good", "camp_1", "someone else")          # idempotent by run id
    assert again.decided_at == d.decided_at and promoter.entries(None, 0, 10)[1] == 1
    assert promoter.decision("run_good").outcome is PromotionOutcome.PROMOTED


def test_the_gates_name_what_failed_with_values_and_thresholds(promoter, real_run):
    make_run(promoter.runs_dir, real_run, "run_real")                       # the tiny run's own figures
    d = promoter.promote("run_real", "", "op")
    assert d.outcome is PromotionOutcome.REJECTED and promoter.entries(None, 0, 10)[1] == 0
    assert "dsr" in d.failed()                                              # a GA's thousands of trials
    g = next(g for g in d.candidates[0].gates if g.gate == "dsr")
    assert g.threshold == 0.4 and not g.passed and "DSR" in g.detail and "< 0.4" in g.detail
    make_run(promoter.runs_dir, real_run, "run_overfit", good=2, pbo=0.5)
    d = promoter.promote("run_overfit", "", "op")
    assert d.outcome is PromotionOutcome.REJECTED
    g = next(g for g in d.candidates[0].gates if g.gate == "auto_reject_pbo")
    assert (g.value, g.threshold, g.passed) == (0.5, 0.4, False)


def test_incomplete_provenance_dirty_code_or_another_environment_promote_nothing(promoter, real_run):
    cases = {"run_nosha": {"git_sha": "unknown"}, "run_nocamp": {"campaign_id": ""},
             "run_prod": {"environment": "prod"}}
    for run_id, over in cases.items():
        d = make_run(promoter.runs_dir, real_run, run_id, good=1)
        m = json.loads((d / "manifest.json").read_text())
        m.update(over)
        (d / "manifest.json").write_text(json.dumps(m))
        got = promoter.promote(run_id, "", "op")
        assert got.outcome is PromotionOutcome.INCOMPLETE and got.candidates == (), run_id
    assert "provenance" in promoter.decision("run_nosha").failed()
    assert "environment" in promoter.decision("run_prod").failed()
    make_run(promoter.runs_dir, real_run, "run_dirty", good=1, dirty=True)
    assert promoter.promote("run_dirty", "", "op").failed() == ["code_version"]
    assert promoter.entries(None, 0, 10)[1] == 0


def test_collapsed_metrics_block_the_whole_run_and_open_a_sev0(promoter, real_run):
    make_run(promoter.runs_dir, real_run, "run_flat", good=3, variance={"in_sample": 0.0, "out_of_sample": 0.0})
    d = promoter.promote("run_flat", "", "op")
    assert d.outcome is PromotionOutcome.BLOCKED and d.candidates == () and promoter.entries(None, 0, 10)[1] == 0
    (f,) = promoter.found
    assert (f.severity, f.kind, f.key, f.runs) == (0, "variance_gate", "run_flat", ("run_flat",))
    assert _gates(d)["variance_sanity"].value == 0.0 and _gates(d)["variance_sanity"].threshold == 1e-6


def test_one_entry_per_genome_later_runs_are_evidence_and_high_turnover_waits_for_review(promoter, real_run):
    make_run(promoter.runs_dir, real_run, "run_one", good=1)
    first = promoter.promote("run_one", "", "op")
    make_run(promoter.runs_dir, real_run, "run_two", good=1)
    second = promoter.promote("run_two", "", "op")
    (c,) = [c for c in second.candidates if c.outcome is PromotionOutcome.PROMOTED]
    assert c.already_in and promoter.entries(None, 0, 10)[1] == 1
    e = promoter.entry(c.genome_hash)
    assert e.run_id == "run_one" and e.evidence_runs == ("run_two",)
    assert first.candidates[0].genome_hash == c.genome_hash
    busy = make_run(promoter.runs_dir, real_run, "run_busy", good=2)
    cands = json.loads((busy / "candidates.json").read_text())
    cands["candidates"][1]["out_of_sample"]["turnover_per_year"] = 400.0
    (busy / "candidates.json").write_text(json.dumps(cands))
    d = promoter.promote("run_busy", "", "op")
    hot = next(c for c in d.candidates if c.genome_hash == cands["candidates"][1]["genome_hash"])
    assert hot.entry_state is EntryState.PENDING_EXECUTION_REVIEW
    assert "- [ ] Trader-expert execution reviewed" in promoter.packet(hot.genome_hash)


def test_state_changes_need_a_reason_and_are_kept_as_history(promoter, real_run):
    make_run(promoter.runs_dir, real_run, "run_good", good=1)
    h = promoter.promote("run_good", "", "op").candidates[0].genome_hash
    with pytest.raises(InvalidArgument, match="reason is required"):
        promoter.set_state(h, EntryState.RESEARCH, "op", " ")
    with pytest.raises(FailedPrecondition, match="active already"):
        promoter.set_state(h, EntryState.ACTIVE, "op", "why not")
    with pytest.raises(NotFound):
        promoter.set_state("f" * 64, EntryState.RESEARCH, "op", "gone")
    assert promoter.entry(h).state is EntryState.ACTIVE                 # the refusals changed nothing
    e = promoter.set_state(h, EntryState.REMOVED, "admin", "a look-ahead bug in its feature")
    assert e.state is EntryState.REMOVED and [(x.from_state, x.to_state) for x in e.history] == \
        [(None, EntryState.ACTIVE), (EntryState.ACTIVE, EntryState.REMOVED)]
    assert (promoter.hof_dir / h / "strategy.toml").exists()            # removed: the row and artifacts stay


def test_bad_requests_change_nothing(promoter, real_run):
    with pytest.raises(InvalidArgument, match="run_id must look like"):
        promoter.promote("../etc", "", "op")
    with pytest.raises(NotFound, match="no run folder"):
        promoter.promote("run_missing", "", "op")
    d = make_run(promoter.runs_dir, real_run, "run_cut", good=1)
    (d / "manifest.json").unlink()                                     # stopped before the end
    with pytest.raises(FailedPrecondition, match="did not complete"):
        promoter.promote("run_cut", "", "op")
    make_run(promoter.runs_dir, real_run, "run_other", good=1)
    with pytest.raises(FailedPrecondition, match="campaign_id"):
        promoter.promote("run_other", "camp_9", "op")
    with pytest.raises(NotFound):
        promoter.decision("run_cut")
    assert promoter.entries(None, 0, 10)[1] == 0 and not any(promoter.hof_dir.iterdir())


def test_a_planted_look_ahead_feature_is_caught_and_unverifiable_data_does_not_pass(promoter, real_run):
    import numpy as np
    from omp_core.features import FeatureBank

    def peeking(market, names):             # the bug: every feature shows tomorrow's value today
        bank = FeatureBank.build(market, names)
        vals = np.array(bank.values)
        vals[..., :-1] = vals[..., 1:]
        return FeatureBank(bank.names, vals)
    make_run(promoter.runs_dir, real_run, "run_honest", good=1)
    assert promoter.check("run_honest").outcome is PromotionOutcome.PROMOTED      # the engine's features
    promoter.build_features = peeking
    d = promoter.promote("run_honest", "", "op")
    assert d.outcome is PromotionOutcome.REJECTED and promoter.entries(None, 0, 10)[1] == 0
    g = next(g for g in d.candidates[0].gates if g.gate == "lookahead")
    assert not g.passed and g.detail.startswith("LOOK-AHEAD") and "differs from" in g.detail
    assert [(f.severity, f.kind) for f in promoter.found] == [(1, "lookahead")] * len(d.candidates)
    promoter.build_features = FeatureBank.build
    moved = make_run(promoter.runs_dir, real_run, "run_moved", good=1)
    m = json.loads((moved / "manifest.json").read_text())
    m["snapshot_id"] = "0" * 64                                         # not the data the run used
    (moved / "manifest.json").write_text(json.dumps(m))
    g = next(g for g in promoter.check("run_moved").candidates[0].gates if g.gate == "lookahead")
    assert not g.passed and "cannot be checked: the data changed since the run" in g.detail


def test_an_orphan_folder_of_another_run_never_becomes_an_entrys_artifacts(promoter, real_run):
    """A promotion killed between its folder and its row leaves a folder nobody points to; when
    another run enters the same genome first, the orphan is set aside, not reused."""
    from omp_core.atomic import write_folder
    make_run(promoter.runs_dir, real_run, "run_late", good=1)
    h = promoter.check("run_late").candidates[0].genome_hash
    write_folder(promoter.hof_dir / h, {"provenance.json": json.dumps({"run_id": "run_killed"}).encode()},
                 read_only=True)
    promoter.promote("run_late", "", "op")
    assert json.loads((promoter.hof_dir / h / "provenance.json").read_text())["run_id"] == "run_late"
    assert len(list((promoter.hof_dir / h).iterdir())) == 7
    assert [p.name for p in promoter.hof_dir.iterdir() if p.name.startswith(".")] == \
        [f".{h}.run_killed.orphan.tmpdir"]                      # debris: removed at the next start
    Promoter(promoter.store, promoter.runs_dir, promoter.hof_dir, PromotionSettings(), AutoRejectSettings(), "dev",
             FakeClock())
    assert [p.name for p in promoter.hof_dir.iterdir()] == [h]


@pytest.mark.slow
@pytest.mark.parametrize("step", ["decide", "artifact", "row", "mirror"])
def test_a_kill_at_each_step_of_a_promotion_leaves_one_row_and_one_whole_folder(tmp_path, real_run, step):
    """A real process is killed (SIGKILL, by itself, at the step) in the middle of a promotion,
    then a new promoter promotes the same run: one row, one complete folder, no partial one; and
    killed halfway through a mirror batch (a real PostgreSQL), the next sync completes the mirror."""
    from helpers_services import _pg_create, _pg_drop
    runs, hof, db = tmp_path / "runs", tmp_path / "hof", tmp_path / "omp.db"
    runs.mkdir()
    make_run(runs, real_run, "run_good", good=2)
    mirror_db = _pg_create() if step == "mirror" else ""
    mirror_url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{mirror_db}"
    script = f"""
import os, signal, sys
sys.path.insert(0, {str(ROOT)!r})
from pathlib import Path
from omp_core import atomic
from omp_services.common.clock import SystemClock
from omp_services.common.storage.db import Database
from omp_services.migrations import migrate
from omp_services.promoter import artifacts, promoter as mod
from omp_services.promoter.repository import PromoterStore
from omp_services.promoter.settings import AutoRejectSettings, PromotionSettings
step = {step!r}
def die(*a, **k):
    os.kill(os.getpid(), signal.SIGKILL)
if step == "decide":
    mod.judge = lambda *a, **k: die()
elif step == "artifact":      # mid-write of the second file of the first folder
    real_open, n = open, [0]
    def dying_open(path, mode="r", *a, **k):
        if "tmpdir" in str(path) and "w" in mode:
            n[0] += 1
            if n[0] == 2:
                die()
        return real_open(path, mode, *a, **k)
    atomic.open = dying_open
elif step == "row":
    PromoterStore.tx = lambda self: die()
db = Database("sqlite:///{db}")
migrate(db)
p = mod.Promoter(PromoterStore(db), Path({str(runs)!r}), Path({str(hof)!r}), PromotionSettings(),
                 AutoRejectSettings(), "dev", SystemClock())
p.promote("run_good", "", "op")
if step == "mirror":          # the second row of the batch: the first is sent, nothing is committed
    from omp_services.promoter import repository
    from omp_services.promoter.mirror import Mirror
    real_insert, n = repository._dialect_insert, [0]
    def dying_insert(name):
        n[0] += 1
        if n[0] == 2:
            die()
        return real_insert(name)
    repository._dialect_insert = dying_insert
    Mirror(p.store, repository.MirrorTarget({mirror_url!r}), SystemClock()).sync()
"""
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == -9, r.stderr
    from omp_services.common.storage.db import Database
    from omp_services.migrations import migrate
    database = Database(f"sqlite:///{db}")
    migrate(database)
    p = Promoter(PromoterStore(database), runs, hof, PromotionSettings(), AutoRejectSettings(), "dev", FakeClock())
    d = p.promote("run_good", "", "op")
    entries, total = p.entries(None, 0, 10)
    assert d.outcome is PromotionOutcome.PROMOTED and total == 2
    assert sorted(x.name for x in hof.iterdir()) == sorted(e.genome_hash for e in entries)   # no partial folder
    for e in entries:
        assert len(list((hof / e.genome_hash).iterdir())) == 7
        assert json.loads((hof / e.genome_hash / "provenance.json").read_text())["run_id"] == "run_good"
    assert p.promote("run_good", "", "op").decided_at == d.decided_at
    try:
        if step == "mirror":
            from omp_services.promoter.mirror import Mirror
            from omp_services.promoter.repository import MirrorTarget
            target = MirrorTarget(mirror_url)
            assert Mirror(p.store, target, FakeClock()).sync() == 0
            assert sorted(r["genome_hash"] for r in target.rows()) == sorted(e.genome_hash for e in entries)
            target.close()
    finally:
        database.dispose()
        if mirror_db:
            _pg_drop(mirror_db)
    assert not math.isnan(d.decided_at)


def test_the_postgresql_mirror_converges_through_outages_without_duplicates(promoter, real_run):
    """The mirror is a real PostgreSQL behind a link the test cuts: a sync while it is away fails and
    keeps everything queued; a sync whose answer is lost after the COMMIT sends the same rows again,
    which changes nothing; after the outage the mirror holds exactly the Hall of Fame."""
    from helpers_services import CuttableLink, _pg_create, _pg_drop
    from omp_services.common.errors import DatabaseUnavailable
    from omp_services.promoter.mirror import Mirror
    from omp_services.promoter.repository import MirrorTarget
    name, link = _pg_create(), CuttableLink(("127.0.0.1", 5432))
    target = MirrorTarget(f"postgresql+psycopg://postgres@127.0.0.1:{link.port}/{name}")
    try:
        mirror = Mirror(promoter.store, target, promoter.clock)
        make_run(promoter.runs_dir, real_run, "run_good", good=2)
        hashes = [c.genome_hash for c in promoter.promote("run_good", "", "op").candidates
                  if c.outcome is PromotionOutcome.PROMOTED]
        assert len(hashes) == 2 and mirror.lag()[0] == 2
        link.cut()
        with pytest.raises(DatabaseUnavailable, match="mirror is unavailable"):
            mirror.sync()
        assert mirror.lag()[0] == 2 and mirror.last_sync is None          # nothing taken off the queue
        link.restore()
        assert mirror.sync() == 0 and mirror.last_sync is not None
        promoter.set_state(hashes[0], EntryState.FLAGGED, "op", "revalidation: OOS Sharpe 0.25")
        real_upsert = target.upsert

        def committed_then_lost(rows):              # the COMMIT happens, its answer never arrives
            real_upsert(rows)
            raise DatabaseUnavailable("the Hall of Fame mirror is unavailable: connection lost")
        target.upsert = committed_then_lost
        with pytest.raises(DatabaseUnavailable):
            mirror.sync()
        assert mirror.lag()[0] == 1
        target.upsert = real_upsert
        assert mirror.sync() == 0
        rows = {r["genome_hash"]: r for r in target.rows()}
        assert sorted(rows) == sorted(hashes)                              # one row per genome, no more
        assert rows[hashes[0]]["state"] == "flagged" and rows[hashes[1]]["state"] == "active"
        assert [h["to"] for h in rows[hashes[0]]["history"]] == ["active", "flagged"]
        assert rows[hashes[0]]["run_id"] == "run_good" and rows[hashes[0]]["metrics"]["oos_sharpe"] > 1
    finally:
        target.close()
        link.close()
        _pg_drop(name)


def test_the_integrity_check_finds_what_is_wrong_and_only_that(promoter, real_run):
    import dataclasses
    make_run(promoter.runs_dir, real_run, "run_good", good=2)
    promoter.promote("run_good", "", "op")
    r = promoter.integrity(5, 7)
    assert r.ok, [i for i in r.items if not i.ok]
    md = r.markdown("op")
    assert "## Hall of Fame Integrity Check" in md and "- [x] Local artifacts match DB: yes" in md
    assert md.count(" - provenance complete") == 2 and md.rstrip().endswith("None")
    h = promoter.entries(None, 0, 10)[0][0].genome_hash
    folder = promoter.hof_dir / h
    os.chmod(folder, 0o755)
    (folder / "trades.csv").unlink()                                    # an artifact gone
    (promoter.hof_dir / ("e" * 64)).mkdir()                             # a folder no entry owns
    strict = dataclasses.replace(promoter.cfg, min_oos_sharpe=9.0)       # today's thresholds are stricter
    promoter.cfg = strict
    r = promoter.integrity(5, 7)
    bad = {i.name.split(" - ")[-1] if " - " in i.name else i.name for i in r.items if not i.ok}
    assert not r.ok and bad == {"Local artifacts match DB", "artifacts present", "thresholds still met"}
    assert "revalidate" in next(i.detail for i in r.items if i.name.endswith("thresholds still met") and not i.ok)


def test_a_campaign_promotes_only_from_registered_seeds_and_seed_fishing_is_flagged(promoter, real_run):
    """The first judged run registers its config's seeds; a later run of the campaign found by other
    seeds is rejected until someone registers them with a reason; the same genome reaching the
    gates from two unregistered seeds is flagged (SEV-2)."""
    make_run(promoter.runs_dir, real_run, "run_first", good=1)
    promoter.promote("run_first", "", "op")
    registered = promoter.seeds("camp_1")
    assert [r[1] for r in registered] == [7, 11] and registered[0][3] == "promoter"

    def fished(run_id, seed):
        d = make_run(promoter.runs_dir, real_run, run_id, good=1)
        c = json.loads((d / "candidates.json").read_text())
        for cand in c["candidates"]:
            cand["found_by_seeds"] = [seed]
        (d / "candidates.json").write_text(json.dumps(c))
        return promoter.promote(run_id, "", "op")
    d = fished("run_seed99", 99)
    g = next(g for g in d.candidates[0].gates if g.gate == "seed_registry")
    assert d.outcome is PromotionOutcome.REJECTED and not g.passed and "unregistered seeds [99]" in g.detail
    assert promoter.found == []                                          # one unregistered seed: no flag yet
    fished("run_seed1234", 1234)
    assert {(f.kind, f.severity) for f in promoter.found} == {("seed_fishing", 2)}
    assert any("[99, 1234]" in f.summary for f in promoter.found)
    with pytest.raises(InvalidArgument, match="reason is required"):
        promoter.register_seed("camp_1", 99, "op", "")
    promoter.register_seed("camp_1", 99, "alice", "a second seed for robustness, decided before the run")
    with pytest.raises(FailedPrecondition, match="registered for camp_1 already"):
        promoter.register_seed("camp_1", 99, "alice", "again")
    again = fished("run_seed99_again", 99)
    assert next(g for g in again.candidates[0].gates if g.gate == "seed_registry").passed


def test_a_strategy_whose_oos_returns_repeat_an_entrys_is_rejected_as_redundant(promoter, real_run):
    """The diversity gate compares the replayed out-of-sample returns: a twin of an entry (the same
    rule under another hash) correlates 1.0 and is not entered; a better twin in the same run
    keeps the worse one out too."""
    make_run(promoter.runs_dir, real_run, "run_first", good=1)
    first = promoter.promote("run_first", "", "op").candidates[0]
    assert first.outcome is PromotionOutcome.PROMOTED
    assert next(g for g in first.gates if g.gate == "diversity").passed
    twin = make_run(promoter.runs_dir, real_run, "run_twin", good=2)
    c = json.loads((twin / "candidates.json").read_text())
    c["candidates"][0]["genome_hash"] = "ab" * 32                      # the same rule, another name
    c["candidates"][1]["genome"] = c["candidates"][0]["genome"]         # and a twin of it further down
    c["candidates"][1]["genome_hash"] = "cd" * 32
    (twin / "candidates.json").write_text(json.dumps(c))
    d = promoter.promote("run_twin", "", "op")
    gates = {v.genome_hash: next(g for g in v.gates if g.gate == "diversity") for v in d.candidates
             if v.genome_hash in ("ab" * 32, "cd" * 32)}
    assert not gates["ab" * 32].passed and gates["ab" * 32].value == pytest.approx(1.0)
    assert "redundant" in gates["ab" * 32].detail and first.genome_hash[:12] in gates["ab" * 32].detail
    assert not gates["cd" * 32].passed
    assert d.outcome is PromotionOutcome.REJECTED and promoter.entries(None, 0, 10)[1] == 1


def _planted_run(runs: Path, data: Path, run_id: str, edge_after: float | None = None):
    """The planted-edge campaign on a copy of its data (``data``), optionally with 300 more bars
    whose edge is reversed (after a dip, five losing days): the latest data then disagrees."""
    import importlib.util
    import numpy as np
    spec = importlib.util.spec_from_file_location("planted", ROOT / "scripts" / "make_planted_edge.py")
    planted = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(planted)
    lines = planted.render().splitlines()
    if edge_after is not None:                 # later bars, with the edge reversed
        rng = np.random.default_rng(7)
        last = {}
        for line in lines[1:]:
            f = line.split(",")
            last[f[6]] = (f[0], float(f[4]))
        extra = []
        for sym, (day, close) in last.items():
            days = np.busday_offset(day, np.arange(1, 301), roll="forward")
            closes, boost = [close], 0
            for _ in range(300):
                c = closes[-1] * np.exp(0.015 * rng.standard_normal() + (edge_after if boost else 0.0))
                boost = max(0, boost - 1)
                w = np.array(closes[-19:] + [c])
                if len(w) == 20 and (c - w.mean()) / w.std(ddof=1) < -1.5:
                    boost = 5
                closes.append(c)
            for d, c in zip(days, closes[1:]):
                extra.append(f"{d},{c:.4f},{c * 1.005:.4f},{c * 0.995:.4f},{c:.4f},1000000,{sym}")
        lines += extra
    data.write_text("\n".join(lines) + "\n")
    cfg = (ROOT / "examples" / "campaigns" / "planted_edge.toml").read_text().replace(
        "../data/planted_edge_daily.csv", str(data))
    (runs.parent / "planted.toml").write_text(cfg)
    r = run_campaign(runs.parent / "planted.toml", runs, run_id=run_id,
                     provenance={"campaign_id": "camp_p", "attempt": 1, "environment": "dev"})
    m = json.loads((r.run_dir / "manifest.json").read_text())
    m["git_dirty"] = False                     # the code-version gate has its own tests
    (r.run_dir / "manifest.json").write_text(json.dumps(m))
    return r


def test_revalidation_flags_an_entry_the_latest_data_disowns_and_a_stricter_threshold_at_once(promoter, tmp_path):
    data = tmp_path / "planted.csv"
    _planted_run(promoter.runs_dir, data, "run_planted")
    promoter.data_root = None
    d = promoter.promote("run_planted", "camp_p", "op")
    entered = [c.genome_hash for c in d.candidates if c.outcome is PromotionOutcome.PROMOTED]
    assert entered, d.failed()
    assert promoter.last_revalidation is None
    held = promoter.revalidate()                              # the same data: the edge is still there
    assert all(v.ok for v in held) and "holdout" in held[0].detail
    assert promoter.last_revalidation == promoter.clock.now()  # kept in the database: a restart knows it
    assert all(promoter.entry(h).state is EntryState.ACTIVE for h in entered)
    _planted_run(promoter.runs_dir, data, "run_next", edge_after=-0.012)     # 300 new bars, the edge reversed
    # the next run of the campaign is on another snapshot: its entries are re-run on the new data
    promoter.promote("run_next", "camp_p", "op")
    e = promoter.entry(entered[0])
    assert e.state is EntryState.FLAGGED and e.history[-1].reason.startswith("revalidation: OOS Sharpe")
    assert "300 bars after the run's data" in e.history[-1].reason
    assert "PBO" in e.history[-1].reason                                     # the selection, judged again
    promoter.set_state(entered[0], EntryState.ACTIVE, "op", "reviewed: kept for now")
    import dataclasses
    lax = promoter.cfg
    promoter.cfg = dataclasses.replace(lax, revalidation_min_sharpe=-99.0, revalidation_max_pbo=0.0)
    (v,) = promoter.revalidate(entered[0])                                   # any PBO above 0: demoted
    assert v.demote and v.pbo > 0 and promoter.entry(entered[0]).state is EntryState.RESEARCH
    promoter.set_state(entered[0], EntryState.ACTIVE, "op", "reviewed again")
    promoter.cfg = dataclasses.replace(lax, min_dsr=0.999)                   # a stricter threshold: at once
    flagged = promoter.reapply_thresholds()
    assert [h for h, _ in flagged] == [entered[0]] and "DSR" in flagged[0][1]


def test_the_metrics_count_each_named_gate_from_zero_and_know_since_when_runs_are_judged(promoter, real_run):
    """Every gate a decision names is one of GATES, in its order, so each gate's failure series
    exists from the start (rate() sees the first failure); the first decision's time is what the
    no-promotion alert measures from."""
    from prometheus_client import CollectorRegistry
    from omp_services.promoter.gates import GATES
    from omp_services.promoter.metrics import PromoterMetrics
    registry = CollectorRegistry()
    metrics = PromoterMetrics(registry)
    metrics.watch(promoter.store)
    value = registry.get_sample_value
    assert all(value("omp_promoter_gate_failures_total", {"gate": g}) == 0 for g in GATES)
    assert value("omp_promoter_first_decision_timestamp_seconds") == 0
    make_run(promoter.runs_dir, real_run, "run_good", good=1)
    d = promoter.promote("run_good", "camp_1", "op")
    for gates in [d.run_gates, *(c.gates for c in d.candidates)]:
        names = [g.gate for g in gates]
        assert set(names) <= set(GATES) and names == sorted(names, key=GATES.index), names
    metrics.decided(d)
    failed = d.failed()
    assert failed and all(value("omp_promoter_gate_failures_total", {"gate": g}) == failed.count(g) for g in GATES)
    assert value("omp_promoter_first_decision_timestamp_seconds") == d.decided_at
    assert value("omp_hof_last_promotion_timestamp_seconds") == promoter.entries(None, 0, 10)[0][0].promoted_at
