"""Campaign config: parse TOML, validate with errors that name the key path and the value, give the
canonical form and ``config_hash``.

Every section is a frozen dataclass whose fields are the allowed keys with their defaults; an unknown
key, a wrong type or a bad value raises :class:`ConfigError`. The canonical form is the validated
config with every default filled in, as compact JSON with sorted keys, so ``config_hash`` does not
depend on key order, formatting, comments or on spelling out a default.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from omp_core import features
from omp_core.binding import ConfigError, build_table, require
from omp_core.data import KIND_ACTIONS, TIMESTAMP_UNITS, ColumnMap, Source, ValidationPolicy
from omp_core.genome import MAX_CONDITIONS

TIMEFRAMES = {"1m": 60, "5m": 300, "15m": 900, "30m": 1800, "1h": 3600, "4h": 14400, "1d": 86400}
MARKETS = ("br", "us", "crypto", "fx")
OBJECTIVES = ("sharpe", "sortino", "calmar")
FORMAT_VERSION = 1


_require = require


@dataclass(frozen=True)
class CampaignSection:
    name: str = ""
    description: str = ""

    def check(self, p):
        _require(0 < len(self.name) <= 200, f"{p}.name", "must be 1..200 characters", self.name)


@dataclass(frozen=True)
class Mandate:
    market: str = "us"
    universe: tuple[str, ...] = ()
    timeframe: str = "1d"
    objective: str = "sharpe"
    periods_per_year: float = 0.0   # 0: the bars per year observed in the data

    def check(self, p):
        _require(self.market in MARKETS, f"{p}.market", f"must be one of {MARKETS}", self.market)
        _require(len(self.universe) >= 1, f"{p}.universe", "must name at least one symbol", list(self.universe))
        _require(len(set(self.universe)) == len(self.universe), f"{p}.universe", "has a duplicate symbol",
                 list(self.universe))
        _require(self.timeframe in TIMEFRAMES, f"{p}.timeframe", f"must be one of {tuple(TIMEFRAMES)}",
                 self.timeframe)
        _require(self.objective in OBJECTIVES, f"{p}.objective", f"must be one of {OBJECTIVES}", self.objective)
        _require(self.periods_per_year >= 0, f"{p}.periods_per_year", "must be >= 0 (0 = from the data)",
                 self.periods_per_year)


@dataclass(frozen=True)
class DataSource:
    path: str = ""
    symbol: str = ""                # a single-symbol file
    symbol_column: str = ""         # a long multi-symbol file
    timestamp: str = ""             # "" = the unnamed first column
    timestamp_unit: str = "iso"
    open: str = "open"
    high: str = "high"
    low: str = "low"
    close: str = "close"
    volume: str = "volume"          # "" = no volume
    null_values: tuple[str, ...] = ("", "null", "NaN", "nan", "NA", "N/A")

    def check(self, p):
        _require(bool(self.path), f"{p}.path", "is required", self.path)
        _require(bool(self.symbol) != bool(self.symbol_column), f"{p}",
                 "give exactly one of symbol (single-symbol file) or symbol_column (long file)",
                 {"symbol": self.symbol, "symbol_column": self.symbol_column})
        _require(self.timestamp_unit in TIMESTAMP_UNITS, f"{p}.timestamp_unit",
                 f"must be one of {TIMESTAMP_UNITS}", self.timestamp_unit)

    def to_source(self, base: Path, root: Path | None) -> Source:
        path = (base / self.path).resolve()
        if root is not None and not path.is_relative_to(root.resolve()):
            raise ConfigError("data.sources.path", f"leaves the data root {root.resolve()}", self.path)
        cm = ColumnMap(self.timestamp, self.open, self.high, self.low, self.close, self.volume or None,
                       self.symbol_column or None, self.timestamp_unit)
        return Source(path, cm, self.symbol or None, tuple(self.null_values))


@dataclass(frozen=True)
class DataValidation:
    max_abs_return: float = 0.5
    null_row: str = "fail"
    nan_price: str = "fail"
    non_positive_price: str = "fail"
    ohlc_inconsistent: str = "fail"
    duplicate_timestamp: str = "fail"
    non_monotonic_timestamp: str = "fail"
    jump: str = "fail"

    def check(self, p):
        _require(0 < self.max_abs_return < 100, f"{p}.max_abs_return", "must be in (0, 100)",
                 self.max_abs_return)
        for kind, allowed in KIND_ACTIONS.items():
            v = getattr(self, kind)
            _require(v in allowed, f"{p}.{kind}", f"must be one of {allowed}", v)

    def policy(self) -> ValidationPolicy:
        return ValidationPolicy(self.max_abs_return, {k: getattr(self, k) for k in KIND_ACTIONS})


@dataclass(frozen=True)
class Data:
    sources: tuple[DataSource, ...] = ()
    validation: DataValidation = field(default_factory=DataValidation)
    min_bars: int = 200

    def check(self, p):
        _require(len(self.sources) >= 1, f"{p}.sources", "must list at least one file", len(self.sources))
        _require(self.min_bars >= 50, f"{p}.min_bars", "must be >= 50", self.min_bars)


@dataclass(frozen=True)
class Strategy:
    sma: tuple[int, ...] = (10, 20, 50, 100, 200)
    ema: tuple[int, ...] = (10, 20, 50)
    rsi: tuple[int, ...] = (7, 14)
    atr: tuple[int, ...] = (14,)
    zscore: tuple[int, ...] = (20,)
    roc: tuple[int, ...] = (5, 20)
    bbp: tuple[int, ...] = (20,)
    volz: tuple[int, ...] = (20,)
    sides: tuple[str, ...] = ("long", "short")
    max_entry_conditions: int = 3
    max_exit_conditions: int = 2
    crossover_probability: float = 0.3
    stop_loss: tuple[float, float] = (0.0, 0.10)
    take_profit: tuple[float, float] = (0.0, 0.20)
    max_hold: tuple[int, int] = (0, 60)

    def check(self, p):
        for kind in ("sma", "ema", "rsi", "atr", "zscore", "roc", "bbp", "volz"):
            ws = getattr(self, kind)
            _require(all(isinstance(w, int) and 2 <= w <= 5000 for w in ws), f"{p}.{kind}",
                     "windows must be integers in [2, 5000]", list(ws))
        _require(len(self.feature_names()) >= 2, p, "must enable at least one feature window", None)
        _require(len(self.sides) >= 1 and set(self.sides) <= {"long", "short"}, f"{p}.sides",
                 "must be a non-empty subset of ['long', 'short']", list(self.sides))
        _require(1 <= self.max_entry_conditions <= MAX_CONDITIONS, f"{p}.max_entry_conditions",
                 f"must be in 1..{MAX_CONDITIONS}", self.max_entry_conditions)
        _require(0 <= self.max_exit_conditions <= MAX_CONDITIONS, f"{p}.max_exit_conditions",
                 f"must be in 0..{MAX_CONDITIONS}", self.max_exit_conditions)
        _require(0 <= self.crossover_probability <= 1, f"{p}.crossover_probability", "must be in [0, 1]",
                 self.crossover_probability)
        for name, hi in (("stop_loss", 0.99), ("take_profit", 10.0), ("max_hold", 100_000)):
            lo_v, hi_v = getattr(self, name)
            _require(0 <= lo_v <= hi_v <= hi, f"{p}.{name}", f"must be [low, high] with 0 <= low <= high <= {hi}",
                     [lo_v, hi_v])

    def feature_names(self) -> tuple[str, ...]:
        names = ["close"]
        for kind in ("sma", "ema", "rsi", "atr", "zscore", "roc", "bbp", "volz"):
            names += [f"{kind}_{w}" for w in sorted(set(getattr(self, kind)))]
        return tuple(names)

    def level_names(self) -> tuple[str, ...]:
        return tuple(n for n in self.feature_names() if features.is_level(n))


@dataclass(frozen=True)
class GA:
    population: int = 64
    generations: int = 20
    elitism: int = 4
    tournament_size: int = 3
    crossover_rate: float = 0.7
    mutation_rate: float = 0.5
    immigrant_rate: float = 0.1
    min_trades: int = 10

    def check(self, p):
        _require(4 <= self.population <= 100_000, f"{p}.population", "must be in 4..100000", self.population)
        _require(1 <= self.generations <= 100_000, f"{p}.generations", "must be in 1..100000", self.generations)
        _require(0 <= self.elitism < self.population, f"{p}.elitism", "must be in 0..population-1", self.elitism)
        _require(2 <= self.tournament_size <= self.population, f"{p}.tournament_size",
                 "must be in 2..population", self.tournament_size)
        for name in ("crossover_rate", "mutation_rate", "immigrant_rate"):
            v = getattr(self, name)
            _require(0 <= v <= 1, f"{p}.{name}", "must be in [0, 1]", v)
        _require(self.min_trades >= 0, f"{p}.min_trades", "must be >= 0", self.min_trades)


@dataclass(frozen=True)
class CostsSection:
    fee_bps: float = 5.0
    slippage_bps: float = 5.0

    def check(self, p):
        for name in ("fee_bps", "slippage_bps"):
            v = getattr(self, name)
            _require(0 <= v < 1000, f"{p}.{name}", "must be in [0, 1000) basis points per side", v)


@dataclass(frozen=True)
class Validation:
    holdout_fraction: float = 0.3
    walk_forward_folds: int = 3
    pbo_splits: int = 16
    pbo_candidates: int = 32
    top_k: int = 10
    stress_bootstrap: int = 500

    def check(self, p):
        _require(0.05 <= self.holdout_fraction <= 0.8, f"{p}.holdout_fraction", "must be in [0.05, 0.8]",
                 self.holdout_fraction)
        _require(0 <= self.walk_forward_folds <= 20, f"{p}.walk_forward_folds", "must be in 0..20",
                 self.walk_forward_folds)
        _require(self.pbo_splits >= 2 and self.pbo_splits % 2 == 0 and self.pbo_splits <= 20,
                 f"{p}.pbo_splits", "must be an even number in 2..20", self.pbo_splits)
        _require(2 <= self.pbo_candidates <= 10_000, f"{p}.pbo_candidates", "must be in 2..10000",
                 self.pbo_candidates)
        _require(1 <= self.top_k <= 1000, f"{p}.top_k", "must be in 1..1000", self.top_k)
        _require(50 <= self.stress_bootstrap <= 100_000, f"{p}.stress_bootstrap", "must be in 50..100000",
                 self.stress_bootstrap)


@dataclass(frozen=True)
class Constraints:
    max_runtime_minutes: float = 60.0
    max_drawdown: float = 0.5
    min_sharpe: float = 0.0

    def check(self, p):
        _require(0 < self.max_runtime_minutes <= 7 * 24 * 60, f"{p}.max_runtime_minutes",
                 "must be in (0, 10080]", self.max_runtime_minutes)
        _require(0 < self.max_drawdown <= 1, f"{p}.max_drawdown", "must be in (0, 1]", self.max_drawdown)
        _require(math.isfinite(self.min_sharpe), f"{p}.min_sharpe", "must be finite", self.min_sharpe)


@dataclass(frozen=True)
class CampaignConfig:
    version: int = FORMAT_VERSION
    campaign: CampaignSection = field(default_factory=CampaignSection)
    mandate: Mandate = field(default_factory=Mandate)
    data: Data = field(default_factory=Data)
    strategy: Strategy = field(default_factory=Strategy)
    ga: GA = field(default_factory=GA)
    seeds: tuple[int, ...] = (42, 123, 456)
    costs: CostsSection = field(default_factory=CostsSection)
    validation: Validation = field(default_factory=Validation)
    constraints: Constraints = field(default_factory=Constraints)
    #: where relative data paths are resolved from (the config file's folder); not part of the hash
    base_dir: Path = field(default=Path("."), compare=False)

    def check(self, p=""):
        _require(bool(self.campaign.name), "campaign.name", "is required", self.campaign.name)
        _require(bool(self.mandate.universe), "mandate.universe", "is required", list(self.mandate.universe))
        _require(bool(self.data.sources), "data.sources", "is required ([[data.sources]])", [])
        _require(self.version == FORMAT_VERSION, "version", f"must be {FORMAT_VERSION}", self.version)
        _require(1 <= len(self.seeds) <= 100, "seeds", "must list 1..100 seeds", list(self.seeds))
        _require(len(set(self.seeds)) == len(self.seeds), "seeds", "has a duplicate seed", list(self.seeds))
        _require(all(0 <= s < 2 ** 63 for s in self.seeds), "seeds", "must be integers in [0, 2^63)",
                 list(self.seeds))

    def canonical(self) -> dict:
        return _to_plain(self)

    def canonical_json(self) -> str:
        return json.dumps(self.canonical(), sort_keys=True, separators=(",", ":"))

    @property
    def config_hash(self) -> str:
        return hashlib.sha256(self.canonical_json().encode()).hexdigest()

    def sources(self, data_root: Path | None = None) -> list[Source]:
        return [s.to_source(self.base_dir, data_root) for s in self.data.sources]


def _to_plain(obj):
    if dataclasses.is_dataclass(obj):
        return {f.name: _to_plain(getattr(obj, f.name)) for f in dataclasses.fields(obj) if f.compare}
    if isinstance(obj, tuple):
        return [_to_plain(v) for v in obj]
    return obj


def parse(raw: dict, base_dir: Path = Path(".")) -> CampaignConfig:
    """Validate a config given as a dict (as TOML gives it)."""
    cfg = build_table(CampaignConfig, raw, "")
    return dataclasses.replace(cfg, base_dir=base_dir)


def loads(text: str, base_dir: Path = Path(".")) -> CampaignConfig:
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError("config", f"is not valid TOML ({exc})") from None
    return parse(raw, base_dir)


def load(path: str | Path) -> CampaignConfig:
    """Read and validate a campaign config file; relative data paths are resolved from its folder."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError("config", "file not found", str(path))
    return loads(p.read_text(encoding="utf-8"), p.resolve().parent)
