"""The promoter's sections of ``omp.toml``: ``[promoter]`` (where it listens), ``[promotion]`` (the
thresholds a candidate must meet, from the playbook) and ``[auto_reject]`` (the floors below which
it is rejected out of hand)."""
from __future__ import annotations

from dataclasses import dataclass

from omp_core.binding import require
from omp_services.common.settings import ADDRESS_BOOK, Endpoint, redact_url

_HOME = ADDRESS_BOOK["promoter"]


@dataclass(frozen=True)
class PromoterSettings(Endpoint):
    port: int = _HOME.port
    metrics_port: int = _HOME.metrics_port
    rpc_timeout_s: float = 10.0

    def check(self, p):
        super().check(p)
        require(0 < self.rpc_timeout_s <= 300, f"{p}.rpc_timeout_s", "must be in (0, 300]", self.rpc_timeout_s)


@dataclass(frozen=True)
class PromotionSettings:
    min_oos_sharpe: float = 0.5               # out of sample, net of costs (annualized)
    max_pbo: float = 0.20
    min_dsr: float = 0.4
    max_drawdown: float = 0.30                # out of sample, net of costs (a fraction)
    min_stress_passed: int = 3                # of the run's stress tests (4)
    variance_floor: float = 1e-6              # Sharpe variance across the run's candidates below: blocked, SEV-0
    max_turnover_per_year: float = 52.0       # round trips per year per sleeve above: pending execution review
    max_correlation: float = 0.7              # OOS return correlation with an active entry above: redundant
    allow_dirty_code: bool = False            # a run made by code with uncommitted changes is not reproducible
    revalidate_days: float = 30.0             # every active entry is re-run on the latest data this often
    revalidation_min_sharpe: float = 0.3      # its OOS Sharpe on it below: flagged for review
    revalidation_max_pbo: float = 0.30        # its run's candidates' PBO on it above: demoted to research
    mirror_url: str = ""                      # the Hall of Fame's PostgreSQL mirror; "" = none
    mirror_interval_s: float = 10.0           # the mirror is synced this often, and at once after a change

    def check(self, p):
        require(self.max_pbo >= 0, f"{p}.max_pbo", "must be >= 0", self.max_pbo)
        require(0 <= self.min_dsr <= 1, f"{p}.min_dsr", "must be in [0, 1]", self.min_dsr)
        require(0 < self.max_drawdown <= 1, f"{p}.max_drawdown", "must be in (0, 1]", self.max_drawdown)
        require(self.min_stress_passed >= 0, f"{p}.min_stress_passed", "must be >= 0", self.min_stress_passed)
        require(self.variance_floor >= 0, f"{p}.variance_floor", "must be >= 0", self.variance_floor)
        require(self.mirror_url == "" or self.mirror_url.startswith("postgresql"), f"{p}.mirror_url",
                "must be a postgresql+psycopg:// URL or empty", redact_url(self.mirror_url))
        require(0.05 <= self.mirror_interval_s <= 3600, f"{p}.mirror_interval_s", "must be in [0.05, 3600]",
                self.mirror_interval_s)
        require(0 < self.revalidate_days <= 3650, f"{p}.revalidate_days", "must be in (0, 3650]", self.revalidate_days)
        require(-1 <= self.max_correlation <= 1, f"{p}.max_correlation", "must be in [-1, 1]", self.max_correlation)
        require(self.max_turnover_per_year > 0, f"{p}.max_turnover_per_year", "must be > 0",
                self.max_turnover_per_year)


@dataclass(frozen=True)
class AutoRejectSettings:
    min_oos_sharpe: float = 0.2
    max_pbo: float = 0.40
    max_drawdown: float = 0.50
    min_oos_trades: int = 10

    def check(self, p):
        require(self.max_pbo >= 0, f"{p}.max_pbo", "must be >= 0", self.max_pbo)
        require(0 < self.max_drawdown <= 1, f"{p}.max_drawdown", "must be in (0, 1]", self.max_drawdown)
        require(self.min_oos_trades >= 0, f"{p}.min_oos_trades", "must be >= 0", self.min_oos_trades)


SECTIONS = {"promoter": PromoterSettings, "promotion": PromotionSettings, "auto_reject": AutoRejectSettings}
