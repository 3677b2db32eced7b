"""The evaluator on Ray Core: for campaigns whose generations take seconds (intraday bars, large
universes), scored by the actors of a Ray cluster instead of this process's threads.

- One long-lived actor per node of the cluster, pinned to it. It builds a snapshot once, from the
  :class:`~omp_core.evaluator.SnapshotSource` that travels with its id (the config and the market
  data are on storage every node sees at the same paths; a node whose config or data hash differs
  refuses), and runs the compiled kernel over large batches on its own threads. The kernel uses no
  maths library, and the metrics are computed here from its summaries: no host's ``pow`` or vector
  library decides a bit of the result.
- A generation is cut into large batches (:func:`batch_size`), spread over the actors; the results
  are put back by batch index, never by completion order, so they are the local backend's bytes.
- A batch lost with its actor or its node is given to a surviving actor (a node without an actor
  gets one again at the next generation), at most ``MAX_TRIES`` times: a batch that kills every
  actor it meets ends the run with the cause, it does not go round forever. Calls are never
  retried by Ray itself: scoring is a pure function, and this module decides what runs again.

Ray is an optional extra (``pip install 'omp[ray]'``), imported only when a RayEvaluator is made.
A cluster started as docs/scaling.md says has Ray's token authentication on
(``RAY_AUTH_MODE=token``); a private local Ray started here has it on by default.
"""
from __future__ import annotations

import logging
import math
import os
import secrets
import socket
import time
from collections.abc import Sequence

import numpy as np

from omp_core import backtest, ga
from omp_core.evaluator import Scoring, SnapshotSource
from omp_core.genome import Genome

log = logging.getLogger("omp.ray")
#: the namespace of the actors (a test or an operator finds them by name in it)
NAMESPACE = "omp"
MIN_BATCH, MAX_BATCH = 64, 4096
#: tries of one batch before the run gives up (each on another actor when there is one)
MAX_TRIES = 4
#: the longest wait for any one result (a node hung on a dead mount must not hang the run)
RESULT_WAIT_S = 900.0


class SnapshotUnavailable(RuntimeError):
    """A node could not build a snapshot (its files differ, or are not there): the cluster's
    set-up, not the campaign. One message argument, so that it crosses processes whole."""


def batch_size(n_genomes: int, n_actors: int) -> int:
    """Two batches per actor (one queued behind the one running), within [64, 4096] genomes: a
    batch costs about 1.4 ms on Ray beyond its scoring (bench/ray_evaluator.py), which a thousand
    genomes make 1.4 us each."""
    return min(MAX_BATCH, max(MIN_BATCH, math.ceil(n_genomes / max(1, 2 * n_actors))))


class _Scorer:
    """The actor: a snapshot built once per id, batches run through the kernel on ``threads``
    threads; the kernel's summaries go back (the caller computes the metrics)."""

    def __init__(self, threads: int):
        self.threads = threads
        self.snapshots: dict = {}

    def describe(self) -> dict:
        from omp_core import __version__
        return {"pid": os.getpid(), "host": socket.gethostname(), "omp_core": __version__,
                "numpy": np.__version__}

    def evaluate(self, snapshot_id: str, source: SnapshotSource, genomes: list[Genome]) -> backtest.Evaluation:
        s = self.snapshots.get(snapshot_id)
        if s is None:
            try:
                s = self.snapshots[snapshot_id] = source.load()
            except Exception as exc:  # noqa: BLE001 - whatever it was, this node cannot score this snapshot
                raise SnapshotUnavailable(f"node {socket.gethostname()}: snapshot {snapshot_id} could not be built: "
                                          f"{type(exc).__name__}: {' '.join(str(exc).split())[:2000]}") from None
        return backtest.evaluate(genomes, s.market, s.bank, s.costs, start=s.start, end=s.end,
                                 threads=self.threads, curves=False)


def _reachable(address: str) -> None:
    """A cluster address nobody answers on fails here in seconds, not after Ray's retries."""
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise RuntimeError(f"ray address must be host:port, auto or local, got {address!r}")
    try:
        socket.create_connection((host, int(port)), timeout=5).close()
    except OSError as exc:
        raise RuntimeError(f"the Ray cluster at {address} does not answer: {exc}") from None


class RayEvaluator:
    """``address``: a Ray cluster's (``host:port``; ``auto`` for the one this host belongs to);
    None starts a private local Ray for this process. ``threads_per_node``: each actor's threads
    (0: the node's CPUs)."""

    def __init__(self, address: str | None = None, threads_per_node: int = 0):
        try:
            import ray
        except ImportError:
            raise RuntimeError("the ray backend needs Ray: pip install 'omp[ray]'") from None
        self.ray = ray
        self.threads_per_node = threads_per_node
        self._started = not ray.is_initialized()
        if not self._started and address:
            raise RuntimeError("Ray is already initialised in this process: RayEvaluator uses that cluster, "
                               f"not {address!r}")
        if self._started:
            if address and address not in ("auto", "local"):
                _reachable(address)
            try:
                ray.init(address=address or "local", namespace=NAMESPACE, include_dashboard=False,
                         log_to_driver=False, configure_logging=False)
            except Exception as exc:  # noqa: BLE001 - said once, with what to check
                raise RuntimeError(f"could not join the Ray cluster at {address or 'a new local Ray'}: "
                                   f"{type(exc).__name__}: {exc} (token authentication: RAY_AUTH_MODE=token and "
                                   "RAY_AUTH_TOKEN_PATH must be set before Ray is imported)") from None
        self._sources: dict[str, tuple[SnapshotSource, Scoring, int]] = {}
        self._actors: dict[str, object] = {}          # node id -> its actor
        self._seq, self._tag = 0, secrets.token_hex(4)     # names unique among evaluators
        self.nodes = 0
        self.batches = self.resubmitted = self.genomes = 0
        self.last_batch_size = 0
        self.busy_s = 0.0
        try:
            self._spawn()
            if not self._actors:
                raise RuntimeError("the Ray cluster has no node alive to score on")
        except BaseException:
            self.close()
            raise

    # ------------------------------------------------------------------ actors
    def _spawn(self) -> None:
        """An actor on each node alive now that has none; each checked to run this code."""
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy
        from omp_core import __version__
        remote = self.ray.remote(num_cpus=0, max_restarts=0, max_task_retries=0)(_Scorer)
        made = {}
        for node in self.ray.nodes():
            if not node.get("Alive") or node["NodeID"] in self._actors:
                continue
            cpus = int(node.get("Resources", {}).get("CPU", 0))
            threads = self.threads_per_node or max(1, cpus)
            self._seq += 1
            made[node["NodeID"]] = remote.options(
                name=f"omp-scorer-{self._tag}-{self._seq}-{node['NodeID'][:12]}", namespace=NAMESPACE,
                scheduling_strategy=NodeAffinitySchedulingStrategy(node["NodeID"], soft=False)).remote(threads)
        for node_id, actor in made.items():
            try:
                info = self.ray.get(actor.describe.remote(), timeout=120)
            except self.ray.exceptions.RayError as exc:
                log.warning("a node's actor did not start", extra={"node": node_id[:12], "error": str(exc)[:300]})
                continue
            if (info["omp_core"], info["numpy"]) != (__version__, np.__version__):
                self.close()
                raise RuntimeError(f"node {info['host']} runs omp_core {info['omp_core']} with numpy {info['numpy']}, "
                                   f"this process {__version__} with {np.__version__}: install the same wheel "
                                   "on every node")
            self._actors[node_id] = actor
        self.nodes = max(self.nodes, len(self._actors))

    @property
    def actors(self) -> list:
        return list(self._actors.values())

    def register(self, snapshot_id: str, source: SnapshotSource, scoring: Scoring, n_symbols: int) -> None:
        """Make the snapshot built from ``source`` available as ``snapshot_id``, scored with
        ``scoring`` over ``n_symbols`` symbols; another source under a taken id is a ValueError."""
        known = self._sources.setdefault(snapshot_id, (source, scoring, n_symbols))
        if known != (source, scoring, n_symbols):
            raise ValueError(f"snapshot id {snapshot_id!r} is already registered to another source")

    # ------------------------------------------------------------------ scoring
    def evaluate(self, genomes: Sequence[Genome], snapshot_id: str) -> np.ndarray:
        try:
            source, sc, n_symbols = self._sources[snapshot_id]
        except KeyError:
            raise KeyError(f"unknown snapshot id {snapshot_id!r}: register it first") from None
        genomes = list(genomes)
        if not genomes:
            return np.empty((0, len(ga.METRICS)))
        t0 = time.perf_counter()
        if len(self._actors) < self.nodes:              # a node lost earlier may be back, or replaced
            self._spawn()
        size = batch_size(len(genomes), len(self._actors))
        batches = [genomes[i:i + size] for i in range(0, len(genomes), size)]
        results: list[np.ndarray | None] = [None] * len(batches)
        tries = [0] * len(batches)
        pending: dict = {}                              # object ref -> (batch index, node id, actor)

        def submit(i: int) -> None:
            if not self._actors:
                self._spawn()
            if not self._actors:
                raise RuntimeError(f"no Ray node is left to score batch {i} on")
            node = list(self._actors)[(i + tries[i]) % len(self._actors)]
            tries[i] += 1
            actor = self._actors[node]
            pending[actor.evaluate.remote(snapshot_id, source, batches[i])] = (i, node, actor)

        for i in range(len(batches)):
            submit(i)
        lost = self._lost_errors()
        while pending:
            ready, _ = self.ray.wait(list(pending), num_returns=1, timeout=RESULT_WAIT_S)
            if not ready:
                raise RuntimeError(f"no batch came back from the Ray cluster in {RESULT_WAIT_S:g} s")
            i, node, actor = pending.pop(ready[0])
            try:
                ev = self.ray.get(ready[0])
            except self.ray.exceptions.RayTaskError as exc:
                cause = exc.as_instanceof_cause()
                if isinstance(cause, SnapshotUnavailable):
                    raise SnapshotUnavailable(str(cause).splitlines()[-1]) from None
                raise cause from None                   # the scoring itself failed: no retry
            except lost as exc:
                # the actor, its node or its result is gone: the batch goes to another actor
                if self._actors.get(node) is actor:      # not a newer actor of the same node
                    del self._actors[node]
                self.resubmitted += 1
                log.warning("a batch was lost with its actor or node; resubmitted",
                            extra={"batch": i, "node": node[:12], "try": tries[i], "error": str(exc)[:300]})
                if tries[i] >= MAX_TRIES:
                    raise RuntimeError(f"batch {i} of {len(batches)} was lost {tries[i]} times (last on node "
                                       f"{node[:12]}: {type(exc).__name__}: {str(exc)[:500]})") from None
                submit(i)
                continue
            results[i] = ga.score(ev, n_symbols, sc.ga, sc.objective, sc.periods_per_year, sc.max_drawdown)
        self.batches += len(batches)
        self.genomes += len(genomes)
        self.last_batch_size = size
        self.busy_s += time.perf_counter() - t0
        return np.concatenate(results)

    def _lost_errors(self) -> tuple:
        """What says a batch is gone (its actor, its node, its result), not that it failed."""
        e = self.ray.exceptions
        return tuple(getattr(e, name) for name in ("RayActorError", "ActorUnavailableError", "ObjectLostError",
                                                   "ActorUnschedulableError", "NodeDiedError", "OutOfMemoryError")
                     if hasattr(e, name))

    def figures(self) -> dict:
        """What the run's timings keep: actors, batches, the batch size chosen, resubmissions."""
        return {"actors": self.nodes, "batches": self.batches, "genomes": self.genomes,
                "batch_size": self.last_batch_size, "resubmitted_batches": self.resubmitted,
                "evaluate_s": round(self.busy_s, 3)}

    def close(self) -> None:
        for actor in self._actors.values():
            try:
                self.ray.kill(actor)
            except Exception:  # noqa: BLE001 - an actor already gone is what close wants
                pass
        self._actors = {}
        if self._started and self.ray.is_initialized():
            self.ray.shutdown()
