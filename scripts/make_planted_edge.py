#!/usr/bin/env python3
"""Writes examples/data/planted_edge_daily.csv: synthetic daily bars with one documented edge
planted in them, so the promotion pipeline can be seen saying yes (the shipped real data mostly,
and honestly, says no).

Three symbols (EDGE_A, EDGE_B, EDGE_C), 2,000 business days from 2015-01-02, a random walk with 1.5%
daily volatility and no drift. The edge: when a symbol's close falls 1.5 standard deviations below
its trailing 20-day mean (the z-score of the engine's ``zscore_20`` feature, computed on closes up
to and including that bar, never after), its next five daily returns get +0.6% each. A long rule on
``zscore_20 < -1.5`` held about five bars earns it; nothing else in the data is predictable. Every
number comes from numpy's PCG64 seeded with SEED: the same file every time.

    .venv/bin/python scripts/make_planted_edge.py [--check]

``--check`` regenerates in memory and fails if the committed file differs.
"""
from __future__ import annotations

import io
import sys
from pathlib import Path

import numpy as np

SEED = 20261128
SYMBOLS = ("EDGE_A", "EDGE_B", "EDGE_C")
BARS, VOL, BOOST, HOLD, TRIGGER, WINDOW = 2000, 0.015, 0.006, 5, -1.5, 20
OUT = Path(__file__).resolve().parents[1] / "examples" / "data" / "planted_edge_daily.csv"


def series(rng: np.random.Generator) -> np.ndarray:
    """Closes, bar by bar: the boost depends only on closes already made (a causal edge)."""
    close = np.empty(BARS)
    close[0] = 100.0
    boost_left = 0
    for t in range(1, BARS):
        r = VOL * rng.standard_normal() + (BOOST if boost_left > 0 else 0.0)
        boost_left = max(0, boost_left - 1)
        close[t] = close[t - 1] * np.exp(r)
        if t + 1 >= WINDOW:
            w = close[t + 1 - WINDOW:t + 1]
            sd = w.std(ddof=1)
            if sd > 0 and (close[t] - w.mean()) / sd < TRIGGER:
                boost_left = HOLD              # the next five returns carry the edge
    return close


def render() -> str:
    rng = np.random.default_rng(SEED)
    days = np.busday_offset("2015-01-02", np.arange(BARS), roll="forward")
    buf = io.StringIO()
    buf.write("date,open,high,low,close,volume,Name\n")
    for sym in SYMBOLS:
        close = series(rng)
        gap = 1.0 + 0.002 * rng.standard_normal(BARS)
        opens = np.concatenate([[close[0]], close[:-1]]) * gap
        span = np.abs(rng.standard_normal(BARS)) * VOL * 0.5
        high = np.maximum(opens, close) * (1.0 + span)
        low = np.minimum(opens, close) * (1.0 - span)
        volume = rng.integers(500_000, 2_000_000, BARS)
        for d, o, h, lo, c, v in zip(days, opens, high, low, close, volume):
            buf.write(f"{d},{o:.4f},{h:.4f},{lo:.4f},{c:.4f},{v},{sym}\n")
    return buf.getvalue()


def main(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        if OUT.read_text() != text:
            print(f"{OUT} differs from what {Path(__file__).name} makes: regenerate it", file=sys.stderr)
            return 1
        print(f"{OUT.name} is what the script makes")
        return 0
    OUT.write_text(text)
    print(f"wrote {OUT} ({len(text):,} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
