"""The promoter's metrics: decisions by outcome, rejections by gate, entries by state and the time
of the last promotion (read at scrape time)."""
from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import GaugeMetricFamily

from omp_services.common.vocabulary import EntryState, PromotionOutcome
from omp_services.promoter.gates import GATES


class PromoterMetrics:
    def __init__(self, registry: CollectorRegistry):
        self.decisions = Counter("omp_promoter_decisions_total", "Runs judged, by outcome", ["outcome"],
                                 registry=registry)
        self.rejections = Counter("omp_promoter_gate_failures_total", "Gates failed, by gate (a run or candidate "
                                  "can fail several)", ["gate"], registry=registry)
        self.state_changes = Counter("omp_promoter_entry_state_changes_total", "Hall of Fame state changes",
                                     registry=registry)
        for o in PromotionOutcome:         # every series from zero: rate() and increase() see the first one
            self.decisions.labels(str(o))
        for gate in GATES:
            self.rejections.labels(gate)
        self._registry = registry

    def decided(self, d) -> None:
        self.decisions.labels(str(d.outcome)).inc()
        for gate in d.failed():
            self.rejections.labels(gate).inc()

    def state_changed(self) -> None:
        self.state_changes.inc()

    def watch(self, store, mirror=None) -> None:
        self._registry.register(_HallOfFame(store, mirror))


class _HallOfFame:
    def __init__(self, store, mirror):
        self.store, self.mirror = store, mirror

    def collect(self):
        try:
            with self.store.read() as tx:
                counts, last, first = tx.counts(), tx.last_promoted_at(), tx.first_decided_at()
        except Exception:  # noqa: BLE001 - a busy database must not fail the scrape of everything else
            return
        g = GaugeMetricFamily("omp_hof_entries", "Hall of Fame entries by state", labels=["state"])
        for s in EntryState:
            g.add_metric([str(s)], counts.get(s, 0))
        yield g
        t = GaugeMetricFamily("omp_hof_last_promotion_timestamp_seconds", "When the last entry was promoted "
                              "(0: never)")
        t.add_metric([], last or 0.0)
        yield t
        f = GaugeMetricFamily("omp_promoter_first_decision_timestamp_seconds", "When the first run was judged "
                              "(0: none yet): with the last promotion, the input of a no-promotion alert")
        f.add_metric([], first or 0.0)
        yield f
        if self.mirror is None:
            return
        try:
            pending, lag = self.mirror.lag()
        except Exception:  # noqa: BLE001 - as above
            return
        for name, what, value in (("omp_hof_mirror_pending", "Entries changed that the mirror does not hold yet", pending),
                                  ("omp_hof_mirror_lag_seconds", "How long the oldest of them has waited", lag),
                                  ("omp_hof_mirror_last_sync_timestamp_seconds", "When the mirror last held every "
                                   "entry (0: not yet)", self.mirror.last_sync or 0.0)):
            g = GaugeMetricFamily(name, what)
            g.add_metric([], value)
            yield g
