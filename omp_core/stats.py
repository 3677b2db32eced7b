"""Performance and overfitting statistics.

Conventions, everywhere in this module:
- returns are simple per-period returns (one value per bar);
- Sharpe ratios are per period (not annualized) unless a function says otherwise, with no risk-free
  rate, and use the sample standard deviation (ddof=1);
- ``kurtosis`` is the NON-excess kurtosis (3 for a normal distribution), ``skew`` the sample skewness;
- a statistic that is undefined for its inputs is NaN, never a complex or silently wrong number.

References: Bailey & López de Prado (2012), "The Sharpe Ratio Efficient Frontier" (PSR, MinTRL);
Bailey & López de Prado (2014), "The Deflated Sharpe Ratio" (expected maximum Sharpe, DSR);
Bailey, Borwein, López de Prado & Zhu (2017), "The Probability of Backtest Overfitting" (CSCV, PBO).
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
from scipy import stats as _sps

EULER_GAMMA = 0.5772156649015329


def _as_1d(returns) -> np.ndarray:
    r = np.asarray(returns, dtype=np.float64)
    if r.ndim != 1:
        raise ValueError(f"returns must be one-dimensional, got shape {r.shape}")
    return r


def sharpe_ratio(returns) -> float:
    """Per-period Sharpe ratio ``mean / std(ddof=1)``; NaN for fewer than 2 values or zero spread."""
    r = _as_1d(returns)
    if r.size < 2 or not np.all(np.isfinite(r)):
        return math.nan
    sd = float(np.std(r, ddof=1))
    if sd == 0.0:
        return math.nan
    return float(np.mean(r)) / sd


def annualized_sharpe(returns, periods_per_year: float) -> float:
    """``sharpe_ratio * sqrt(periods_per_year)``."""
    return sharpe_ratio(returns) * math.sqrt(periods_per_year)


def moments(returns) -> tuple[float, float]:
    """Sample skewness and NON-excess kurtosis (biased estimators, as in the PSR paper)."""
    r = _as_1d(returns)
    if r.size < 3 or np.std(r) == 0.0:
        return math.nan, math.nan
    return float(_sps.skew(r)), float(_sps.kurtosis(r, fisher=False))


def _psr_denominator(sr: float, skew: float, kurtosis: float) -> float:
    d = 1.0 - skew * sr + (kurtosis - 1.0) / 4.0 * sr * sr
    return math.sqrt(d) if d > 0.0 and math.isfinite(d) else math.nan


def probabilistic_sharpe_ratio(sr, sr_benchmark, n_obs, skew, kurtosis) -> float:
    """Probability that the true per-period Sharpe exceeds ``sr_benchmark`` (Bailey & LdP 2012).

    ``PSR = Phi((sr - sr*) * sqrt(n - 1) / sqrt(1 - skew * sr + (kurtosis - 1) / 4 * sr^2))``.
    NaN when ``n_obs < 2``, an input is not finite, or the moments make the variance term <= 0.
    """
    vals = (sr, sr_benchmark, skew, kurtosis)
    if n_obs is None or n_obs < 2 or not all(math.isfinite(v) for v in vals):
        return math.nan
    den = _psr_denominator(sr, skew, kurtosis)
    if math.isnan(den):
        return math.nan
    return float(_sps.norm.cdf((sr - sr_benchmark) * math.sqrt(n_obs - 1.0) / den))


def min_track_record_length(sr, sr_benchmark, skew, kurtosis, alpha=0.05) -> float:
    """Observations needed for ``PSR >= 1 - alpha`` (Bailey & LdP 2012).

    ``MinTRL = 1 + (1 - skew * sr + (kurtosis - 1) / 4 * sr^2) * (z_{1-alpha} / (sr - sr*))^2``.
    ``inf`` when ``sr <= sr_benchmark`` (no track record is long enough); NaN for invalid moments or
    ``alpha`` outside (0, 1).
    """
    if not all(math.isfinite(v) for v in (sr, sr_benchmark, skew, kurtosis)) or not 0.0 < alpha < 1.0:
        return math.nan
    den = _psr_denominator(sr, skew, kurtosis)
    if math.isnan(den):
        return math.nan
    if sr <= sr_benchmark:
        return math.inf
    z = float(_sps.norm.ppf(1.0 - alpha))
    return 1.0 + den * den * (z / (sr - sr_benchmark)) ** 2


def expected_max_sharpe(n_trials, trials_sr_variance) -> float:
    """Expected maximum of ``n_trials`` per-period Sharpe estimates under the null (true SR = 0).

    ``E[max] = sqrt(V) * ((1 - g) * Phi^-1(1 - 1/N) + g * Phi^-1(1 - 1/(N e)))`` with ``g`` the
    Euler-Mascheroni constant (Bailey & LdP 2014). One trial, or zero variance, gives 0: there is no
    selection to deflate. NaN for ``n_trials < 1`` or a negative or non-finite variance.
    """
    if n_trials is None or not math.isfinite(n_trials) or n_trials < 1:
        return math.nan
    if not math.isfinite(trials_sr_variance) or trials_sr_variance < 0.0:
        return math.nan
    if n_trials == 1 or trials_sr_variance == 0.0:
        return 0.0
    n = float(n_trials)
    q = (1.0 - EULER_GAMMA) * _sps.norm.ppf(1.0 - 1.0 / n) + EULER_GAMMA * _sps.norm.ppf(
        1.0 - 1.0 / (n * math.e))
    return math.sqrt(trials_sr_variance) * float(q)


def deflated_sharpe_ratio(sr, n_obs, skew, kurtosis, n_trials, trials_sr_variance) -> float:
    """PSR of ``sr`` against the expected maximum Sharpe of ``n_trials`` trials (Bailey & LdP 2014).

    All Sharpe figures per period; ``trials_sr_variance`` is the variance of the trials' per-period
    Sharpe ratios.
    """
    sr0 = expected_max_sharpe(n_trials, trials_sr_variance)
    if math.isnan(sr0):
        return math.nan
    return probabilistic_sharpe_ratio(sr, sr0, n_obs, skew, kurtosis)


@dataclass(frozen=True)
class PBOResult:
    """Outcome of combinatorially symmetric cross-validation.

    ``pbo``: share of splits whose in-sample best has a logit <= 0 (out-of-sample rank at or below the
    median). ``logits``: one per split. ``prob_oos_loss``: share of splits where the in-sample best has
    an out-of-sample Sharpe below 0. ``slope``/``intercept``: least-squares fit of OOS on IS Sharpe of
    the selected strategy across splits (performance degradation). Sharpe figures are per period.
    ``dropped_rows``: the oldest rows left out so that every block has the same length.
    """
    pbo: float
    logits: np.ndarray
    prob_oos_loss: float
    slope: float
    intercept: float
    is_sharpe: np.ndarray
    oos_sharpe: np.ndarray
    n_splits: int
    n_combinations: int
    dropped_rows: int = 0


def _block_sharpes(sums, sumsq, counts, col_mean, mask_rows):
    """Sharpe (ddof=1) of the union of blocks chosen by each row of ``mask_rows``.

    ``sums``/``sumsq`` are per-block sums of the column-centred returns; adding ``col_mean`` back
    gives the raw mean while the spread comes from the well-conditioned centred sums.
    """
    n = (mask_rows @ counts)[:, None]
    s = mask_rows @ sums
    var = (mask_rows @ sumsq - s * s / n) / (n - 1.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        sd = np.sqrt(np.where(var > 0.0, var, np.nan))
        return (s / n + col_mean[None, :]) / sd


def pbo(returns_matrix, n_splits: int = 16, *, chunk: int = 512) -> PBOResult:
    """Probability of Backtest Overfitting by CSCV (Bailey, Borwein, López de Prado & Zhu).

    ``returns_matrix`` is T x N: per-period returns of N strategies (trials). The T rows are cut into
    ``n_splits`` (even) contiguous blocks of equal length: when T is not divisible, the oldest
    ``T % n_splits`` rows are dropped (as the reference implementations do), so that in-sample and
    out-of-sample halves always have the same length. For each of the C(S, S/2) ways to pick half of the blocks as
    in-sample, the strategy with the best in-sample Sharpe is located in the out-of-sample ranking:
    relative rank ``w = rank / (N + 1)`` (rank 1 = worst), ``logit = ln(w / (1 - w))``.

    Memory stays bounded: per-block sums and sums of squares are taken once (S x N), and the
    combinations are processed ``chunk`` at a time, so no split's submatrix is ever built.
    A strategy whose Sharpe is undefined in a half (zero spread) ranks lowest there.
    """
    m = np.asarray(returns_matrix, dtype=np.float64)
    if m.ndim != 2:
        raise ValueError(f"returns_matrix must be T x N, got shape {m.shape}")
    t_len, n_strat = m.shape
    if n_splits < 2 or n_splits % 2:
        raise ValueError(f"n_splits must be an even number >= 2, got {n_splits}")
    if n_strat < 2:
        raise ValueError(f"returns_matrix needs at least 2 strategies (columns), got {n_strat}")
    if t_len < 2 * n_splits:
        raise ValueError(f"returns_matrix needs at least 2 rows per split ({2 * n_splits}), got {t_len}")
    if not np.all(np.isfinite(m)):
        raise ValueError("returns_matrix must be finite (no NaN or inf)")
    dropped = t_len % n_splits            # the oldest rows: equal blocks, equal halves
    m = m[dropped:]
    # centring each column first keeps the one-pass variance accurate
    col_mean = m.mean(axis=0)
    m = m - col_mean
    bounds = np.arange(0, m.shape[0] + 1, m.shape[0] // n_splits)
    sums = np.add.reduceat(m, bounds[:-1], axis=0)
    sumsq = np.add.reduceat(m * m, bounds[:-1], axis=0)
    counts = np.diff(bounds).astype(np.float64)
    half = n_splits // 2
    combos = list(itertools.combinations(range(n_splits), half))
    logits = np.empty(len(combos))
    is_best = np.empty(len(combos))
    oos_best = np.empty(len(combos))
    for c0 in range(0, len(combos), chunk):
        part = combos[c0:c0 + chunk]
        mask = np.zeros((len(part), n_splits))
        for i, cmb in enumerate(part):
            mask[i, list(cmb)] = 1.0
        sr_is = _block_sharpes(sums, sumsq, counts, col_mean, mask)
        sr_oos = _block_sharpes(sums, sumsq, counts, col_mean, 1.0 - mask)
        filled_is = np.where(np.isnan(sr_is), -np.inf, sr_is)
        best = np.argmax(filled_is, axis=1)
        rows = np.arange(len(part))
        oos_sel = sr_oos[rows, best]
        filled_oos = np.where(np.isnan(sr_oos), -np.inf, sr_oos)
        sel = np.where(np.isnan(oos_sel), -np.inf, oos_sel)
        # rank 1..N of the selected strategy out of sample (ties share the lower rank)
        rank = (filled_oos < sel[:, None]).sum(axis=1) + 1.0
        w = rank / (n_strat + 1.0)
        logits[c0:c0 + len(part)] = np.log(w / (1.0 - w))
        is_best[c0:c0 + len(part)] = sr_is[rows, best]
        oos_best[c0:c0 + len(part)] = oos_sel
    ok = np.isfinite(is_best) & np.isfinite(oos_best)
    if ok.sum() >= 2 and np.ptp(is_best[ok]) > 0.0:
        slope, intercept = np.polyfit(is_best[ok], oos_best[ok], 1)
    else:
        slope, intercept = math.nan, math.nan
    return PBOResult(
        pbo=float(np.mean(logits <= 0.0)),
        logits=logits,
        prob_oos_loss=float(np.mean(np.where(np.isnan(oos_best), True, oos_best < 0.0))),
        slope=float(slope),
        intercept=float(intercept),
        is_sharpe=is_best,
        oos_sharpe=oos_best,
        n_splits=n_splits,
        n_combinations=len(combos),
        dropped_rows=int(dropped),
    )


def sortino_ratio(returns) -> float:
    """Per-period Sortino ratio: mean over the downside deviation ``sqrt(mean(min(r, 0)^2))``."""
    r = _as_1d(returns)
    if r.size < 2 or not np.all(np.isfinite(r)):
        return math.nan
    dd = math.sqrt(float(np.mean(np.minimum(r, 0.0) ** 2)))
    if dd == 0.0:
        return math.nan
    return float(np.mean(r)) / dd


def max_drawdown(equity) -> float:
    """Largest peak-to-trough loss of an equity curve, as a positive fraction (0.25 = -25%)."""
    e = _as_1d(equity)
    if e.size == 0:
        return math.nan
    peak = np.maximum.accumulate(np.maximum(e, 0.0))
    with np.errstate(invalid="ignore", divide="ignore"):
        dd = np.where(peak > 0.0, 1.0 - e / peak, 0.0)
    return float(np.max(dd))


def drawdown_curve(equity) -> np.ndarray:
    """Drawdown at every bar, as a non-positive fraction of the running peak."""
    e = _as_1d(equity)
    peak = np.maximum.accumulate(e)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(peak > 0.0, e / peak - 1.0, 0.0)


def cagr(equity, periods_per_year: float) -> float:
    """Compound annual growth of an equity curve that starts from 1 before its first bar."""
    e = _as_1d(equity)
    if e.size == 0 or e[-1] <= 0.0:
        return -1.0 if e.size else math.nan
    return float(e[-1] ** (periods_per_year / e.size) - 1.0)


def calmar_ratio(equity, periods_per_year: float) -> float:
    """CAGR over maximum drawdown; NaN when there was no drawdown."""
    mdd = max_drawdown(equity)
    if not mdd > 0.0:
        return math.nan
    return cagr(equity, periods_per_year) / mdd


def win_rate(trade_returns) -> float:
    """Share of trades with a positive net return; NaN without trades."""
    r = np.asarray(trade_returns, dtype=np.float64)
    return float(np.mean(r > 0.0)) if r.size else math.nan


def annual_turnover(fills: int, n_bars: int, n_symbols: int, periods_per_year: float) -> float:
    """Round trips per year per symbol sleeve: ``fills / 2 / n_symbols / n_bars * periods_per_year``."""
    if n_bars <= 0 or n_symbols <= 0:
        return math.nan
    return fills / 2.0 / n_symbols / n_bars * periods_per_year


def worst_subperiod_sharpe(returns, n_periods: int = 4) -> float:
    """Lowest per-period Sharpe over ``n_periods`` contiguous, near-equal sub-periods."""
    r = _as_1d(returns)
    if r.size < 2 * n_periods:
        return math.nan
    vals = [sharpe_ratio(p) for p in np.array_split(r, n_periods)]
    vals = [v if math.isfinite(v) else 0.0 for v in vals]
    return float(min(vals))


def block_bootstrap_sharpe_interval(returns, rng: np.random.Generator, *, block: int = 20,
                                    n_boot: int = 500, level: float = 0.95) -> tuple[float, float]:
    """Circular block bootstrap interval of the per-period Sharpe ratio.

    Blocks of ``block`` consecutive returns keep autocorrelation; ``rng`` makes it reproducible.
    """
    r = _as_1d(returns)
    n = r.size
    if n < 2 * block or n_boot < 10:
        return math.nan, math.nan
    n_blocks = -(-n // block)
    starts = rng.integers(0, n, size=(n_boot, n_blocks))
    idx = (starts[:, :, None] + np.arange(block)[None, None, :]).reshape(n_boot, -1)[:, :n] % n
    sample = r[idx]
    sd = sample.std(axis=1, ddof=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        srs = np.where(sd > 0.0, sample.mean(axis=1) / sd, 0.0)
    lo, hi = np.quantile(srs, [(1.0 - level) / 2.0, (1.0 + level) / 2.0])
    return float(lo), float(hi)
