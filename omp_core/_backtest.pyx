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

Speed: bars are walked in blocks; within a block every genome and symbol advances over the same
stretch of features, so that stretch stays in cache while the whole population reads it (a genome
at a time over a long intraday history would stream the features from memory once per genome). The
state of every sleeve and the running statistics of every curve are carried from block to block.
Rules are hoisted per sleeve into plain pointers, so the bar loop does no index arithmetic. Between
events (nothing pending, flat or holding) a sleeve goes through tight loops that stop short of the
next bar where anything happens and leave it to the full step: the same arithmetic in the same order,
so the same numbers. A flat sleeve scans for its next entry signal (its first rule alone, that
rule's fields in registers, the others asked only where it holds); a holding sleeve marks each bar
against its stop, take, holding limit and exit rules, in a loop of its own for the search's
commonest genome (a lone long sleeve leaving on one crossover, without a stop or a take).

Statistics: of a portfolio of several sleeves, from its curve, a pass per block. A portfolio of one
sleeve (S = 1) is its curve, so each bar's equity goes straight into the statistics from the sleeve's
loop, with no second pass. There, while a long position is held through a bar, the bar's return is
the symbol's own close-to-close return (``eq / prev - 1`` with ``eq = base * close / p_in``: the
same number up to rounding, about 1e-14 relative in the sums), so the sums over a run of such bars
are differences of the symbol's cumulative sums, computed once per call and added when the run
ends: per bar only the mark and the drawdown are left. The choice depends on the bar alone, never
on where the loops or blocks fall, so the results stay the same bytes whatever the block size or
the thread count.
"""
from libc.math cimport INFINITY
from libc.stdlib cimport free, malloc
from libc.string cimport memset

import numpy as np

from omp_core._types cimport count_t, slot_t, value_t

# exit reasons recorded in the trade list
cdef enum:
    REASON_SIGNAL = 1
    REASON_STOP = 2
    REASON_TAKE = 3
    REASON_MAX_HOLD = 4
    REASON_END = 5
    REASON_RUIN = 6
    MAX_RULES = 4

TRADE_FIELDS = ("symbol", "entry_bar", "exit_bar", "side", "entry_price", "exit_price", "return",
                "reason")
REASONS = {REASON_SIGNAL: "signal", REASON_STOP: "stop_loss", REASON_TAKE: "take_profit",
           REASON_MAX_HOLD: "max_hold", REASON_END: "end_of_data", REASON_RUIN: "ruin"}
SUMMARY_FIELDS = ("final_equity", "sum_returns", "sum_squared_returns", "downside_sumsq", "max_drawdown")
MAX_CONDITIONS = MAX_RULES


cdef struct Rule:
    const value_t* lhs      # feature row of the symbol
    const value_t* rhs      # NULL when the right-hand side is a threshold
    value_t k               # the threshold, or 1 + threshold for a crossover
    int op                  # 0: >, 1: <


cdef struct Sleeve:
    value_t eq, base, before, p_in, ratio
    Py_ssize_t pending_at, held, entry_bar
    int pos, reason


cdef struct Track:
    value_t prev, s1, s2, down, peak, floor, dd, last
    Py_ssize_t run_from, run_last      # the bars held through since the last flush (run_from -1: none)
    bint started


cdef inline void _fold_r(Track* tr, value_t e, value_t r) noexcept nogil:
    """Fold one bar of a portfolio curve, its value ``e`` and its return ``r``, into the running
    statistics: sum and sum of squares of the returns (plain sums: returns are small next to
    their spread, and a division chain such as Welford's would stall the loop), downside sum of
    squares and maximum drawdown."""
    tr.s1 += r
    tr.s2 += r * r
    if r < 0.0:
        tr.down += r * r
    _peak(tr, e)


cdef inline void _peak(Track* tr, value_t e) noexcept nogil:
    """The curve's value ``e`` for the running peak and the maximum drawdown."""
    tr.prev = e
    if e > tr.peak:
        tr.peak = e
        tr.floor = tr.peak * (1.0 - tr.dd)
    elif e < tr.floor:
        tr.dd = 1.0 - e / tr.peak
        tr.floor = e


cdef inline void _held(Track* tr, value_t e, Py_ssize_t t) noexcept nogil:
    """A bar a lone long sleeve holds through: its return is the symbol's own, whose sums over a
    run of such bars come from the cumulative sums at the run's end (``_flush``)."""
    if tr.run_from < 0:
        tr.run_from = t
    tr.run_last = t
    _peak(tr, e)


cdef inline void _held_run(Track* tr, Py_ssize_t first, Py_ssize_t last) noexcept nogil:
    """Bars ``[first, last]`` a lone long sleeve held through (``_held`` without the peak, which
    the loop followed)."""
    if tr.run_from < 0:
        tr.run_from = first
    tr.run_last = last


cdef inline void _flush(Track* tr, const value_t* cum) noexcept nogil:
    """Add the run of held-through bars to the sums: ``cum[3 t + k]`` holds the symbol's returns,
    squares and downside squares summed up to bar ``t``. Called before any other bar is folded,
    so the sums are added in the same order wherever the blocks and loops fall."""
    cdef Py_ssize_t a, b
    if tr.run_from < 0:
        return
    a, b = 3 * (tr.run_from - 1), 3 * tr.run_last
    tr.s1 += cum[b] - cum[a]
    tr.s2 += cum[b + 1] - cum[a + 1]
    tr.down += cum[b + 2] - cum[a + 2]
    tr.run_from = -1


cdef inline void _fold(Track* tr, value_t e) noexcept nogil:
    """``_fold_r`` with the curve's own return; a bar where the curve stands still (no position
    anywhere) has return 0 and moves nothing."""
    if e != tr.prev:
        _fold_r(tr, e, e / tr.prev - 1.0 if tr.prev > 0.0 else 0.0)


cdef inline bint _all_hold(const Rule* rules, Py_ssize_t n, Py_ssize_t t) noexcept nogil:
    cdef Py_ssize_t c
    cdef value_t a, b
    if n == 0:
        return False
    for c in range(n):
        a = rules[c].lhs[t]
        if rules[c].rhs != NULL:
            b = rules[c].rhs[t] * rules[c].k
        else:
            b = rules[c].k
        # a NaN on either side makes the comparison false: no trade on missing information
        if rules[c].op == 0:
            if not (a > b):
                return False
        elif not (a < b):
            return False
    return True


cdef inline Py_ssize_t _cross_run(const value_t* close, value_t p_in, value_t sd, value_t base,
                                  const value_t* xl, const value_t* xr, value_t xk, int op, Py_ssize_t t,
                                  Py_ssize_t u, value_t* ratio, value_t* eq, Track* tr) noexcept nogil:
    """``_hold`` for the search's commonest case, a lone long sleeve (its run's sums come at the
    run's end) with no stop, no take and one crossover exit rule: its fields in registers, and
    ``op`` a constant at each call, so that each compiles to a loop of its own (a third faster
    than ``_hold`` on the daily SMA grid). Without a stop and a take ``_hold``'s bounds are
    infinite; a mark beyond them (an infinite price) goes on here where ``_hold`` would leave it
    to the full step, which does the same."""
    cdef value_t rt, e
    while t < u:
        rt = close[t] / p_in
        e = base * (1.0 + sd * (rt - 1.0))
        if e <= 0.0 or (xl[t] > xr[t] * xk if op == 0 else xl[t] < xr[t] * xk):
            break
        ratio[0] = rt
        eq[0] = e
        _peak(tr, e)
        t += 1
    return t


cdef inline Py_ssize_t _hold(const value_t* close, value_t p_in, value_t sd, value_t base, value_t stop,
                             value_t take, const Rule* exits, Py_ssize_t n_exit, Py_ssize_t t,
                             Py_ssize_t u, value_t* ratio, value_t* eq, Track* tr, value_t* curve,
                             value_t weight, bint sums) noexcept nogil:
    """Bars ``[t, u)`` of a position as long as nothing happens on them: no ruin, the unrealized
    return within the stop and the take, no exit signal. Each is marked to market (``ratio`` and
    ``eq`` take the mark), added to the portfolio's curve (``curve``, from bar ``t``) when given,
    and folded into a lone sleeve's statistics (``tr``) when given: whole with ``sums``, else its
    peak and drawdown only (the caller adds the run's sums, see ``_held_run``). Returns the first
    bar left to the full step: the same arithmetic as there, so the same numbers."""
    cdef value_t rt, ur, e, lo = -stop if stop > 0.0 else -INFINITY, hi = take if take > 0.0 else INFINITY
    cdef Py_ssize_t t0 = t
    while t < u:
        rt = close[t] / p_in
        ur = sd * (rt - 1.0)
        e = base * (1.0 + ur)
        if e <= 0.0 or ur <= lo or ur >= hi or _all_hold(exits, n_exit, t):
            break
        ratio[0] = rt
        eq[0] = e
        if curve != NULL:
            curve[t - t0] += e * weight
        if tr != NULL:
            if sums:
                _fold(tr, e)
            else:
                _peak(tr, e)
        t += 1
    return t


cdef inline Py_ssize_t _next1(const Rule* rule, Py_ssize_t t, Py_ssize_t stop) noexcept nogil:
    """The first bar in ``[t, stop)`` where ``rule`` holds, else ``stop``: its fields in registers."""
    cdef const value_t* lhs = rule.lhs
    cdef const value_t* rhs = rule.rhs
    cdef value_t k = rule.k
    if rhs != NULL:
        if rule.op == 0:
            while t < stop and not (lhs[t] > rhs[t] * k):
                t += 1
        else:
            while t < stop and not (lhs[t] < rhs[t] * k):
                t += 1
    elif rule.op == 0:
        while t < stop and not (lhs[t] > k):
            t += 1
    else:
        while t < stop and not (lhs[t] < k):
            t += 1
    return t


cdef inline Py_ssize_t _next_hold(const Rule* rules, Py_ssize_t n, Py_ssize_t t,
                                   Py_ssize_t stop) noexcept nogil:
    """The first bar in ``[t, stop)`` where every rule holds (``_all_hold``), else ``stop``. The
    first rule is scanned alone (its fields in registers), the others asked only where it holds."""
    if n == 0:
        return stop
    if n == 1:
        return _next1(rules, t, stop)
    while True:
        t = _next1(rules, t, stop)
        if t >= stop or _all_hold(rules + 1, n - 1, t):
            return t
        t += 1


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


cdef Py_ssize_t _sleeve_block(Sleeve* st, const value_t* open_, const value_t* close,
                              const Rule* entry, Py_ssize_t n_entry, const Rule* exits, Py_ssize_t n_exit,
                              int side, value_t stop, value_t take, Py_ssize_t max_hold,
                              value_t fee, value_t slip, Py_ssize_t delay, Py_ssize_t b0, Py_ssize_t b1,
                              Py_ssize_t end, value_t weight, value_t* curve, count_t* fills,
                              count_t* in_market, value_t[:, ::1] trades, Py_ssize_t ntrades,
                              Py_ssize_t s, Track* tk, const value_t* cum) noexcept nogil:
    """Advance one sleeve over bars ``[b0, b1)``; ``curve[t - b0]``, when given, receives its
    weighted equity. With ``tk`` (a portfolio of this one sleeve) each bar's equity also goes
    straight into the statistics: the value the curve holds (``0 + eq * 1``), with ``eq / prev - 1``
    as its return, except on bars a long sleeve holds through when ``cum`` (the symbol's cumulative
    returns, see ``_flush``) is given. When ``b1 == end`` a position still open is closed at the
    last close."""
    cdef Py_ssize_t t, u, pending_at = st.pending_at, held = st.held, entry_bar = st.entry_bar
    cdef int pos = st.pos, reason = st.reason
    cdef value_t eq = st.eq, base = st.base, before = st.before, p_in = st.p_in, ratio = st.ratio
    cdef value_t p_out, ur, mark
    cdef value_t sd = side         # the side as a double: converted once, not at every bar
    cdef count_t n_fills = 0, n_in = 0
    cdef Py_ssize_t last_call = end - delay if end - delay < b1 else b1   # decisions need t + delay < end
    cdef value_t w, e
    cdef Py_ssize_t t0
    cdef Track tr
    if tk != NULL:
        tr = tk[0]       # a local copy: the compiler keeps it in registers
    t = b0
    while t < b1:
        if pending_at == t:
            if pos == 0:
                p_in = open_[t] * (1.0 + sd * slip)
                before = eq
                base = eq * (1.0 - fee)
                pos = 1
                held = 0
                entry_bar = t
            else:
                p_out = open_[t] * (1.0 - sd * slip)
                eq = base * (1.0 + sd * (p_out / p_in - 1.0)) * (1.0 - fee)
                if eq < 0.0:
                    eq = 0.0
                _record(trades, ntrades, s, entry_bar, t, side, p_in, p_out, eq / before - 1.0, reason)
                ntrades += 1
                pos = 0
            n_fills += 1
            pending_at = -1
        if pos:
            ratio = close[t] / p_in
            eq = base * (1.0 + sd * (ratio - 1.0))
            held += 1
            n_in += 1
            if eq <= 0.0:
                eq = 0.0
                _record(trades, ntrades, s, entry_bar, t, side, p_in, close[t], -1.0, REASON_RUIN)
                ntrades += 1
                n_fills += 1
                pos = 0
        if pending_at < 0 and t + delay < end:
            if pos == 0:
                if eq > 0.0 and _all_hold(entry, n_entry, t):
                    pending_at = t + delay
            else:
                ur = sd * (ratio - 1.0)
                reason = 0
                if stop > 0.0 and ur <= -stop:
                    reason = REASON_STOP
                elif take > 0.0 and ur >= take:
                    reason = REASON_TAKE
                elif max_hold > 0 and held >= max_hold:
                    reason = REASON_MAX_HOLD
                elif _all_hold(exits, n_exit, t):
                    reason = REASON_SIGNAL
                if reason:
                    pending_at = t + delay
        if curve != NULL:
            curve[t - b0] += eq * weight
        if tk != NULL and t != end - 1:     # the last bar may still close a position: below
            # one fold, with the return the loops below would take: the symbol's own while held
            # through the bar, else the curve's (none on a bar where the curve stands still)
            if cum != NULL and pos and held > 1:
                _held(&tr, eq, t)
            else:
                if cum != NULL:
                    _flush(&tr, cum)
                if eq != tr.prev:
                    _fold_r(&tr, eq, eq / tr.prev - 1.0 if tr.prev > 0.0 else 0.0)
        t += 1
        # Between events the state stands still: runs of such bars go through the tight loops
        # below, which stop short of any bar where something happens (a signal, a stop, a take,
        # the holding limit, ruin) and leave that bar to the full step above. Same arithmetic,
        # same order: the same numbers.
        if pending_at >= 0:
            continue
        if pos == 0:
            if eq > 0.0:
                u = _next_hold(entry, n_entry, t, last_call)
                if curve != NULL:       # nothing to fold: flat, the equity stands still
                    w = eq * weight
                    while t < u:
                        curve[t - b0] += w
                        t += 1
                t = u
        else:
            # the holding limit is a bar, the stop and the take are bounds on the unrealized return
            u = last_call
            if max_hold > 0 and t + (max_hold - held - 1) < u:
                u = t + (max_hold - held - 1)
            t0 = t
            if cum != NULL and curve == NULL and stop == 0.0 and take == 0.0 and n_exit == 1 \
                    and exits[0].rhs != NULL:
                # the search's commonest case (a crossover exit, no stop or take): a loop of its own
                if exits[0].op == 0:
                    t = _cross_run(close, p_in, sd, base, exits[0].lhs, exits[0].rhs, exits[0].k, 0, t, u,
                                   &ratio, &eq, &tr)
                else:
                    t = _cross_run(close, p_in, sd, base, exits[0].lhs, exits[0].rhs, exits[0].k, 1, t, u,
                                   &ratio, &eq, &tr)
            else:
                t = _hold(close, p_in, sd, base, stop, take, exits, n_exit, t, u, &ratio, &eq,
                          &tr if tk != NULL else NULL, &curve[t - b0] if curve != NULL else NULL, weight,
                          cum == NULL)
            if cum != NULL and t > t0:              # held through: the sums come at the run's end
                _held_run(&tr, t0, t - 1)
            held += t - t0
            n_in += t - t0
    mark = eq
    if b1 == end and pos:
        p_out = close[end - 1] * (1.0 - side * slip)
        eq = base * (1.0 + side * (p_out / p_in - 1.0)) * (1.0 - fee)
        if eq < 0.0:
            eq = 0.0
        if curve != NULL:
            curve[end - 1 - b0] += (eq - mark) * weight
        _record(trades, ntrades, s, entry_bar, end - 1, side, p_in, p_out, eq / before - 1.0, REASON_END)
        ntrades += 1
        n_fills += 1
        pos = 0
    if tk != NULL:
        if b1 == end:
            if cum != NULL:
                _flush(&tr, cum)
            _fold(&tr, mark + (eq - mark))     # what the curve's last bar would hold
            tr.last = tr.prev
        tk[0] = tr
    st.pending_at, st.held, st.entry_bar, st.pos, st.reason = pending_at, held, entry_bar, pos, reason
    st.eq, st.base, st.before, st.p_in, st.ratio = eq, base, before, p_in, ratio
    fills[0] += n_fills
    in_market[0] += n_in
    return ntrades


cdef void _track_block(Track* tr, const value_t* curve, Py_ssize_t n) noexcept nogil:
    """Fold a stretch of a portfolio curve into its running statistics: sum and sum of squares of
    the per-bar returns (plain sums: returns are small next to their spread, and a division chain
    such as Welford's would stall the loop), downside sum of squares and maximum drawdown."""
    cdef Py_ssize_t i
    cdef value_t prev = tr.prev, s1 = tr.s1, s2 = tr.s2, down = tr.down
    cdef value_t peak = tr.peak, floor = tr.floor, dd = tr.dd, r, e
    if n == 0:
        return
    if not tr.started:
        peak = curve[0]
        floor = curve[0]
        tr.started = True
    for i in range(n):
        e = curve[i]
        if e == prev:
            continue        # a flat bar (no position anywhere): return 0, nothing else moves
        r = e / prev - 1.0 if prev > 0.0 else 0.0
        prev = e
        s1 += r
        s2 += r * r
        if r < 0.0:
            down += r * r
        if e > peak:
            peak = e
            floor = peak * (1.0 - dd)
        elif e < floor:
            dd = 1.0 - e / peak
            floor = e
    tr.prev, tr.s1, tr.s2, tr.down, tr.peak, tr.floor, tr.dd, tr.last = prev, s1, s2, down, peak, floor, dd, prev


cdef inline void _hoist(Rule* out, const value_t[:, :, ::1] feat, const slot_t[:, :, ::1] cond,
                        const value_t[:, ::1] thr, Py_ssize_t g, Py_ssize_t s, Py_ssize_t first,
                        Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t c
    for c in range(n):
        out[c].lhs = &feat[s, cond[g, first + c, 0], 0]
        out[c].op = cond[g, first + c, 2]
        if cond[g, first + c, 1] >= 0:
            out[c].rhs = &feat[s, cond[g, first + c, 1], 0]
            out[c].k = 1.0 + thr[g, first + c]
        else:
            out[c].rhs = NULL
            out[c].k = thr[g, first + c]


cdef inline void _slot(slot_t[:, :, ::1] cond, value_t[:, ::1] thr, Py_ssize_t g, Py_ssize_t c,
                       const slot_t[:, ::1] table, const value_t[::1] levels, Py_ssize_t pos) noexcept:
    cond[g, c, 0] = table[pos, 0]
    cond[g, c, 1] = table[pos, 1]
    cond[g, c, 2] = table[pos, 2]
    thr[g, c] = levels[pos]


def encode(genomes, dict positions):
    """The genome layout above of a population of ``omp_core.genome.Genome``: ``(cond, thr, gi,
    gd)``. ``positions`` maps a feature name to its row in the bank. A population repeats its
    conditions (a child keeps its parents' condition objects), so each condition object is looked
    up once, into a table keyed by identity (the objects held until the end of the call, so no id
    is reused), and copied from there; unused slots are ``(-1, -1, -1)`` with threshold 0."""
    cdef list gs = genomes if type(genomes) is list else list(genomes)
    cdef Py_ssize_t G = len(gs), C = MAX_RULES, g, c, n, half, pos, distinct = 0
    cdef dict known = {}
    cdef list alive = []        # the table's conditions, held so that no id is reused meanwhile
    cdef tuple conds, entry, exit_
    cond_a = np.full((G, 2 * C, 3), -1, dtype=np.int32)
    thr_a = np.zeros((G, 2 * C), dtype=np.float64)
    gi_a = np.empty((G, 4), dtype=np.int32)
    gd_a = np.empty((G, 2), dtype=np.float64)
    table_a = np.empty((G * 2 * C, 3), dtype=np.int32)     # at most every slot distinct
    levels_a = np.empty(G * 2 * C, dtype=np.float64)
    cdef slot_t[:, :, ::1] cond = cond_a
    cdef value_t[:, ::1] thr = thr_a
    cdef slot_t[:, ::1] gi = gi_a, table = table_a
    cdef value_t[:, ::1] gd = gd_a
    cdef value_t[::1] levels = levels_a
    for g in range(G):
        fields = gs[g].__dict__         # a Genome's fields, read from its __dict__ (as it stores them)
        entry, exit_ = fields["entry"], fields["exit"]
        for half in range(2):
            conds = entry if half == 0 else exit_
            n = len(conds)
            if n > C:
                raise ValueError(f"genome {g} has {n} conditions on one side, at most {C}")
            for c in range(n):
                cd = conds[c]
                found = known.get(id(cd))
                if found is None:
                    pos = distinct
                    cf = cd.__dict__
                    other = cf["other"]
                    table[pos, 0] = _feature(positions, cf["feature"])
                    table[pos, 1] = _feature(positions, other) if other else -1
                    table[pos, 2] = _comparator(cf["op"])
                    levels[pos] = cf["threshold"]
                    known[id(cd)] = pos
                    alive.append(cd)
                    distinct += 1
                else:
                    pos = found
                _slot(cond, thr, g, half * C + c, table, levels, pos)
        gi[g, 0] = fields["side"]
        gi[g, 1] = len(entry)
        gi[g, 2] = len(exit_)
        gi[g, 3] = fields["max_hold"]
        gd[g, 0] = fields["stop_loss"]
        gd[g, 1] = fields["take_profit"]
    return cond_a, thr_a, gi_a, gd_a


cdef slot_t _feature(dict positions, name) except? -2:
    try:
        return positions[name]
    except KeyError:
        raise KeyError(f"feature {name!r} is not in the bank") from None


cdef slot_t _comparator(op) except? -2:
    if op == ">":
        return 0
    if op == "<":
        return 1
    raise ValueError(f"condition.op must be '>' or '<', got {op!r}")


def run_population(const value_t[:, ::1] open_, const value_t[:, ::1] close,
                   const value_t[:, :, ::1] feat, const slot_t[:, :, ::1] cond,
                   const value_t[:, ::1] thr, const slot_t[:, ::1] gi, const value_t[:, ::1] gd,
                   Py_ssize_t g0, Py_ssize_t g1, value_t fee, value_t slip, Py_ssize_t delay,
                   Py_ssize_t start, Py_ssize_t end, value_t[:, ::1] equity, value_t[::1] scratch,
                   value_t[:, ::1] summary, count_t[::1] fills, count_t[::1] in_market,
                   value_t[:, ::1] trades, Py_ssize_t block=2048):
    """Backtest genomes ``[g0, g1)`` over bars ``[start, end)`` of every symbol, without the GIL.

    Each genome's portfolio curve is built in ``equity[g]`` when ``equity`` has rows (curves
    wanted), else block by block in ``scratch`` (at least ``block`` long, one per thread); either way
    it is summarized into ``summary[g]`` (see ``SUMMARY_FIELDS``). ``equity``, ``fills`` and
    ``in_market`` must be zeroed by the caller; rows outside ``[g0, g1)`` are not touched, so threads
    may share the outputs. ``trades`` receives up to ``trades.shape[0]`` rows (a 0-row array when the
    trade list is not wanted). Returns the number of trades made, which may exceed the rows written.
    """
    cdef Py_ssize_t ng = g1 - g0, S = close.shape[0], C = thr.shape[1] // 2
    cdef Py_ssize_t g, s, i, b0, b1, ntrades = 0, off
    cdef bint curves = equity.shape[0] > 0
    cdef bint fold = S == 1     # statistics folded into the sleeve's own loop
    cdef value_t weight = 1.0 / S
    cdef value_t* cur
    cdef Rule rules[2 * MAX_RULES]
    cdef Sleeve* st
    cdef Track* tk
    cdef value_t* cum = NULL        # fold: the symbol's cumulative returns (see _flush)
    cdef value_t r
    if C > MAX_RULES or cond.shape[1] != 2 * C:
        raise ValueError(f"at most {MAX_RULES} conditions per side, got a layout of {thr.shape[1]} slots")
    if ng <= 0 or end <= start:
        return 0
    if not curves and scratch.shape[0] < min(block, end - start):
        raise ValueError(f"scratch must hold {min(block, end - start)} values, got {scratch.shape[0]}")
    st = <Sleeve*> malloc(ng * S * sizeof(Sleeve))
    tk = <Track*> malloc(ng * sizeof(Track))
    if st == NULL or tk == NULL:
        free(st)
        free(tk)
        raise MemoryError()
    memset(st, 0, ng * S * sizeof(Sleeve))
    memset(tk, 0, ng * sizeof(Track))
    for i in range(ng * S):
        st[i].eq = 1.0
        st[i].before = 1.0
        st[i].ratio = 1.0
        st[i].pending_at = -1
    for i in range(ng):
        tk[i].prev = 1.0
        tk[i].run_from = -1
        if fold:        # a lone sleeve's first bar is 1 exactly: flat, nothing pending yet
            tk[i].peak = 1.0
            tk[i].floor = 1.0
            tk[i].last = 1.0
            tk[i].started = True
    try:
        if fold:
            # while a lone sleeve holds a long position with nothing happening, its curve's return
            # is the symbol's own close-to-close return: computed here once, not per genome
            # (the same number up to rounding: eq / prev - 1 with eq = base * close / p_in)
            cum = <value_t*> malloc(3 * end * sizeof(value_t))
            if cum == NULL:
                raise MemoryError()
            cum[3 * start] = cum[3 * start + 1] = cum[3 * start + 2] = 0.0
            for i in range(start + 1, end):
                r = close[0, i] / close[0, i - 1] - 1.0
                cum[3 * i] = cum[3 * i - 3] + r
                cum[3 * i + 1] = cum[3 * i - 2] + r * r
                cum[3 * i + 2] = cum[3 * i - 1] + (r * r if r < 0.0 else 0.0)
        with nogil:
            b0 = start
            while b0 < end:
                b1 = b0 + block if b0 + block < end else end
                for g in range(g0, g1):
                    if curves:
                        cur = &equity[g, b0 - start]
                    elif fold:
                        cur = NULL
                    else:
                        cur = &scratch[0]
                        memset(cur, 0, (b1 - b0) * sizeof(value_t))
                    for s in range(S):
                        _hoist(rules, feat, cond, thr, g, s, 0, gi[g, 1])
                        _hoist(rules + MAX_RULES, feat, cond, thr, g, s, C, gi[g, 2])
                        ntrades = _sleeve_block(&st[(g - g0) * S + s], &open_[s, 0], &close[s, 0],
                                                rules, gi[g, 1], rules + MAX_RULES, gi[g, 2], gi[g, 0],
                                                gd[g, 0], gd[g, 1], gi[g, 3], fee, slip, delay, b0, b1, end,
                                                weight, cur, &fills[g], &in_market[g], trades, ntrades, s,
                                                &tk[g - g0] if fold else NULL, cum if (fold and gi[g, 0] == 1) else NULL)
                    if not fold:
                        _track_block(&tk[g - g0], cur, b1 - b0)
                b0 = b1
            for g in range(g0, g1):
                summary[g, 0] = tk[g - g0].last
                summary[g, 1] = tk[g - g0].s1
                summary[g, 2] = tk[g - g0].s2
                summary[g, 3] = tk[g - g0].down
                summary[g, 4] = tk[g - g0].dd
    finally:
        free(st)
        free(tk)
        free(cum)
    return ntrades
