"""The evaluator on Ray Core: for campaigns whose generations take seconds (intraday bars, large
universes), scored by the actors of a Ray cluster instead of this process's threads.

- One long-lived actor per node of the cluster, pinned to it. It builds a snapshot once, from the
  :class:`~omp_core.evaluator.SnapshotSource` that travels with its id (the config and the market
  data are on storage every node sees at the same paths; a node whose data hash differs refuses),
  and scores batches with the compiled kernel on its own threads (a :class:`LocalEvaluator`).
- A generation is cut into large batches (:func:`batch_size`), spread over the actors; the results
  are put back by batch index, never by completion order, so they are the local backend's bytes.
- A batch lost with its actor or its node is given to a surviving actor (the actors are made
  again on the nodes alive when none is left). Calls are never retried by Ray itself: scoring is a
  pure function, and this module decides what runs again.

Ray is an optional extra (``pip install 'omp[ray]'``). A cluster started as docs/scaling.md says
has Ray's token authentication on (``RAY_AUTH_MODE=token``); a local Ray started here has it on by
default.
"""
from __future__ import annotations

import math
import os
import secrets
import time
from collections.abc import Sequence

import numpy as np

from omp_core.evaluator import LocalEvaluator, SnapshotSource
from omp_core.genome import Genome

#: the namespace of the actors (a test or an operator finds them by name in it)
NAMESPACE = "omp"
MIN_BATCH, MAX_BATCH = 64, 4096


def batch_size(n_genomes: int, n_actors: int) -> int:
    """Two batches per actor (one queued behind the one running), within [64, 4096] genomes: Ray
    costs 350-430 us per genome called one at a time, 5-14 us per genome in batches of 64-512."""
    return min(MAX_BATCH, max(MIN_BATCH, math.ceil(n_genomes / max(1, 2 * n_actors))))


class _Scorer:
    """The actor: a snapshot built once per id, batches scored on ``threads`` threads."""

    def __init__(self, threads: int):
        self.local = LocalEvaluator(threads)
        self.known: set[str] = set()

    def pid(self) -> int:
        return os.getpid()

    def evaluate(self, snapshot_id: str, source: SnapshotSource, genomes: list[Genome]) -> np.ndarray:
        if snapshot_id not in self.known:
            self.local.register(snapshot_id, source.load())
            self.known.add(snapshot_id)
        return self.local.evaluate(genomes, snapshot_id)


class RayEvaluator:
    """``address``: a Ray cluster's (``host:port``, or ``auto``); None starts a local Ray for this
    process. ``threads_per_node``: each actor's threads (0: the node's CPUs)."""

    def __init__(self, address: str | None = None, threads_per_node: int = 0):
        try:
            import ray
        except ImportError:
            raise RuntimeError("the ray backend needs Ray: pip install 'omp[ray]'") from None
        self.ray = ray
        self.threads_per_node = threads_per_node
        self._started = not ray.is_initialized()
        if self._started:
            ray.init(address=address or None, namespace=NAMESPACE, include_dashboard=False, log_to_driver=False,
                     configure_logging=False)
        self._sources: dict[str, SnapshotSource] = {}
        self._actors: list = []
        self._seq, self._tag = 0, secrets.token_hex(4)     # names unique among evaluators
        self.batches = self.resubmitted = self.genomes = 0
        self.last_batch_size = 0
        self.busy_s = 0.0
        self._spawn()

    # ------------------------------------------------------------------ actors
    def _spawn(self) -> None:
        """One actor on each node alive now."""
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy
        remote = self.ray.remote(num_cpus=0, max_restarts=0, max_task_retries=0)(_Scorer)
        self._actors = []
        for node in self.ray.nodes():
            if not node.get("Alive"):
                continue
            threads = self.threads_per_node or max(1, int(node.get("Resources", {}).get("CPU", 1)))
            self._seq += 1
            self._actors.append(remote.options(
                name=f"omp-scorer-{self._tag}-{self._seq}-{node['NodeID'][:12]}", namespace=NAMESPACE,
                scheduling_strategy=NodeAffinitySchedulingStrategy(node["NodeID"], soft=False)).remote(threads))
        if not self._actors:
            raise RuntimeError("the Ray cluster has no node alive to score on")
        self.nodes = len(self._actors)

    @property
    def actors(self) -> list:
        return list(self._actors)

    def register(self, snapshot_id: str, source: SnapshotSource) -> None:
        """Make the snapshot built from ``source`` available as ``snapshot_id``; another source under
        a taken id is a ValueError."""
        known = self._sources.setdefault(snapshot_id, source)
        if known != source:
            raise ValueError(f"snapshot id {snapshot_id!r} is already registered to another source")

    # ------------------------------------------------------------------ scoring
    def evaluate(self, genomes: Sequence[Genome], snapshot_id: str) -> np.ndarray:
        try:
            source = self._sources[snapshot_id]
        except KeyError:
            raise KeyError(f"unknown snapshot id {snapshot_id!r}: register it first") from None
        genomes = list(genomes)
        if not genomes:
            from omp_core import ga
            return np.empty((0, len(ga.METRICS)))
        t0 = time.perf_counter()
        size = batch_size(len(genomes), len(self._actors))
        batches = [genomes[i:i + size] for i in range(0, len(genomes), size)]
        results: list[np.ndarray | None] = [None] * len(batches)
        pending = {}                    # object ref -> (batch index, actor)
        for i, batch in enumerate(batches):
            actor = self._actors[i % len(self._actors)]
            pending[actor.evaluate.remote(snapshot_id, source, batch)] = (i, actor)
        while pending:
            ready, _ = self.ray.wait(list(pending), num_returns=1)
            ref = ready[0]
            i, actor = pending.pop(ref)
            try:
                results[i] = self.ray.get(ref)
            except self.ray.exceptions.RayTaskError as exc:
                raise exc.as_instanceof_cause() from None       # the scoring itself failed: no retry
            except (self.ray.exceptions.RayActorError, self.ray.exceptions.ActorUnavailableError):
                # the actor or its node is gone: its batch goes to a surviving actor
                self._actors = [a for a in self._actors if a is not actor]
                if not self._actors:
                    self._spawn()
                self.resubmitted += 1
                other = self._actors[i % len(self._actors)]
                pending[other.evaluate.remote(snapshot_id, source, batches[i])] = (i, other)
        self.batches += len(batches)
        self.genomes += len(genomes)
        self.last_batch_size = size
        self.busy_s += time.perf_counter() - t0
        return np.concatenate(results)

    def figures(self) -> dict:
        """What the run's timings keep: actors, batches, the batch size chosen, resubmissions."""
        return {"actors": self.nodes, "batches": self.batches, "genomes": self.genomes,
                "batch_size": self.last_batch_size, "resubmitted_batches": self.resubmitted,
                "evaluate_s": round(self.busy_s, 3)}

    def close(self) -> None:
        for actor in self._actors:
            try:
                self.ray.kill(actor)
            except Exception:  # noqa: BLE001 - an actor already gone is what close wants
                pass
        self._actors = []
        if self._started:
            self.ray.shutdown()
