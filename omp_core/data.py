"""Market data: loading OHLCV through a declared column mapping, validation that fails closed,
alignment of a universe on a common calendar, and the ``snapshot_id`` of the data actually used.

Nothing is guessed: every source says which column holds what. Supported layouts are single-symbol
files (the symbol is given, the time may be the unnamed first column), long multi-symbol files (a
symbol column), MetaTrader 5 exports, Binance klines (epoch milliseconds) and Yahoo exports (literal
``null`` rows). CSV is read with the standard library; Parquet needs ``pyarrow``.
"""
from __future__ import annotations

import csv
import hashlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

PRICE_FIELDS = ("open", "high", "low", "close")

#: kinds of bad rows, in the order they are checked, and the actions each one allows
KIND_ACTIONS: dict[str, tuple[str, ...]] = {
    "null_row": ("fail", "drop", "drop_symbol"),
    "nan_price": ("fail", "drop", "repair", "drop_symbol"),
    "non_positive_price": ("fail", "drop", "drop_symbol"),
    "ohlc_inconsistent": ("fail", "drop", "repair", "drop_symbol"),
    "duplicate_timestamp": ("fail", "drop", "drop_symbol"),
    "non_monotonic_timestamp": ("fail", "drop", "drop_symbol"),
    "jump": ("fail", "drop", "keep", "drop_symbol"),
}
TIMESTAMP_UNITS = ("iso", "s", "ms")


class DataMissing(FileNotFoundError):
    """A data file a config names is not there."""


class DataValidationError(ValueError):
    """The data failed validation; ``problems`` lists every offending row."""

    def __init__(self, problems: Sequence["Problem"], limit: int = 20):
        self.problems = tuple(problems)
        lines = [p.describe() for p in self.problems[:limit]]
        more = len(self.problems) - limit
        if more > 0:
            lines.append(f"... and {more} more")
        super().__init__(f"data validation failed with {len(self.problems)} problem(s):\n  "
                         + "\n  ".join(lines))


@dataclass(frozen=True)
class Problem:
    """One bad row (``line`` is the 1-based line of the file, the header being line 1)."""
    symbol: str
    kind: str
    line: int
    timestamp: str
    detail: str
    action: str = "fail"

    def describe(self) -> str:
        where = f"line {self.line}" if self.line > 0 else "symbol"
        return f"{self.symbol} {where} ({self.timestamp}): {self.kind}: {self.detail}"

    def to_dict(self) -> dict:
        return {"symbol": self.symbol, "kind": self.kind, "line": self.line,
                "timestamp": self.timestamp, "detail": self.detail, "action": self.action}


@dataclass(frozen=True)
class ColumnMap:
    """Which column of a source holds what. ``timestamp=""`` means the unnamed first column."""
    timestamp: str = ""
    open: str = "open"
    high: str = "high"
    low: str = "low"
    close: str = "close"
    volume: str | None = "volume"
    symbol: str | None = None
    timestamp_unit: str = "iso"


@dataclass(frozen=True)
class Source:
    """One file. ``symbol`` names the series of a single-symbol file; long files use
    ``columns.symbol`` instead."""
    path: Path
    columns: ColumnMap = field(default_factory=ColumnMap)
    symbol: str | None = None
    null_values: tuple[str, ...] = ("", "null", "NaN", "nan", "NA", "N/A")

    @property
    def format(self) -> str:
        return "parquet" if self.path.suffix.lower() in (".parquet", ".pq") else "csv"


@dataclass(frozen=True)
class ValidationPolicy:
    """What to do with each kind of bad row (default: fail), and what counts as a jump."""
    max_abs_return: float = 0.5
    actions: Mapping[str, str] = field(default_factory=dict)

    def action(self, kind: str) -> str:
        return self.actions.get(kind, "fail")


@dataclass(frozen=True)
class Series:
    """One symbol's validated rows, in time order."""
    symbol: str
    timestamps: np.ndarray          # datetime64[s]
    ohlcv: np.ndarray               # (5, n) float64: open, high, low, close, volume (NaN if absent)


@dataclass(frozen=True)
class Market:
    """A universe aligned on a common calendar: price arrays are (symbols x bars), C-contiguous."""
    symbols: tuple[str, ...]
    timestamps: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    snapshot_id: str
    report: dict

    @property
    def n_bars(self) -> int:
        return int(self.timestamps.shape[0])

    @property
    def periods_per_year(self) -> float:
        """Bars per year observed in the data (count over calendar span): 252-ish for exchange
        daily bars, 525,960 for 24/7 one-minute bars, whatever a session calendar really gives."""
        span = (self.timestamps[-1] - self.timestamps[0]).astype("timedelta64[s]").astype(np.int64)
        if span <= 0:
            return math.nan
        return (self.n_bars - 1) / (float(span) / (365.25 * 86400.0))


# ---------------------------------------------------------------------------------------- reading

def _read_table(source: Source) -> tuple[list[str], dict[str, list]]:
    if not source.path.is_file():
        raise DataMissing(f"data file not found: {source.path}")
    if source.format == "parquet":
        try:
            import pyarrow.parquet as pq
        except ImportError as exc:  # optional dependency: say what to install
            raise ImportError(f"{source.path}: reading Parquet needs pyarrow (pip install pyarrow)") from exc
        table = pq.read_table(source.path)
        return list(table.column_names), table.to_pydict()
    with open(source.path, newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        try:
            header = next(reader)
        except StopIteration:
            raise ValueError(f"{source.path}: file is empty") from None
        cols: list[list] = [[] for _ in header]
        for row in reader:
            if not row:
                continue
            for i in range(len(header)):
                cols[i].append(row[i] if i < len(row) else "")
    return header, {name: col for name, col in zip(header, cols)}


def _column(source: Source, header: list[str], data: dict, name: str, role: str) -> list:
    if name == "" and role == "timestamp":
        return data[header[0]]
    if name not in data:
        raise ValueError(f"{source.path}: column {name!r} for {role} not found; columns are {header}")
    return data[name]


def _to_float(values: list, nulls: frozenset) -> np.ndarray:
    out = np.empty(len(values), dtype=np.float64)
    for i, v in enumerate(values):
        if v is None or (isinstance(v, str) and v.strip() in nulls):
            out[i] = math.nan
            continue
        try:
            out[i] = float(v)
        except (TypeError, ValueError):
            out[i] = math.nan
    return out


def _to_time(values: list, unit: str, source: Source) -> np.ndarray:
    if unit == "iso":
        if values and not isinstance(values[0], str):
            return np.asarray(values, dtype="datetime64[s]")
        try:
            return np.array([v.strip().replace(" ", "T") for v in values], dtype="datetime64[s]")
        except ValueError as exc:
            raise ValueError(f"{source.path}: timestamp column holds a value that is not an ISO date "
                             f"({exc})") from None
    scale = 1 if unit == "s" else 1000
    try:
        ints = np.array([int(float(v)) for v in values], dtype=np.int64)
    except ValueError as exc:
        raise ValueError(f"{source.path}: timestamp column must hold epoch {unit}: {exc}") from None
    return (ints // scale).astype("datetime64[s]")


def read_source(source: Source) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Read a file into ``{symbol: (timestamps, ohlcv (5 x n), file line numbers)}``, in file order."""
    cm = source.columns
    if cm.timestamp_unit not in TIMESTAMP_UNITS:
        raise ValueError(f"timestamp_unit must be one of {TIMESTAMP_UNITS}, got {cm.timestamp_unit!r}")
    if (cm.symbol is None) == (source.symbol is None):
        raise ValueError(f"{source.path}: give exactly one of a symbol column or a fixed symbol")
    header, data = _read_table(source)
    nulls = frozenset(source.null_values)
    ts = _to_time(_column(source, header, data, cm.timestamp, "timestamp"), cm.timestamp_unit, source)
    prices = [_to_float(_column(source, header, data, getattr(cm, f), f), nulls) for f in PRICE_FIELDS]
    vol = (_to_float(_column(source, header, data, cm.volume, "volume"), nulls) if cm.volume
           else np.full(ts.shape[0], math.nan))
    ohlcv = np.vstack(prices + [vol])
    lines = np.arange(2, ts.shape[0] + 2)
    if source.symbol is not None:
        return {source.symbol: (ts, ohlcv, lines)}
    names = np.asarray([str(s) for s in _column(source, header, data, cm.symbol, "symbol")])
    out = {}
    for sym in dict.fromkeys(names.tolist()):
        m = names == sym
        out[sym] = (ts[m], ohlcv[:, m], lines[m])
    return out


# ------------------------------------------------------------------------------------- validation

def _problems(symbol, kind, mask, ts, lines, detail_fn, action):
    return [Problem(symbol, kind, int(lines[i]), str(ts[i]), detail_fn(i), action)
            for i in np.flatnonzero(mask)]


def validate_series(symbol: str, ts: np.ndarray, ohlcv: np.ndarray, lines: np.ndarray,
                    policy: ValidationPolicy) -> tuple[Series | None, list[Problem], list[Problem]]:
    """Check one symbol's rows kind by kind; returns (series or None if the symbol is dropped,
    problems that must fail the load, actions taken). Inputs are not modified."""
    ohlcv = ohlcv.copy()
    failures: list[Problem] = []
    taken: list[Problem] = []
    keep = np.ones(ts.shape[0], dtype=bool)
    flagged = np.zeros(ts.shape[0], dtype=bool)   # already reported as failing: one problem per row

    def apply(kind: str, mask: np.ndarray, detail_fn, repair=None) -> bool:
        """Returns False when the symbol is dropped."""
        mask = mask & keep & ~flagged
        if not mask.any():
            return True
        action = policy.action(kind)
        found = _problems(symbol, kind, mask, ts, lines, detail_fn, action)
        if action == "fail":
            failures.extend(found)
            flagged[mask] = True
        elif action == "drop_symbol":
            taken.append(Problem(symbol, kind, 0, "", f"symbol dropped: {mask.sum()} bad row(s), first at "
                                                       f"line {found[0].line}", action))
            return False
        else:
            taken.extend(found)
            if action == "drop":
                keep[mask] = False
            elif action == "repair":
                repair(mask)
        return True

    o, h, l, c = ohlcv[0], ohlcv[1], ohlcv[2], ohlcv[3]
    fmt = lambda i: "o={:g} h={:g} l={:g} c={:g}".format(*ohlcv[:4, i])  # noqa: E731
    nan = np.isnan(ohlcv[:4])

    def repair_nan(mask):
        idx = np.flatnonzero(mask)
        for i in idx:
            if math.isnan(c[i]):      # nothing sound to repair a missing close from
                keep[i] = False
                continue
            prev = np.flatnonzero(keep[:i] & ~np.isnan(c[:i]))
            if math.isnan(o[i]):
                o[i] = c[prev[-1]] if prev.size else c[i]
            body = (o[i], c[i])
            if math.isnan(h[i]):
                h[i] = max(body)
            if math.isnan(l[i]):
                l[i] = min(body)

    def repair_ohlc(mask):
        lo, hi = np.min(ohlcv[:4, mask], axis=0), np.max(ohlcv[:4, mask], axis=0)
        l[mask], h[mask] = lo, hi

    if not apply("null_row", nan.all(axis=0), lambda i: "every price is missing"):
        return None, failures, taken
    if not apply("nan_price", nan.any(axis=0), fmt, repair_nan):
        return None, failures, taken
    with np.errstate(invalid="ignore"):
        if not apply("non_positive_price", (ohlcv[:4] <= 0).any(axis=0), fmt):
            return None, failures, taken
        bad = (h < l) | (o > h) | (o < l) | (c > h) | (c < l)
    if not apply("ohlc_inconsistent", bad, fmt, repair_ohlc):
        return None, failures, taken
    ti = ts.astype(np.int64)
    _, first = np.unique(ti, return_index=True)
    dup = np.ones(ti.shape[0], dtype=bool)
    dup[first] = False
    if not apply("duplicate_timestamp", dup, lambda i: "timestamp seen on an earlier row"):
        return None, failures, taken
    kept_idx = np.flatnonzero(keep)
    prev_max = np.maximum.accumulate(np.concatenate([[np.iinfo(np.int64).min], ti[kept_idx][:-1]]))
    nonmono = np.zeros_like(keep)
    nonmono[kept_idx] = ti[kept_idx] < prev_max
    if not apply("non_monotonic_timestamp", nonmono, lambda i: "earlier than a previous row"):
        return None, failures, taken
    if not _check_jumps(symbol, ts, c, lines, keep, flagged, policy, failures, taken):
        return None, failures, taken
    if failures:
        return None, failures, taken
    return Series(symbol, ts[keep], np.ascontiguousarray(ohlcv[:, keep])), failures, taken


def _check_jumps(symbol, ts, c, lines, keep, flagged, policy, failures, taken) -> bool:
    """A close-to-close move beyond ``max_abs_return`` is a jump. ``drop`` removes an isolated
    spike (the next close comes back within the threshold of the previous one); a level shift such
    as an unadjusted split cannot be fixed by dropping rows and fails."""
    idx = np.flatnonzero(keep & ~flagged)
    if idx.size < 2:
        return True
    cc = c[idx]
    thr = policy.max_abs_return
    with np.errstate(invalid="ignore", divide="ignore"):
        jump = np.abs(cc[1:] / cc[:-1] - 1.0) > thr
    action = policy.action("jump")
    hits = np.flatnonzero(jump) + 1
    if hits.size == 0:
        return True
    if action == "drop_symbol":
        taken.append(Problem(symbol, "jump", 0, "", f"symbol dropped: {hits.size} jump(s), first at line "
                                                     f"{lines[idx[hits[0]]]}", action))
        return False
    skip_next = False
    for k in hits:
        if skip_next:      # the return leg of a spike just dropped
            skip_next = False
            continue
        i = idx[k]
        detail = f"close moved {cc[k] / cc[k - 1] - 1.0:+.1%} from {cc[k - 1]:g} to {cc[k]:g}"
        p = Problem(symbol, "jump", int(lines[i]), str(ts[i]), detail, action)
        if action == "keep":
            taken.append(p)
        elif action == "drop" and k + 1 < idx.size and abs(cc[k + 1] / cc[k - 1] - 1.0) <= thr:
            keep[i] = False
            taken.append(p)
            skip_next = True
        elif action == "drop":
            failures.append(Problem(symbol, "jump", p.line, p.timestamp,
                                    detail + " and does not come back (a level shift such as an "
                                    "unadjusted split): adjust the data or use drop_symbol", "fail"))
        else:
            failures.append(p)
    return True


# -------------------------------------------------------------------------------------- alignment

def snapshot_id(symbols: Sequence[str], timestamps: np.ndarray, arrays: Sequence[np.ndarray]) -> str:
    """SHA-256 of the aligned data actually used: symbols, timestamps and OHLCV, little-endian."""
    h = hashlib.sha256(b"omp.snapshot/1\n")
    h.update("\n".join(symbols).encode() + b"\n")
    h.update(np.ascontiguousarray(timestamps.astype("datetime64[s]").astype("<i8")).tobytes())
    for a in arrays:
        h.update(np.ascontiguousarray(a, dtype="<f8").tobytes())
    return h.hexdigest()


def align(series: Sequence[Series], *, min_bars: int = 50) -> tuple[np.ndarray, list[np.ndarray]]:
    """Common calendar = timestamps present for every symbol (an inner join)."""
    common = series[0].timestamps
    for s in series[1:]:
        common = np.intersect1d(common, s.timestamps)
    if common.shape[0] < min_bars:
        short = sorted(series, key=lambda s: s.timestamps.shape[0])[:3]
        raise ValueError(f"the universe shares only {common.shape[0]} bars (need {min_bars}); shortest "
                         "histories: " + ", ".join(f"{s.symbol} ({s.timestamps.shape[0]} bars)" for s in short))
    out = []
    for s in series:
        pos = np.searchsorted(s.timestamps, common)
        out.append(s.ohlcv[:, pos])
    return common, out


def load_market(sources: Sequence[Source], universe: Sequence[str], policy: ValidationPolicy,
                *, min_bars: int = 50) -> Market:
    """Read, validate and align ``universe`` from ``sources``; fail closed on any problem the policy
    does not allow, listing every offending row."""
    raw: dict[str, tuple] = {}
    for src in sources:
        for sym, val in read_source(src).items():
            if sym in raw:
                raise ValueError(f"symbol {sym!r} appears in more than one source ({src.path})")
            raw[sym] = val
    missing = [s for s in universe if s not in raw]
    if missing:
        raise ValueError(f"mandate.universe names symbols not found in the data: {missing}; "
                         f"available: {sorted(raw)[:20]}")
    failures: list[Problem] = []
    taken: list[Problem] = []
    kept: list[Series] = []
    for sym in universe:
        series, f, t = validate_series(sym, *raw[sym], policy)
        failures.extend(f)
        taken.extend(t)
        if series is not None:
            kept.append(series)
    if failures:
        raise DataValidationError(failures)
    if not kept:
        raise ValueError("every symbol of the universe was dropped by validation")
    ts, arrays = align(kept, min_bars=min_bars)
    stack = lambda k: np.ascontiguousarray(np.vstack([a[k] for a in arrays]))  # noqa: E731
    o, h, l, c, v = (stack(k) for k in range(5))
    symbols = tuple(s.symbol for s in kept)
    report = {
        "actions": [p.to_dict() for p in taken],
        "dropped_symbols": [p.symbol for p in taken if p.action == "drop_symbol"],
        "bars_before_alignment": {s.symbol: int(s.timestamps.shape[0]) for s in kept},
        "bars": int(ts.shape[0]),
        "first": str(ts[0]),
        "last": str(ts[-1]),
    }
    return Market(symbols, ts, o, h, l, c, v, snapshot_id(symbols, ts, [o, h, l, c, v]), report)
