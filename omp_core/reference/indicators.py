"""NumPy twins of ``omp_core._indicators`` and the derived features (same NaN rules)."""
from __future__ import annotations

import math

import numpy as np

FLAT_RTOL = 1e-9


def _windows(x, w):
    out = np.full((x.shape[0], w), np.nan)
    if x.shape[0] >= w:
        out[w - 1:] = np.lib.stride_tricks.sliding_window_view(x, w)
    return out


def sma(x, w):
    x = np.asarray(x, dtype=float)
    win = _windows(x, w)
    return win.mean(axis=1)  # NaN in warm-up rows and in any window holding a NaN


def mean_std(x, w):
    win = _windows(np.asarray(x, dtype=float), w)
    m = win.mean(axis=1)
    s = win.std(axis=1)
    s[s <= FLAT_RTOL * np.abs(m)] = np.nan
    return m, s


def zscore(x, w):
    m, s = mean_std(x, w)
    return (np.asarray(x, dtype=float) - m) / s


def bollinger_pctb(x, w, k=2.0):
    m, s = mean_std(x, w)
    return (np.asarray(x, dtype=float) - (m - k * s)) / (2 * k * s)


def roc(x, w):
    x = np.asarray(x, dtype=float)
    out = np.full_like(x, np.nan)
    out[w:] = x[w:] / x[:-w] - 1.0
    return out


def ema(x, w):
    alpha = 2.0 / (w + 1.0)
    out = np.full(len(x), np.nan)
    e, seen = None, 0
    for t, v in enumerate(x):
        if math.isnan(v):
            continue
        e = v if e is None else e + alpha * (v - e)
        seen += 1
        if seen >= w:
            out[t] = e
    return out


def rsi(x, w):
    out = np.full(len(x), np.nan)
    prev = None
    gains, losses = [], []
    ag = al = None
    for t, v in enumerate(x):
        if math.isnan(v):
            continue
        if prev is None:
            prev = v
            continue
        d, prev = v - prev, v
        g, l = max(d, 0.0), max(-d, 0.0)
        if ag is None:
            gains.append(g)
            losses.append(l)
            if len(gains) < w:
                continue
            ag, al = sum(gains) / w, sum(losses) / w
        else:
            ag, al = (ag * (w - 1) + g) / w, (al * (w - 1) + l) / w
        out[t] = (100.0 if ag > 0 else 50.0) if al == 0 else 100.0 - 100.0 / (1.0 + ag / al)
    return out


def atr_pct(high, low, close, w):
    out = np.full(len(close), np.nan)
    prev = None
    trs = []
    a = None
    for t in range(len(close)):
        h, l, c = high[t], low[t], close[t]
        if math.isnan(h) or math.isnan(l) or math.isnan(c):
            continue
        tr = h - l if prev is None else max(h - l, abs(h - prev), abs(l - prev))
        prev = c
        if a is None:
            trs.append(tr)
            if len(trs) < w:
                continue
            a = sum(trs) / w
        else:
            a = (a * (w - 1) + tr) / w
        out[t] = a / c
    return out
