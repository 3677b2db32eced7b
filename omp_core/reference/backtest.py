"""An event-driven backtest written plainly from the execution model in ``_backtest.pyx``.

One genome, one symbol at a time, one bar at a time, with named state: the compiled kernel must give
the same equity curve and the same fills.
"""
from __future__ import annotations

import numpy as np


def _holds(conds, feats, s, t, names):
    if not conds:
        return False
    for c in conds:
        a = feats[s, names.index(c.feature), t]
        b = feats[s, names.index(c.other), t] * (1.0 + c.threshold) if c.other else c.threshold
        if c.op == ">" and not a > b:
            return False
        if c.op == "<" and not a < b:
            return False
    return True


def run_genome(genome, open_, close, feats, names, fee, slip, delay, start, end):
    """Returns (portfolio equity over [start, end), fills, bars in market)."""
    n_sym = open_.shape[0]
    portfolio = np.zeros(end - start)
    fills = in_market = 0
    side = genome.side
    for s in range(n_sym):
        equity, in_pos, order_bar = 1.0, False, None
        entry_price = committed = 0.0
        held = 0
        curve = []
        for t in range(start, end):
            if order_bar == t:
                order_bar = None
                fills += 1
                if not in_pos:
                    entry_price = open_[s, t] * (1 + side * slip)
                    committed = equity * (1 - fee)
                    in_pos, held = True, 0
                else:
                    exit_price = open_[s, t] * (1 - side * slip)
                    equity = max(committed * (1 + side * (exit_price / entry_price - 1)) * (1 - fee), 0.0)
                    in_pos = False
            if in_pos:
                equity = committed * (1 + side * (close[s, t] / entry_price - 1))
                held += 1
                in_market += 1
                if equity <= 0:
                    equity, in_pos = 0.0, False
                    fills += 1
            if order_bar is None and t + delay < end:
                if not in_pos:
                    if equity > 0 and _holds(genome.entry, feats, s, t, names):
                        order_bar = t + delay
                else:
                    move = side * (close[s, t] / entry_price - 1)
                    leave = ((genome.stop_loss > 0 and move <= -genome.stop_loss)
                             or (genome.take_profit > 0 and move >= genome.take_profit)
                             or (genome.max_hold > 0 and held >= genome.max_hold)
                             or _holds(genome.exit, feats, s, t, names))
                    if leave:
                        order_bar = t + delay
            curve.append(equity)
        if in_pos:
            exit_price = close[s, end - 1] * (1 - side * slip)
            curve[-1] = max(committed * (1 + side * (exit_price / entry_price - 1)) * (1 - fee), 0.0)
            fills += 1
        portfolio += np.asarray(curve) / n_sym
    return portfolio, fills, in_market
