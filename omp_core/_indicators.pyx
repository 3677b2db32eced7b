# cython: language_level=3
"""Compiled indicator kernels.

Each kernel reads typed memoryviews, writes into an output the caller allocated, never allocates or
raises in its loop and runs without the GIL. Validation, allocation and the derived indicators live in
``omp_core/features.py``; the plain NumPy twins live in ``omp_core/reference/indicators.py``.

NaN rules (the twins follow the same ones):
- window indicators give NaN during warm-up and whenever the window holds a NaN;
- recursive indicators (EMA, RSI, ATR) give NaN at a bar whose input is NaN and keep their state,
  so a NaN is skipped rather than poisoning every later value.
"""
from libc.math cimport NAN, fabs, isnan, sqrt

from omp_core._types cimport value_t


def rolling_mean(const value_t[::1] x, Py_ssize_t w, value_t[::1] out):
    """Mean of the last ``w`` values (compensated running sum, O(n))."""
    cdef Py_ssize_t n = x.shape[0], t, nan_count = 0
    cdef value_t s = 0.0, comp = 0.0, v, y, tot
    with nogil:
        for t in range(n):
            v = x[t]
            if isnan(v):
                nan_count += 1
            else:
                # Neumaier summation keeps the running sum within a few ulps of a fresh sum
                tot = s + v
                if fabs(s) >= fabs(v):
                    comp += (s - tot) + v
                else:
                    comp += (v - tot) + s
                s = tot
            if t >= w:
                v = x[t - w]
                if isnan(v):
                    nan_count -= 1
                else:
                    y = -v
                    tot = s + y
                    if fabs(s) >= fabs(y):
                        comp += (s - tot) + y
                    else:
                        comp += (y - tot) + s
                    s = tot
            if t + 1 < w or nan_count > 0:
                out[t] = NAN
            else:
                out[t] = (s + comp) / w


def rolling_mean_std(const value_t[::1] x, Py_ssize_t w, value_t[::1] mean_out, value_t[::1] std_out):
    """Mean and population standard deviation (ddof=0) of the last ``w`` values.

    Two passes over each window (O(n*w)): the variance of a flat stretch comes out as exactly what a
    fresh computation gives, not the residue of a running sum of squares.
    """
    cdef Py_ssize_t n = x.shape[0], t, i, nan_count = 0
    cdef value_t m, d, acc
    with nogil:
        for t in range(n):
            if isnan(x[t]):
                nan_count += 1
            if t >= w and isnan(x[t - w]):
                nan_count -= 1
            if t + 1 < w or nan_count > 0:
                mean_out[t] = NAN
                std_out[t] = NAN
                continue
            acc = 0.0
            for i in range(t - w + 1, t + 1):
                acc += x[i]
            m = acc / w
            acc = 0.0
            for i in range(t - w + 1, t + 1):
                d = x[i] - m
                acc += d * d
            mean_out[t] = m
            std_out[t] = sqrt(acc / w)


def ema(const value_t[::1] x, Py_ssize_t w, value_t[::1] out):
    """Exponential moving average, alpha = 2 / (w + 1), seeded with the first valid value.

    NaN until ``w`` valid values have been seen.
    """
    cdef Py_ssize_t n = x.shape[0], t, seen = 0
    cdef value_t alpha = 2.0 / (w + 1.0), e = 0.0, v
    with nogil:
        for t in range(n):
            v = x[t]
            if isnan(v):
                out[t] = NAN
                continue
            if seen == 0:
                e = v
            else:
                e = e + alpha * (v - e)
            seen += 1
            out[t] = e if seen >= w else NAN


def rsi(const value_t[::1] x, Py_ssize_t w, value_t[::1] out):
    """Wilder's RSI in [0, 100].

    Changes are taken against the previous valid value. The averages start as the plain mean of the
    first ``w`` changes, then follow Wilder's smoothing ``a = (a * (w - 1) + g) / w``. With no losses in
    the window the RSI is 100, with neither gains nor losses (a flat stretch) it is 50.
    """
    cdef Py_ssize_t n = x.shape[0], t, changes = 0
    cdef value_t prev = NAN, v, d, gain, loss, ag = 0.0, al = 0.0
    with nogil:
        for t in range(n):
            v = x[t]
            out[t] = NAN
            if isnan(v):
                continue
            if isnan(prev):
                prev = v
                continue
            d = v - prev
            prev = v
            gain = d if d > 0 else 0.0
            loss = -d if d < 0 else 0.0
            changes += 1
            if changes <= w:
                ag += gain
                al += loss
                if changes < w:
                    continue
                ag /= w
                al /= w
            else:
                ag = (ag * (w - 1) + gain) / w
                al = (al * (w - 1) + loss) / w
            if al == 0.0:
                out[t] = 100.0 if ag > 0.0 else 50.0
            else:
                out[t] = 100.0 - 100.0 / (1.0 + ag / al)


def atr_pct(const value_t[::1] high, const value_t[::1] low, const value_t[::1] close,
            Py_ssize_t w, value_t[::1] out):
    """Wilder's average true range divided by the close: a fraction of price.

    The true range of the first valid bar is high - low; later ones use the previous valid close.
    """
    cdef Py_ssize_t n = close.shape[0], t, seen = 0
    cdef value_t prev = NAN, h, l, c, tr, a = 0.0
    with nogil:
        for t in range(n):
            h = high[t]
            l = low[t]
            c = close[t]
            out[t] = NAN
            if isnan(h) or isnan(l) or isnan(c):
                continue
            tr = h - l
            if not isnan(prev):
                if fabs(h - prev) > tr:
                    tr = fabs(h - prev)
                if fabs(l - prev) > tr:
                    tr = fabs(l - prev)
            prev = c
            seen += 1
            if seen <= w:
                a += tr
                if seen < w:
                    continue
                a /= w
            else:
                a = (a * (w - 1) + tr) / w
            out[t] = a / c


def roc(const value_t[::1] x, Py_ssize_t w, value_t[::1] out):
    """Rate of change ``x[t] / x[t - w] - 1``."""
    cdef Py_ssize_t n = x.shape[0], t
    with nogil:
        for t in range(n):
            if t < w:
                out[t] = NAN
            else:
                out[t] = x[t] / x[t - w] - 1.0
