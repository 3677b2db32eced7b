# cython: language_level=3
"""Compiled backtest of a population of genomes over a universe of symbols.

Execution model (the plain reference in ``omp_core/reference/backtest.py`` follows it line by line):

- every symbol is a sleeve holding 1/S of the capital, never rebalanced; the portfolio equity is the
  mean of the sleeve equities, each starting at 1 at the first bar of the range;
- a decision taken at the close of bar t fills at the open of bar t + delay (delay >= 1); while an
  order is pending no other decision is taken; an order that would fill past the range is not placed;
- all-in sizing: an entry commits the sleeve's whole equity; every fill pays ``fee`` (a fraction of
  notional) and ``slip`` (a fraction of price, always against us);
- the position is marked to market at every close; stop-loss, take-profit and maximum holding period
  are judged on closes, so they also fill at the next open;
- a position still open at the last bar of the range is closed at that bar's close, with costs;
- a short sleeve whose equity reaches zero is ruined: closed, and it never trades again.

Genome layout, G genomes and C condition slots per side:
- ``cond[g, c] = (lhs feature, rhs feature or -1, comparator)``; entry conditions use slots
  ``[0, n_entry)``, exit conditions ``[C, C + n_exit)``; comparator 0 is ``>`` and 1 is ``<``;
- the right-hand side is ``thr[g, c]`` when rhs is -1, else ``features[rhs] * (1 + thr[g, c])``;
- ``gi[g] = (side +1/-1, n_entry, n_exit, max_hold bars or 0)``, ``gd[g] = (stop, take_profit)``
  as fractions of the entry price, 0 for none.
"""
from omp_core._types cimport count_t, slot_t, value_t

# exit reasons recorded in the trade list
cdef enum:
    REASON_SIGNAL = 1
    REASON_STOP = 2
    REASON_TAKE = 3
    REASON_MAX_HOLD = 4
    REASON_END = 5
    REASON_RUIN = 6

TRADE_FIELDS = ("symbol", "entry_bar", "exit_bar", "side", "entry_price", "exit_price", "return",
                "reason")
REASONS = {REASON_SIGNAL: "signal", REASON_STOP: "stop_loss", REASON_TAKE: "take_profit",
           REASON_MAX_HOLD: "max_hold", REASON_END: "end_of_data", REASON_RUIN: "ruin"}


cdef inline bint _all_hold(const value_t[:, :, ::1] feat, Py_ssize_t s, Py_ssize_t t,
                           const slot_t[:, :, ::1] cond, const value_t[:, ::1] thr,
                           Py_ssize_t g, Py_ssize_t first, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t c
    cdef value_t a, b
    if n == 0:
        return False
    for c in range(first, first + n):
        a = feat[s, cond[g, c, 0], t]
        if cond[g, c, 1] >= 0:
            b = feat[s, cond[g, c, 1], t] * (1.0 + thr[g, c])
        else:
            b = thr[g, c]
        # a NaN on either side makes the comparison false: no trade on missing information
        if cond[g, c, 2] == 0:
            if not (a > b):
                return False
        elif not (a < b):
            return False
    return True


cdef inline void _record(value_t[:, ::1] trades, Py_ssize_t k, Py_ssize_t s, Py_ssize_t entry_bar,
                         Py_ssize_t exit_bar, int side, value_t p_in, value_t p_out, value_t ret,
                         int reason) noexcept nogil:
    if k < trades.shape[0]:
        trades[k, 0] = s
        trades[k, 1] = entry_bar
        trades[k, 2] = exit_bar
        trades[k, 3] = side
        trades[k, 4] = p_in
        trades[k, 5] = p_out
        trades[k, 6] = ret
        trades[k, 7] = reason


cdef Py_ssize_t _sleeve(const value_t[:, ::1] open_, const value_t[:, ::1] close,
                        const value_t[:, :, ::1] feat, const slot_t[:, :, ::1] cond,
                        const value_t[:, ::1] thr, const slot_t[:, ::1] gi, const value_t[:, ::1] gd,
                        Py_ssize_t g, Py_ssize_t s, value_t fee, value_t slip, Py_ssize_t delay,
                        Py_ssize_t start, Py_ssize_t end, value_t weight, value_t[::1] curve,
                        count_t[::1] fills, count_t[::1] in_market, value_t[:, ::1] trades,
                        Py_ssize_t ntrades) noexcept nogil:
    cdef Py_ssize_t t, pending_at = -1, held = 0, entry_bar = 0
    cdef Py_ssize_t C = thr.shape[1] // 2
    cdef int side = gi[g, 0], pos = 0, reason = 0
    cdef Py_ssize_t n_entry = gi[g, 1], n_exit = gi[g, 2], max_hold = gi[g, 3]
    cdef value_t stop = gd[g, 0], take = gd[g, 1]
    cdef value_t eq = 1.0, base = 0.0, before = 1.0, p_in = 0.0, p_out, ur, mark, ratio = 1.0
    for t in range(start, end):
        if pending_at == t:
            if pos == 0:
                p_in = open_[s, t] * (1.0 + side * slip)
                before = eq
                base = eq * (1.0 - fee)
                pos = 1
                held = 0
                entry_bar = t
            else:
                p_out = open_[s, t] * (1.0 - side * slip)
                eq = base * (1.0 + side * (p_out / p_in - 1.0)) * (1.0 - fee)
                if eq < 0.0:
                    eq = 0.0
                _record(trades, ntrades, s, entry_bar, t, side, p_in, p_out, eq / before - 1.0, reason)
                ntrades += 1
                pos = 0
            fills[g] += 1
            pending_at = -1
        if pos:
            ratio = close[s, t] / p_in
            eq = base * (1.0 + side * (ratio - 1.0))
            held += 1
            in_market[g] += 1
            if eq <= 0.0:
                eq = 0.0
                _record(trades, ntrades, s, entry_bar, t, side, p_in, close[s, t], -1.0, REASON_RUIN)
                ntrades += 1
                fills[g] += 1
                pos = 0
        if pending_at < 0 and t + delay < end:
            if pos == 0:
                if eq > 0.0 and _all_hold(feat, s, t, cond, thr, g, 0, n_entry):
                    pending_at = t + delay
            else:
                ur = side * (ratio - 1.0)
                reason = 0
                if stop > 0.0 and ur <= -stop:
                    reason = REASON_STOP
                elif take > 0.0 and ur >= take:
                    reason = REASON_TAKE
                elif max_hold > 0 and held >= max_hold:
                    reason = REASON_MAX_HOLD
                elif _all_hold(feat, s, t, cond, thr, g, C, n_exit):
                    reason = REASON_SIGNAL
                if reason:
                    pending_at = t + delay
        curve[t - start] += eq * weight
    if pos:
        mark = eq
        p_out = close[s, end - 1] * (1.0 - side * slip)
        eq = base * (1.0 + side * (p_out / p_in - 1.0)) * (1.0 - fee)
        if eq < 0.0:
            eq = 0.0
        curve[end - 1 - start] += (eq - mark) * weight
        _record(trades, ntrades, s, entry_bar, end - 1, side, p_in, p_out, eq / before - 1.0, REASON_END)
        ntrades += 1
        fills[g] += 1
    return ntrades


cdef void _summarize(const value_t[::1] curve, value_t[::1] out) noexcept nogil:
    """Final equity, sum and sum of squares of the per-bar returns, the sum of squared negative
    returns and the maximum drawdown of one portfolio curve.

    Plain sums rather than Welford's update: per-bar returns are small next to their spread, so the
    sums lose nothing that matters, and they keep the loop free of a division-latency chain.
    """
    cdef Py_ssize_t t, n = curve.shape[0]
    cdef value_t prev = 1.0, r, s1 = 0.0, s2 = 0.0, down = 0.0, peak = curve[0], floor = curve[0], dd = 0.0
    for t in range(n):
        r = curve[t] / prev - 1.0 if prev > 0.0 else 0.0
        prev = curve[t]
        s1 += r
        s2 += r * r
        if r < 0.0:
            down += r * r
        if curve[t] > peak:
            peak = curve[t]
            floor = peak * (1.0 - dd)
        elif curve[t] < floor:
            dd = 1.0 - curve[t] / peak
            floor = curve[t]
    out[0] = curve[n - 1]
    out[1] = s1
    out[2] = s2
    out[3] = down
    out[4] = dd


def run_population(const value_t[:, ::1] open_, const value_t[:, ::1] close,
                   const value_t[:, :, ::1] feat, const slot_t[:, :, ::1] cond,
                   const value_t[:, ::1] thr, const slot_t[:, ::1] gi, const value_t[:, ::1] gd,
                   Py_ssize_t g0, Py_ssize_t g1, value_t fee, value_t slip, Py_ssize_t delay,
                   Py_ssize_t start, Py_ssize_t end, value_t[:, ::1] equity, value_t[::1] scratch,
                   value_t[:, ::1] summary, count_t[::1] fills, count_t[::1] in_market,
                   value_t[:, ::1] trades):
    """Backtest genomes ``[g0, g1)`` over bars ``[start, end)`` of every symbol, without the GIL.

    Each genome's portfolio curve is built in ``equity[g]`` when ``equity`` has rows (curves wanted),
    else in ``scratch`` (length ``end - start``, one per thread), and summarized into ``summary[g]``
    (final equity, sum and sum of squares of returns, downside sum of squares, max drawdown). ``fills`` and
    ``in_market`` must be zeroed by the caller; rows outside ``[g0, g1)`` are not touched, so
    threads may share the outputs. ``trades`` receives up to ``trades.shape[0]`` rows (a 0-row array
    when the trade list is not wanted). Returns the number of trades made, which may exceed the rows
    written.
    """
    cdef Py_ssize_t g, s, t, n = end - start, S = close.shape[0], ntrades = 0
    cdef value_t weight = 1.0 / S
    cdef bint curves = equity.shape[0] > 0
    cdef value_t[::1] curve
    with nogil:
        for g in range(g0, g1):
            if curves:
                curve = equity[g]
            else:
                curve = scratch
                for t in range(n):
                    curve[t] = 0.0
            for s in range(S):
                ntrades = _sleeve(open_, close, feat, cond, thr, gi, gd, g, s, fee, slip, delay,
                                  start, end, weight, curve, fills, in_market, trades, ntrades)
            _summarize(curve, summary[g])
    return ntrades
