"""Indicators over a universe and the feature bank a population is evaluated against.

A feature is named ``<kind>_<window>`` (``sma_20``, ``rsi_14``) or just ``close``. Its value at bar t
uses bars ``<= t`` only, so computing it over the whole history leaks nothing forward.

Level features (``close``, ``sma``, ``ema``) are in price units and may be compared with each other
(a crossover); the others are dimensionless and compared with thresholds:

| kind | meaning | unit |
| --- | --- | --- |
| sma, ema | simple / exponential moving average of the close | price |
| rsi | Wilder's relative strength index | 0..100 |
| atr | Wilder's average true range / close | fraction of price |
| zscore | (close - rolling mean) / rolling population std | std units |
| roc | close / close w bars ago - 1 | fraction |
| bbp | Bollinger %B with 2 std bands: 0 at the lower band, 1 at the upper | fraction of band |
| volz | (volume - rolling mean) / rolling population std | std units |

A window whose standard deviation is zero, or below 1e-9 of the mean's size (a flat stretch), gives
NaN for the std-based features: a ratio to a zero spread means nothing, and NaN never trades.
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass

import numpy as np

from omp_core import _indicators

LEVEL_KINDS = ("close", "sma", "ema")
KINDS = ("close", "sma", "ema", "rsi", "atr", "zscore", "roc", "bbp", "volz")
FLAT_RTOL = 1e-9
_NAME = re.compile(r"^(close)$|^([a-z]+)_([0-9]+)$")


@functools.lru_cache(maxsize=4096)
def parse_name(name: str) -> tuple[str, int]:
    """``"sma_20" -> ("sma", 20)``, ``"close" -> ("close", 0)``; ValueError names the bad part.
    Cached: every condition the search builds checks its names, and a campaign has few of them."""
    m = _NAME.fullmatch(name) if isinstance(name, str) else None     # fullmatch: no trailing newline
    if not m:
        raise ValueError(f"feature name must look like 'sma_20' or 'close', got {name!r}")
    if m.group(1):
        return "close", 0
    kind, window = m.group(2), int(m.group(3))
    if kind not in KINDS or kind == "close":
        raise ValueError(f"unknown feature kind {kind!r} in {name!r}; known: {KINDS}")
    if window < 2:
        raise ValueError(f"feature window must be >= 2, got {window} in {name!r}")
    return kind, window


def is_level(name: str) -> bool:
    return parse_name(name)[0] in LEVEL_KINDS


def _f64(x) -> np.ndarray:
    return np.ascontiguousarray(x, dtype=np.float64)


def _check(x: np.ndarray, window: int) -> None:
    if x.ndim != 1:
        raise ValueError(f"indicator input must be one-dimensional, got shape {x.shape}")
    if window < 1:
        raise ValueError(f"window must be >= 1, got {window}")


def _unary(kernel, x, window: int) -> np.ndarray:
    x = _f64(x)
    _check(x, window)
    out = np.empty_like(x)
    kernel(x, window, out)
    return out


def sma(x, window: int) -> np.ndarray:
    """Simple moving average over ``window`` bars."""
    return _unary(_indicators.rolling_mean, x, window)


def ema(x, window: int) -> np.ndarray:
    """Exponential moving average, alpha = 2 / (window + 1); NaN until ``window`` valid values."""
    return _unary(_indicators.ema, x, window)


def rsi(x, window: int) -> np.ndarray:
    """Wilder's RSI, 0..100 (50 on a flat stretch)."""
    return _unary(_indicators.rsi, x, window)


def atr_pct(high, low, close, window: int) -> np.ndarray:
    """Wilder's average true range as a fraction of the close."""
    h, lo, c = _f64(high), _f64(low), _f64(close)
    _check(c, window)
    if not h.shape == lo.shape == c.shape:
        raise ValueError(f"high, low and close must have one shape, got {h.shape}, {lo.shape}, {c.shape}")
    out = np.empty_like(c)
    _indicators.atr_pct(h, lo, c, window, out)
    return out


def roc(x, window: int) -> np.ndarray:
    """Rate of change ``x[t] / x[t - window] - 1``."""
    return _unary(_indicators.roc, x, window)


def rolling_mean_std(x, window: int) -> tuple[np.ndarray, np.ndarray]:
    """Rolling mean and population std (ddof=0); the std is NaN on a flat window."""
    x = _f64(x)
    _check(x, window)
    m, s = np.empty_like(x), np.empty_like(x)
    _indicators.rolling_mean_std(x, window, m, s)
    s[s <= FLAT_RTOL * np.abs(m)] = np.nan
    return m, s


def zscore(x, window: int) -> np.ndarray:
    """``(x - rolling mean) / rolling std`` over ``window`` bars."""
    x = _f64(x)
    m, s = rolling_mean_std(x, window)
    return (x - m) / s


def bollinger_pctb(x, window: int, k: float = 2.0) -> np.ndarray:
    """Bollinger %B: ``(x - (m - k s)) / (2 k s)``."""
    x = _f64(x)
    m, s = rolling_mean_std(x, window)
    return (x - (m - k * s)) / (2.0 * k * s)


def compute(name: str, high, low, close, volume) -> np.ndarray:
    """One named feature over one symbol's series."""
    kind, w = parse_name(name)
    if kind == "close":
        return _f64(close).copy()
    if kind == "sma":
        return sma(close, w)
    if kind == "ema":
        return ema(close, w)
    if kind == "rsi":
        return rsi(close, w)
    if kind == "atr":
        return atr_pct(high, low, close, w)
    if kind == "zscore":
        return zscore(close, w)
    if kind == "roc":
        return roc(close, w)
    if kind == "bbp":
        return bollinger_pctb(close, w)
    return zscore(volume, w)  # volz


@dataclass(frozen=True)
class FeatureBank:
    """Every feature a population may use, computed once: ``values`` is (symbols, features, bars)."""
    names: tuple[str, ...]
    values: np.ndarray

    @functools.cached_property
    def positions(self) -> dict[str, int]:
        """Each feature's row in ``values``, by name."""
        return {n: i for i, n in enumerate(self.names)}

    def index(self, name: str) -> int:
        try:
            return self.positions[name]
        except KeyError:
            raise KeyError(f"feature {name!r} is not in the bank") from None

    @classmethod
    def build(cls, market, names) -> "FeatureBank":
        names = tuple(dict.fromkeys(names))
        for n in names:
            parse_name(n)
        vals = np.empty((len(market.symbols), len(names), market.n_bars), dtype=np.float64)
        for s in range(len(market.symbols)):
            for k, n in enumerate(names):
                vals[s, k] = compute(n, market.high[s], market.low[s], market.close[s], market.volume[s])
        vals.flags.writeable = False
        return cls(names, vals)
