"""The promoter's domain: judge a completed run (``gates.py``), write the entries that pass into the
Hall of Fame, keep every decision.

A promotion, in the order that survives a kill at any point: the decision is computed (nothing
written); each new entry's artifact folder is written whole (``write_folder``: all or nothing,
never over an existing one); then one transaction stores the decision, the entries and their
first history line. Killed before that transaction, the run is judged again on the retry (the
scheduler retries until PromoteRun answers), the folders already written stay, and the rows
appear once. Asked again after it, the stored decision is the answer and nothing changes."""
from __future__ import annotations

import dataclasses
import json
import logging
import threading
from pathlib import Path
from typing import Callable

from omp_core.atomic import sweep_folders
from omp_core.features import FeatureBank
from omp_core.run import RUN_ID_RE
from omp_services.common.clock import Clock
from omp_services.common.errors import FailedPrecondition, InvalidArgument, NotFound
from omp_services.common.findings import Finding
from omp_services.common.vocabulary import EntryState, PromotionOutcome
from omp_services.promoter import artifacts, integrity, revalidation
from omp_services.promoter.entities import Decision, Entry
from omp_services.promoter.gates import judge
from omp_services.promoter.replay import Replay, replay
from omp_services.promoter.settings import AutoRejectSettings, PromotionSettings

log = logging.getLogger("omp.promoter")
MAX_REASON = 2000


class Promoter:
    def __init__(self, store, runs_dir: Path, hof_dir: Path, cfg: PromotionSettings, floor: AutoRejectSettings,
                 environment: str, clock: Clock, report: Callable[[Finding], None] = lambda f: None, metrics=None,
                 data_root: Path | None = None, build_features: Callable | None = None,
                 changed: Callable[[], None] | None = None):
        self.store, self.runs_dir, self.hof_dir = store, runs_dir, hof_dir
        self.data_root = data_root
        self.changed = changed or (lambda: None)     # after an entry changed (the mirror syncs at once)
        #: the engine's feature bank; a test plants a look-ahead feature here
        self.build_features = build_features or FeatureBank.build
        self.cfg, self.floor, self.environment, self.clock = cfg, floor, environment, clock
        self.report, self.metrics = report, metrics
        self._lock = threading.Lock()
        hof_dir.mkdir(parents=True, exist_ok=True)
        for debris in sweep_folders(hof_dir):       # a write killed mid-way: never visible, now gone
            log.warning("partial Hall of Fame folder removed", extra={"path": str(debris)})

    # ------------------------------------------------------------------------------ the run
    def _load(self, run_id: str) -> tuple[Path, dict, dict]:
        if not RUN_ID_RE.fullmatch(run_id or ""):
            raise InvalidArgument(f"run_id must look like run_<letters, digits, _ or ->, got {run_id[:100]!r}")
        run_dir = self.runs_dir / run_id
        if not run_dir.is_dir():
            raise NotFound(f"run_id: no run folder {run_id} under {self.runs_dir}")
        try:
            manifest = json.loads((run_dir / "manifest.json").read_text())
            candidates = json.loads((run_dir / "candidates.json").read_text())
        except FileNotFoundError:
            raise FailedPrecondition(f"run_id: run {run_id} did not complete (it has no manifest.json and "
                                     "candidates.json): only a completed run is judged") from None
        except ValueError as exc:
            raise FailedPrecondition(f"run_id: run {run_id}'s manifest or candidates cannot be read ({exc})") from None
        if manifest.get("status") != "completed":
            raise FailedPrecondition(f"run_id: run {run_id} is {manifest.get('status')!r}, not completed")
        return run_dir, manifest, candidates

    def _in_hof(self, genome_hash: str) -> bool:
        with self.store.read() as tx:
            return tx.entry(genome_hash, with_history=False) is not None

    def check(self, run_id: str) -> Decision:
        """Every gate, with values and thresholds; writes nothing."""
        _, manifest, candidates = self._load(run_id)
        return self._judge(run_id, manifest, candidates)[0]

    def _judge(self, run_id: str, manifest: dict, candidates: dict) -> tuple[Decision, Replay]:
        """The decision, and what running the candidates again gave (empty when the run's own
        gates stopped it first)."""
        box: list[Replay] = []

        def replayed() -> Replay:
            box.append(replay(manifest, candidates, self.data_root, self.build_features))
            return box[0]
        d = judge(manifest, candidates, run_id, self.environment, self.cfg, self.floor, self._in_hof,
                  self.clock.now(), replayed, self._registered(str(manifest.get("campaign_id", ""))),
                  self._entries_oos)
        return d, (box[0] if box else Replay())

    def _entries_oos(self) -> dict[str, dict[str, float]]:
        """The out-of-sample returns of the entries a new one must not repeat (active, or waiting
        for an execution review), from their artifacts."""
        out = {}
        for state in (EntryState.ACTIVE, EntryState.PENDING_EXECUTION_REVIEW):
            entries, _ = self.entries(state, 0, 10**6)
            for e in entries:
                series = artifacts.read_returns(self.hof_dir / e.genome_hash)
                if series:
                    out[e.genome_hash] = series
        return out

    def _registered(self, campaign_id: str) -> frozenset[int] | None:
        with self.store.read() as tx:
            if not campaign_id or not tx.has_seeds(campaign_id):
                return None
            return frozenset(int(r[1]) for r in tx.seeds(campaign_id))

    def decision(self, run_id: str) -> Decision:
        with self.store.read() as tx:
            d = tx.decision(run_id)
        if d is None:
            raise NotFound(f"run_id: no decision for run {run_id[:128]!r}")
        return d

    def promote(self, run_id: str, campaign_id: str, actor: str) -> Decision:
        """Judge the run and enter what passes; idempotent by run id."""
        with self.store.read() as tx:
            done = tx.decision(run_id)
        if done is not None:
            return done
        run_dir, manifest, candidates = self._load(run_id)
        if campaign_id and manifest.get("campaign_id") and manifest["campaign_id"] != campaign_id:
            raise FailedPrecondition(f"campaign_id: run {run_id} belongs to {manifest['campaign_id']!r}, "
                                     f"not {campaign_id!r}")
        d, rp = self._judge(run_id, manifest, candidates)
        by_hash = {c.get("genome_hash"): c for c in candidates.get("candidates") or []}
        new = [v for v in d.candidates if v.outcome is PromotionOutcome.PROMOTED and not v.already_in]
        with self._lock:        # one promotion at a time in this process (the promoter is one process)
            return self._enter(run_id, run_dir, manifest, candidates, d, rp, by_hash, new, actor)

    def _enter(self, run_id, run_dir, manifest, candidates, d: Decision, rp: Replay, by_hash, new,
               actor) -> Decision:
        fishing: list = []
        for v in new:           # the folders first: a row never points to a folder that is not whole
            self._set_aside_orphan(v.genome_hash, run_id)
            artifacts.write_entry(self.hof_dir, v.genome_hash,
                                  artifacts.entry_files(run_dir, manifest, candidates, by_hash[v.genome_hash], v, d,
                                                        rp.oos.get(v.genome_hash, {})))
        with self.store.tx() as tx:
            twin = tx.decision(run_id)
            if twin is not None:            # a concurrent call stored it first: that one stands
                return twin
            tx.put_decision(d, actor)
            if d.campaign_id and d.outcome is not PromotionOutcome.INCOMPLETE and not tx.has_seeds(d.campaign_id):
                for seed in manifest.get("seeds") or ():     # the campaign's default seeds, registered now
                    tx.register_seed(d.campaign_id, int(seed), d.decided_at, "promoter",
                                     f"the campaign's config seeds, registered with its first judged run {run_id}")
            fishing = self._fishing(tx, d)
            for v in d.candidates:
                if v.outcome is not PromotionOutcome.PROMOTED:
                    continue
                if tx.entry(v.genome_hash, with_history=False) is not None:
                    tx.add_evidence(v.genome_hash, run_id, d.decided_at)        # no second entry
                    continue
                tx.put_entry(self._entry(v, by_hash[v.genome_hash], manifest, d), actor,
                             f"promoted from run {run_id}: every gate passed")
        stored = dataclasses.replace(d, stored=True)
        self.changed()
        if self.metrics:
            self.metrics.decided(stored)
        if d.outcome is PromotionOutcome.BLOCKED:
            gate = next(g for g in d.run_gates if g.gate == "variance_sanity")
            self.report(Finding(0, "variance_gate", f"run {run_id}: the candidates' Sharpe ratios collapsed "
                                f"({gate.detail}); promotion blocked: look for a bug or bad data",
                                key=run_id, symptoms=(gate.detail,), campaigns=(d.campaign_id,) if d.campaign_id else (),
                                runs=(run_id,)))
        for what, seeds in fishing:
            self.report(Finding(2, "seed_fishing", f"campaign {d.campaign_id}: {what} reached the gates from "
                                f"{len(seeds)} unregistered seeds {seeds}: is someone fishing through seeds?",
                                key=f"{d.campaign_id}/{what}", symptoms=(f"unregistered seeds {seeds}",),
                                campaigns=(d.campaign_id,), runs=(run_id,)))
        for v in d.candidates:
            peek = next((g for g in v.gates if g.gate == "lookahead" and not g.passed and g.detail.startswith("LOOK")),
                        None)
            if peek is not None:
                self.report(Finding(1, "lookahead", f"candidate {v.candidate_id} of run {run_id} looks ahead: "
                                    "rejected; a feature uses later bars", key=v.genome_hash,
                                    symptoms=(peek.detail,), campaigns=(d.campaign_id,) if d.campaign_id else (),
                                    runs=(run_id,)))
        if d.campaign_id and d.outcome is not PromotionOutcome.INCOMPLETE:
            stale = [e for e in self.entries(EntryState.ACTIVE, 0, 10**6)[0]
                     if e.campaign_id == d.campaign_id and e.snapshot_id != manifest.get("snapshot_id")]
            if stale:               # the campaign's data changed: its entries are re-run on it
                log.info("data snapshot changed: revalidating", extra={"campaign_id": d.campaign_id,
                                                                       "entries": len(stale)})
                self.revalidate(actor="promoter", campaign_id=d.campaign_id)
        log.info("run judged", extra={"run_id": run_id, "outcome": str(d.outcome), "entered": len(new)})
        return stored

    @staticmethod
    def _fishing(tx, d: Decision) -> list[tuple[str, list[int]]]:
        """The genomes and configs of this campaign that have now reached the gates from two or more
        unregistered seeds (this decision's and the stored ones'): failure mode 1."""
        by_genome: dict[str, set[int]] = {}
        by_config: dict[str, set[int]] = {}
        for past in [*tx.decisions_of(d.campaign_id), d]:
            for v in past.candidates:
                if v.failed("seed_registry"):
                    by_genome.setdefault(v.genome_hash, set()).update(v.seeds)
                    by_config.setdefault(past.config_hash, set()).update(v.seeds)
        mine = {v.genome_hash for v in d.candidates if v.failed("seed_registry")}
        out = [(f"genome {h[:12]}", sorted(s)) for h, s in by_genome.items() if h in mine and len(s) >= 2]
        if any(v.failed("seed_registry") for v in d.candidates) and len(by_config.get(d.config_hash, ())) >= 2:
            out.append((f"config {d.config_hash[:12]}", sorted(by_config[d.config_hash])))
        return out

    # ------------------------------------------------------------------------------ the seed registry
    def seeds(self, campaign_id: str) -> list[tuple]:
        with self.store.read() as tx:
            return tx.seeds(campaign_id)

    def register_seed(self, campaign_id: str, seed: int, actor: str, reason: str) -> tuple:
        if not campaign_id.strip() or len(campaign_id) > 128:
            raise InvalidArgument(f"campaign_id must be 1..128 characters, got {campaign_id[:130]!r}")
        if not 0 <= seed < 2 ** 63:
            raise InvalidArgument(f"seed must be an integer in [0, 2^63), got {seed}")
        if not reason.strip():
            raise InvalidArgument("reason is required to register a seed (who decided this seed may promote, and why)")
        if len(reason) > MAX_REASON:
            raise InvalidArgument(f"reason must be at most {MAX_REASON} characters, got {len(reason)}")
        with self.store.tx() as tx:
            if not tx.register_seed(campaign_id, seed, self.clock.now(), actor, reason):
                raise FailedPrecondition(f"seed: {seed} is registered for {campaign_id} already")
            return next(r for r in tx.seeds(campaign_id) if r[1] == seed)

    def _set_aside_orphan(self, genome_hash: str, run_id: str) -> None:
        """A folder with no row is what a promotion killed before its transaction left. Another
        run's (its retry never came, or was rejected) must not become this entry's artifacts: it
        is moved aside as debris (removed at the next start); this run's own is kept and reused."""
        folder = self.hof_dir / genome_hash
        if not folder.exists() or self._in_hof(genome_hash):
            return
        try:
            owner = json.loads((folder / artifacts.PROVENANCE).read_text()).get("run_id")
        except (OSError, ValueError):
            owner = None
        if owner != run_id:
            aside = self.hof_dir / f".{genome_hash}.{owner or 'unknown'}.orphan.tmpdir"
            folder.rename(aside)
            log.warning("orphan Hall of Fame folder set aside", extra={"genome_hash": genome_hash, "owner": owner})

    def _entry(self, v, c: dict, manifest: dict, d: Decision) -> Entry:
        oos = c.get("out_of_sample") or {}
        metrics = {"oos_sharpe": oos.get("sharpe"), "pbo": next((g.value for g in v.gates if g.gate == "pbo"), None),
                   "dsr": c.get("dsr"), "max_drawdown": oos.get("max_drawdown"),
                   "turnover_per_year": oos.get("turnover_per_year"), "oos_trades": oos.get("trades"),
                   "is_sharpe": (c.get("in_sample") or {}).get("sharpe")}
        return Entry(v.genome_hash, v.entry_state or EntryState.ACTIVE, v.candidate_id, d.run_id,
                     str(manifest.get("campaign_id", "")), str(manifest.get("config_hash", "")),
                     str(manifest.get("git_sha", "")), str(manifest.get("snapshot_id", "")),
                     tuple(c.get("found_by_seeds") or ()), d.environment, d.decided_at, str(c.get("rule", "")),
                     metrics, str(self.hof_dir / v.genome_hash))

    # ------------------------------------------------------------------------------ the Hall of Fame
    def entry(self, genome_hash: str) -> Entry:
        with self.store.read() as tx:
            e = tx.entry(genome_hash)
        if e is None:
            raise NotFound(f"genome_hash: no Hall of Fame entry {genome_hash[:64]!r}")
        return e

    def entries(self, state: EntryState | None, offset: int, limit: int) -> tuple[list[Entry], int]:
        with self.store.read() as tx:
            return tx.entries(state, offset, limit)

    def set_state(self, genome_hash: str, state: EntryState, actor: str, reason: str) -> Entry:
        if not reason.strip():
            raise InvalidArgument("reason is required to change a Hall of Fame entry's state")
        if len(reason) > MAX_REASON:
            raise InvalidArgument(f"reason must be at most {MAX_REASON} characters, got {len(reason)}")
        with self.store.tx() as tx:
            e = tx.entry(genome_hash, with_history=False)
            if e is None:
                raise NotFound(f"genome_hash: no Hall of Fame entry {genome_hash[:64]!r}")
            if e.state is state:
                raise FailedPrecondition(f"state: entry {genome_hash[:12]} is {state} already")
            tx.set_state(genome_hash, e.state, state, self.clock.now(), actor, reason)
            got = tx.entry(genome_hash)
        if self.metrics:
            self.metrics.state_changed()
        self.changed()
        return got

    # ------------------------------------------------------------------------------ revalidation
    def reapply_thresholds(self, actor: str = "promoter") -> list[tuple[str, str]]:
        """Today's thresholds on every active entry's stored figures, at once and without running
        anything: one that fails them is flagged for review. Returns (genome_hash, why) flagged."""
        flagged = []
        for e in self.entries(EntryState.ACTIVE, 0, 10**6)[0]:
            fails = revalidation.thresholds_fail(e, self.cfg)
            if fails:
                why = "today's [promotion] thresholds: " + "; ".join(fails)
                self.set_state(e.genome_hash, EntryState.FLAGGED, actor, why)
                flagged.append((e.genome_hash, why))
        return flagged

    def revalidate(self, genome_hash: str = "", actor: str = "promoter",
                   campaign_id: str = "") -> list[revalidation.Verdict]:
        """Re-run the active entries (one, or a campaign's, or all) on the latest data: an OOS
        Sharpe below revalidation_min_sharpe flags one for review, a PBO of its run's candidates
        above revalidation_max_pbo demotes it to research (the history says why)."""
        self.reapply_thresholds(actor)
        if genome_hash:
            entries = [self.entry(genome_hash)]
        else:
            entries = [e for e in self.entries(EntryState.ACTIVE, 0, 10**6)[0]
                       if not campaign_id or e.campaign_id == campaign_id]
        out = []
        for e in entries:
            if e.state is not EntryState.ACTIVE:
                out.append(revalidation.Verdict(e.genome_hash, True, f"not active ({e.state}): left as it is"))
                continue
            v = revalidation.rerun(e, self.runs_dir, self.hof_dir, self.data_root, self.cfg.revalidation_min_sharpe,
                                   self.cfg.revalidation_max_pbo)
            if v.demote:
                self.set_state(e.genome_hash, EntryState.RESEARCH, actor, f"revalidation: {v.detail}")
            elif not v.ok:
                self.set_state(e.genome_hash, EntryState.FLAGGED, actor, f"revalidation: {v.detail}")
            out.append(v)
        if not genome_hash and not campaign_id:        # a whole round: the next is due revalidate_days later
            with self.store.tx() as tx:
                tx.put_state("revalidation", {"at": self.clock.now()}, self.clock.now())
        return out

    @property
    def last_revalidation(self) -> float | None:
        """When every active entry was last revalidated (kept across restarts)."""
        with self.store.read() as tx:
            st = tx.state("revalidation")
        return float(st["at"]) if st else None

    def integrity(self, samples: int, seed: int | None, mirror=None):
        """The Hall of Fame Integrity Check over every entry (read only)."""
        with self.store.read() as tx:
            entries, _ = tx.entries(None, 0, 10**9)
        return integrity.check(entries, self.hof_dir, self.cfg, self.clock.now(), samples, seed, mirror)

    def packet(self, genome_hash: str) -> str:
        e = self.entry(genome_hash)
        try:
            return (Path(e.artifact_dir) / "packet.md").read_text()
        except OSError as exc:
            raise FailedPrecondition(f"genome_hash: the packet of {genome_hash[:12]} cannot be read ({exc})") from None
