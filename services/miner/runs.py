"""The miner's decisions: start a run for an admitted attempt (once), watch its child process,
cancel it, recover after a restart, and deliver every result to the scheduler.

A run is a child process in its own process group (``services/miner/child.py``) that dies with the
miner. Its run folder is content-addressed by omp_core (config, data, seeds), so a later attempt of
the same campaign on the same data resumes from the checkpoints an interrupted one left.
"""
from __future__ import annotations

import importlib.util
import json
import logging
import os
import queue
import secrets
import signal
import subprocess
import sys
import threading
from concurrent.futures import Future
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Protocol

import psutil

from omp_core import config as campaign_config, data as market_data
from omp_core.binding import require
from omp_services.common.clock import Clock, iso
from omp_services.common.findings import Finding
from omp_services.common.errors import (DeadlineExceeded, FailedPrecondition, InvalidArgument, NotFound, OmpError,
                                    Unavailable)
from omp_services.common.notify import Notifier
from omp_services.common.paths import resolve_under
from omp_services.common.settings import Settings
from omp_services.common.vocabulary import RunStatus
from omp_services.miner.entities import Run
from omp_services.miner.settings import MinerSettings

if TYPE_CHECKING:       # handed in by the composition root
    from omp_services.miner.repository import MinerStore

log = logging.getLogger("omp.miner")


class SchedulerReporter(Protocol):
    def progress(self, campaign_id: str, attempt: int, run_id: str, progress: dict) -> None: ...
    def result(self, campaign_id: str, attempt: int, run_id: str, status: str, error: str, run_dir: str) -> None: ...


class Spawner:
    """Starts every child from one long-lived thread: PR_SET_PDEATHSIG fires when the thread that
    forked the child ends, so a short-lived request thread must not be that thread."""

    def __init__(self):
        self._q: queue.Queue = queue.Queue()
        self._t = threading.Thread(target=self._work, name="spawner", daemon=True)
        self._t.start()

    def _work(self):
        while True:
            args, kwargs, fut = self._q.get()
            try:
                fut.set_result(subprocess.Popen(*args, **kwargs))
            except BaseException as exc:  # noqa: BLE001 - handed to the caller
                fut.set_exception(exc)

    def popen(self, *args, **kwargs) -> subprocess.Popen:
        fut: Future = Future()
        self._q.put((args, kwargs, fut))
        return fut.result(timeout=30)


#: how long the processes of a stopped run's group get to vanish after SIGKILL
SWEEP_WAIT_S = 1.0


class RunManager:
    def __init__(self, store: "MinerStore", settings: Settings, clock: Clock, reporter: SchedulerReporter,
                 metrics=None, incidents: Callable[[Finding], None] = lambda finding: None):
        self.store, self.settings, self.clock, self.reporter = store, settings, clock, reporter
        self.incidents = incidents          # the miner's own detections, to the watchdog
        self.cfg: MinerSettings = settings.section("miner")
        self.metrics = metrics
        self.notifier = Notifier()
        self._procs: dict[str, subprocess.Popen] = {}
        self._cancelled: dict[str, tuple[bool, str, str]] = {}  # run id -> (as a failure, why, by whom)
        self._interrupted: set[str] = set()
        self._monitors: list[threading.Thread] = []
        self._lock = threading.Lock()
        self.draining = threading.Event()
        self._spawner = Spawner()
        self.logs_dir = settings.runs_dir / "logs"
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        self._ray_env: dict[str, str] = {}
        if self.cfg.backend == "ray":
            require(importlib.util.find_spec("ray") is not None, "miner.backend",
                    "needs Ray in this environment (pip install 'omp[ray]')", self.cfg.backend)
        if self.cfg.ray_auth_token_file:        # set but unusable: start-up stops, naming the key
            key = "miner.ray_auth_token_file"
            token = settings.secret_path(self.cfg.ray_auth_token_file, key, "miner")
            require(token.is_file() and os.access(token, os.R_OK), key, "must be a readable file", str(token))
            self._ray_env = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(token)}

    def _now(self) -> float:
        return self.clock.now()

    def _config_file(self, config_path: str) -> Path:
        return resolve_under(self.settings.configs_root, config_path, "config_path")

    def _load_config(self, config_path: str):
        """The campaign config at ``config_path``; a config that does not validate is the caller's
        bad input (omp_core's ConfigError names the key)."""
        path = self._config_file(config_path)
        try:
            return path, campaign_config.load(path)
        except ValueError as exc:
            raise InvalidArgument(f"config_path {config_path!r}: {exc}") from None

    # ------------------------------------------------------------------------------ queries
    def validate(self, config_path: str, check_data: bool) -> dict:
        _, cfg = self._load_config(config_path)
        out = {"config_hash": cfg.config_hash, "campaign_name": cfg.campaign.name}
        if check_data:
            try:
                m = market_data.load_market(cfg.sources(self.settings.data_root), cfg.mandate.universe,
                                            cfg.data.validation.policy(), min_bars=cfg.data.min_bars)
            except (ValueError, FileNotFoundError) as exc:     # the data fails validation: say which row
                raise InvalidArgument(f"market data of {config_path!r}: {exc}") from None
            out.update(snapshot_id=m.snapshot_id, bars=m.n_bars)
        return out

    def get(self, run_id: str = "", campaign_id: str = "", attempt: int = 0) -> Run:
        run = self.store.get(run_id) if run_id else self.store.by_attempt(campaign_id, attempt)
        if run is None:
            what = f"run_id {run_id!r}" if run_id else f"campaign {campaign_id!r} attempt {attempt}"
            raise NotFound(f"no run for {what}")
        return run

    def list(self, **kw):
        return self.store.list(**kw)

    def export_top(self, run_id: str, top: int) -> dict:
        run = self.get(run_id)
        if top < 0:
            raise InvalidArgument(f"top must be >= 0, got {top}")
        if run.status is not RunStatus.COMPLETED or not run.run_dir:
            raise FailedPrecondition(f"run {run_id} is {run.status}: only a completed run has candidates")
        doc = json.loads((Path(run.run_dir) / "candidates.json").read_text())
        if top:
            doc["candidates"] = doc["candidates"][:top]
        return doc

    def watch(self, run_id: str, stopping: threading.Event, call=None):
        """The run now, then after every change, until it ends (or ``call``, the watching stream,
        ends). The miner shutting down is UNAVAILABLE, not an end: the watcher should come back."""
        last = None
        seen = self.notifier.version
        while not stopping.is_set() and (call is None or call.is_active()):
            run = self.get(run_id)
            if run != last:
                yield run
                last = run
            if run.status is not RunStatus.RUNNING:
                return
            seen = self.notifier.wait(seen, timeout=1.0, call=call)
        if stopping.is_set():
            raise Unavailable(f"the miner is shutting down; watch {run_id} again once it is back")

    # ------------------------------------------------------------------------------ start
    def start(self, campaign_id: str, attempt: int, config_path: str, config_hash: str,
              time_left: Callable[[], float | None] = lambda: None) -> Run:
        """Start the run of ``attempt`` of a campaign, once: asked again, the same run. Never two
        live runs of one campaign: a later attempt first stops the runs of earlier ones (they were
        superseded while this miner could not hear of it), an earlier attempt than one this miner
        has seen is refused, and nothing starts once the miner drains or once the caller's deadline
        (``time_left()``, seconds, None for none) has passed: a StartRun that waited in a stopped
        miner is stale."""
        if not campaign_id or len(campaign_id) > 64:
            raise InvalidArgument(f"campaign_id must be 1..64 characters, got {len(campaign_id)}")
        if attempt < 1:
            raise InvalidArgument(f"attempt must be >= 1, got {attempt}")
        with self._lock:
            existing = self.store.by_attempt(campaign_id, attempt)
            if existing is not None:        # the same attempt asked twice: one run
                return existing
        self._check_startable(campaign_id, attempt, time_left)
        for old in self.store.running_of(campaign_id):
            if old.attempt < attempt:
                self.stop_and_wait(old.run_id, f"superseded by attempt {attempt}")
        with self._lock:
            existing = self.store.by_attempt(campaign_id, attempt)
            if existing is not None:        # a twin of this call started it meanwhile
                return existing
            self._check_startable(campaign_id, attempt, time_left)
            if any(r.attempt < attempt for r in self.store.running_of(campaign_id)):
                raise FailedPrecondition(f"attempt: a run of an earlier attempt of {campaign_id} is still alive")
            path, cfg = self._load_config(config_path)
            if config_hash and cfg.config_hash != config_hash:
                raise FailedPrecondition(f"config_hash: {config_path} now hashes to {cfg.config_hash[:16]}, "
                                         f"the scheduler admitted {config_hash[:16]}")
            now = self._now()
            run_id = f"run_{secrets.token_hex(8)}"     # the folder's name, the manifest's, everyone's
            # on Ray, 0 means each node's own CPUs; here, this host's
            threads = self.cfg.threads or (0 if self.cfg.backend == "ray" else os.cpu_count() or 1)
            cmd = [sys.executable, "-m", "omp_services.miner.child", "--config", str(path),
                   "--out", str(self.settings.runs_dir), "--threads", str(threads),
                   "--parent-pid", str(os.getpid()), "--run-id", run_id, "--campaign-id", campaign_id,
                   "--attempt", str(attempt), "--environment", self.settings.environment,
                   "--backend", self.cfg.backend, "--ray-address", self.cfg.ray_address]
            # an interrupted or failed attempt's search goes on from its checkpoints (the newest
            # unfinished run that has some: one that failed before writing any does not hide it)
            earlier = next((f for f in self.store.unfinished_folders(campaign_id)
                            if any((Path(f) / "checkpoints").glob("seed_*.json"))), "")
            if earlier:
                cmd += ["--resume-from", earlier]
            if self.settings.data_root:
                cmd += ["--data-root", str(self.settings.data_root)]
            stderr = open(self.logs_dir / f"{run_id}.log", "wb")
            try:
                proc = self._spawner.popen(cmd, stdout=subprocess.PIPE, stderr=stderr, stdin=subprocess.DEVNULL,
                                           start_new_session=True, cwd=str(self.settings.base_dir),
                                           env=self._child_env())
            finally:
                stderr.close()
            try:
                created = psutil.Process(proc.pid).create_time()
            except psutil.Error:
                created = 0.0
            run = self.store.insert(Run(run_id, campaign_id, attempt, RunStatus.RUNNING, config_path, cfg.config_hash, "",
                                        proc.pid, created, {}, now, now, miner_id=self.store.miner_id))
            self._procs[run_id] = proc
        t = threading.Thread(target=self._monitor, args=(run, proc), name=f"monitor-{run_id}", daemon=True)
        self._monitors.append(t)
        t.start()
        if self.metrics:
            self.metrics.started()
        log.info("run started", extra={"run_id": run_id, "campaign_id": campaign_id, "attempt": attempt,
                                       "pid": proc.pid})
        self.notifier.notify()
        return run

    def _child_env(self) -> dict:
        """The run's environment: the miner's, with Ray's token authentication when it is set."""
        return {**os.environ, **self._ray_env}

    def _check_startable(self, campaign_id: str, attempt: int, time_left: Callable[[], float | None]) -> None:
        if self.draining.is_set():
            raise Unavailable("the miner is shutting down: it starts no run")
        left = time_left()
        if left is not None and left <= 0:
            raise DeadlineExceeded(f"StartRun for {campaign_id} attempt {attempt} came after its caller's "
                                   "deadline: nothing started")
        latest = self.store.latest_attempt(campaign_id)
        if latest > attempt:
            raise FailedPrecondition(f"attempt: {attempt} of {campaign_id} is superseded by attempt {latest}")

    def _monitor(self, run: Run, proc: subprocess.Popen) -> None:
        run_dir, bad_data, evaluated = "", "", {}      # evaluated: each seed's last count
        for raw in proc.stdout:
            try:
                msg = json.loads(raw)
            except ValueError:
                continue
            if msg.get("event") == "progress":
                prog = {k: v for k, v in msg.items() if k != "event"}
                self.store.update(run.run_id, progress=prog, updated_at=self._now())
                if self.metrics:
                    self.metrics.evaluated(evaluated, int(prog.get("seed") or 0), int(prog.get("evaluations") or 0))
                self.notifier.notify()
                self._report_progress(run, prog)
            elif msg.get("event") == "started":      # its folder, known while it runs (retention)
                run_dir = msg.get("run_dir", "")
                self.store.update(run.run_id, run_dir=run_dir, updated_at=self._now())
            elif msg.get("event") == "completed":
                run_dir = msg.get("run_dir", "")
            elif msg.get("event") == "bad_data":
                bad_data = str(msg.get("error", ""))[:4000]
        rc = proc.wait()
        with self._lock:
            self._procs.pop(run.run_id, None)
            cancelled = self._cancelled.get(run.run_id)
            interrupted = run.run_id in self._interrupted
        if interrupted:
            status, error = RunStatus.FAILED, "interrupted: the miner shut down (checkpoints kept for the next attempt)"
        elif cancelled and cancelled[0]:
            # "killed: INC-..." first: the watchdog tells its own kills from the campaign's failures by it
            status, error = RunStatus.FAILED, f"killed: {cancelled[1] or 'no reason given'} (by {cancelled[2]})"
        elif cancelled:
            status, error = RunStatus.CANCELLED, f"cancelled: {cancelled[1] or 'no reason given'} (by {cancelled[2]})"
        elif rc == 0:
            status, error = RunStatus.COMPLETED, ""
        else:
            # "bad data: ..." (exit 3, said by the run process) tells the watchdog the market
            # data, not the campaign, is at fault
            status, error = RunStatus.FAILED, (bad_data if rc == 3 and bad_data
                                               else f"exit code {rc}: {self._log_tail(run.run_id)}")
            if rc == 3 and bad_data:
                self.incidents(Finding(1, "data_incident", "a run failed on invalid market data: mining waits until "
                                       "an operator marks the data ready (omp data-ready yes)",
                                       symptoms=(bad_data[:1000],), campaigns=(run.campaign_id,), runs=(run.run_id,),
                                       handoffs=("data-engineer",)))
        self.store.update(run.run_id, status=status, error=error, run_dir=run_dir, ended_at=self._now(),
                          updated_at=self._now(), ended_by=cancelled[2] if cancelled and not interrupted else "")
        if self.metrics:
            self.metrics.finished(status)
        log.info("run ended", extra={"run_id": run.run_id, "status": status, "rc": rc})
        self.notifier.notify()
        self.deliver_reports()

    def _log_tail(self, run_id: str, limit: int = 2000) -> str:
        try:
            text = (self.logs_dir / f"{run_id}.log").read_text(errors="replace").strip()
        except OSError:
            return "no log"
        return text[-limit:].splitlines()[-1] if text else "no output"

    def _report_progress(self, run: Run, prog: dict) -> None:
        if run.run_id in self._cancelled:       # being stopped: the scheduler no longer counts on it
            return
        try:
            self.reporter.progress(run.campaign_id, run.attempt, run.run_id, prog)
        except (FailedPrecondition, NotFound) as exc:
            # the scheduler no longer counts on this attempt (it was fenced off): stop wasting the machine
            log.warning("attempt is stale, cancelling its run", extra={"run_id": run.run_id, "why": str(exc)})
            self.cancel(run.run_id, "stale attempt", by="miner")
        except OmpError as exc:
            log.warning("progress report failed", extra={"run_id": run.run_id, "error": str(exc)})

    # ------------------------------------------------------------------------------ results
    def deliver_reports(self) -> int:
        """Send every ended, unreported run to the scheduler; a stale one is dropped. Returns how many
        are still waiting (the scheduler was unreachable)."""
        waiting = 0
        for run in self.store.unreported():
            try:
                self.reporter.result(run.campaign_id, run.attempt, run.run_id, run.status, run.error, run.run_dir,
                                     run.ended_by)
            except (FailedPrecondition, NotFound) as exc:
                log.info("result not needed any more", extra={"run_id": run.run_id, "why": str(exc)})
            except OmpError as exc:
                waiting += 1
                log.warning("result not delivered yet", extra={"run_id": run.run_id, "error": str(exc)})
                continue
            self.store.update(run.run_id, reported=True)
        return waiting

    # ------------------------------------------------------------------------------ cancel
    def cancel(self, run_id: str, reason: str = "", as_failure: bool = False, by: str = "operator") -> Run:
        """Stop a run: SIGTERM (and SIGCONT, so a stopped run hears it) to its process group,
        SIGKILL after the grace period. ``as_failure``: the run ends FAILED (a kill by the
        watchdog), not CANCELLED. ``by``: who asked, as authenticated (the trail names them).
        Idempotent: cancelling a run that is already being cancelled,
        or has ended, changes nothing."""
        run = self.get(run_id)
        if run.status is not RunStatus.RUNNING:
            return run
        with self._lock:
            proc = self._procs.get(run_id)
            if run_id in self._cancelled:
                return run
            if proc is None:
                elsewhere = run.miner_id not in ("", self.store.miner_id)
                raise FailedPrecondition(f"run {run_id} runs on the miner {run.miner_id}: cancel it there" if elsewhere
                                         else f"run {run_id} has no process in this miner")
            self._cancelled[run_id] = (as_failure, reason, by)
        log.info("killing run" if as_failure else "cancelling run", extra={"run_id": run_id, "reason": reason})
        self._signal_group(proc.pid, signal.SIGTERM)
        self._signal_group(proc.pid, signal.SIGCONT)
        grace = self.cfg.cancel_grace_s

        def escalate():
            try:
                proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                log.warning("run ignored SIGTERM, killing", extra={"run_id": run_id})
                self._signal_group(proc.pid, signal.SIGKILL)
                proc.wait()
            self._sweep_group(run, proc.pid)
        threading.Thread(target=escalate, name=f"cancel-{run_id}", daemon=True).start()
        return run

    def stop_and_wait(self, run_id: str, reason: str) -> None:
        """Cancel a run and wait until its process has exited and its end is recorded."""
        self.cancel(run_id, reason, by="miner")
        with self._lock:
            proc = self._procs.get(run_id)
        if proc is not None:
            proc.wait()                 # the escalation kills it after the grace period
        deadline = self.clock.monotonic() + 30.0
        while self.get(run_id).status is RunStatus.RUNNING and self.clock.monotonic() < deadline:
            self.notifier.wait(self.notifier.version, timeout=0.1)

    def _sweep_group(self, run: Run, pgid: int) -> None:
        """Nothing of a stopped run may survive it: a process it started that is still in its
        group is killed; one that outlives even that is reported (SEV-1)."""
        self._signal_group(pgid, signal.SIGKILL)
        members = [p for p in psutil.process_iter() if _pgid(p.pid) == pgid]
        _, alive = psutil.wait_procs(members, timeout=SWEEP_WAIT_S)      # a deadline, not a fixed sleep
        left = [p.pid for p in alive if _running(p)]
        if not left:
            return
        log.error("processes of a stopped run survive SIGKILL", extra={"run_id": run.run_id, "pids": left})
        self.incidents(Finding(1, "run_survivors", f"run {run.run_id}: {len(left)} process(es) of its group survive "
                               "SIGKILL", key=run.run_id, symptoms=(f"process group {pgid}: pids {left[:20]}",),
                               campaigns=(run.campaign_id,), runs=(run.run_id,), handoffs=("devops-infra",)))

    @staticmethod
    def _signal_group(pgid: int, sig: int) -> None:
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            pass  # already gone

    def shutdown(self, grace: float | None = None) -> None:
        """Stop every run (SIGTERM, then SIGKILL): they have checkpoints, the next attempt resumes.
        From here on nothing starts."""
        self.draining.set()
        with self._lock:
            procs = dict(self._procs)
            self._interrupted.update(procs)
        for run_id, proc in procs.items():
            self._signal_group(proc.pid, signal.SIGTERM)
        for run_id, proc in procs.items():
            try:
                proc.wait(timeout=grace or self.cfg.cancel_grace_s)
            except subprocess.TimeoutExpired:
                self._signal_group(proc.pid, signal.SIGKILL)
                proc.wait()
        for t in self._monitors:     # let each monitor record its run's end
            t.join(timeout=5.0)

    # ------------------------------------------------------------------------------ restart
    def recover(self) -> list[str]:
        """Runs recorded as running by a previous miner are orphans: their process group is killed if
        it is still there (same pid *and* start time, never a stranger that reused the pid), and they
        are failed as orphaned. Returns their run ids."""
        orphans = []
        for run in self.store.own_with_status(RunStatus.RUNNING):
            if run.run_id in self._procs:
                continue
            try:
                p = psutil.Process(run.pid)
                if run.proc_started and abs(p.create_time() - run.proc_started) < 1e-3:
                    self._signal_group(run.pid, signal.SIGKILL)
            except psutil.Error:
                pass
            self.store.update(run.run_id, status=RunStatus.FAILED, ended_at=self._now(), updated_at=self._now(),
                              error="orphaned: the miner restarted while the run was in progress")
            orphans.append(run.run_id)
            log.warning("orphaned run failed", extra={"run_id": run.run_id, "campaign_id": run.campaign_id})
        if orphans:
            self.notifier.notify()
            self.incidents(Finding(2, "orphaned_runs", f"the miner restarted while {len(orphans)} run(s) were in "
                                   "progress: they were failed as orphaned and their campaigns re-queued",
                                   key=f"restart {iso(self._now())[:19]}", runs=tuple(orphans[:50])))
        return orphans


def _running(p: psutil.Process) -> bool:
    """Alive and not a zombie (a zombie holds nothing; its parent reaps it)."""
    try:
        return p.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _pgid(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except OSError:
        return None
