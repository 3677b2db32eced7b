/* The physical floor of the SMA-crossover grid: a plain C loop over genomes and bars, with the
 * production kernel's execution model (omp_core/_backtest.pyx) and nothing else: a decision at the
 * close of bar t fills at the open of bar t + 1, no decision while an order is pending, all-in long
 * positions, `fee` (a fraction of notional) on every fill, a position still open at the last bar
 * closed at its close with costs; a NaN on either side of a comparison never trades. It keeps
 * final equity and the trade count only (no curve, no statistics).
 *
 * Compiled by bench/run.py (gcc -O2 -ffp-contract=off) and called through ctypes. */
#include <stddef.h>
#include <stdint.h>

void sma_grid(const double *open, const double *close, ptrdiff_t n_bars, const double *features,
              const int32_t *fast, const int32_t *slow, ptrdiff_t n_genomes, double fee,
              double *final_equity, int64_t *trades)
{
    for (ptrdiff_t g = 0; g < n_genomes; g++) {
        const double *f = features + (ptrdiff_t)fast[g] * n_bars;
        const double *s = features + (ptrdiff_t)slow[g] * n_bars;
        double eq = 1.0, base = 1.0, p_in = 1.0;
        ptrdiff_t pending = -1;
        int pos = 0;
        int64_t n_trades = 0;
        for (ptrdiff_t t = 0; t < n_bars; t++) {
            if (pending == t) {
                if (!pos) {
                    p_in = open[t];
                    base = eq * (1.0 - fee);
                    pos = 1;
                } else {
                    eq = base * (1.0 + (open[t] / p_in - 1.0)) * (1.0 - fee);
                    pos = 0;
                    n_trades++;
                }
                pending = -1;
            }
            if (pos)
                eq = base * (1.0 + (close[t] / p_in - 1.0));
            if (pending < 0 && t + 1 < n_bars) {
                if (!pos) {
                    if (eq > 0.0 && f[t] > s[t])
                        pending = t + 1;
                } else if (f[t] < s[t]) {
                    pending = t + 1;
                }
            }
        }
        if (pos) {
            eq = base * (1.0 + (close[n_bars - 1] / p_in - 1.0)) * (1.0 - fee);
            n_trades++;
        }
        final_equity[g] = eq;
        trades[g] = n_trades;
    }
}
