"""CSCV written the obvious way: build every split's submatrices and rank with scipy."""
from __future__ import annotations

import itertools

import numpy as np
from scipy.stats import rankdata


def pbo_naive(m: np.ndarray, n_splits: int):
    m = m[m.shape[0] % n_splits:]           # the oldest rows that do not fill a block are dropped
    blocks = np.split(np.arange(m.shape[0]), n_splits)
    n = m.shape[1]
    logits, is_best, oos_best = [], [], []
    for combo in itertools.combinations(range(n_splits), n_splits // 2):
        rows_is = np.concatenate([blocks[i] for i in combo])
        rows_oos = np.concatenate([blocks[i] for i in range(n_splits) if i not in combo])
        sr = lambda x: x.mean(axis=0) / x.std(axis=0, ddof=1)  # noqa: E731
        s_is, s_oos = sr(m[rows_is]), sr(m[rows_oos])
        best = int(np.argmax(s_is))
        rank = rankdata(s_oos, method="min")[best]
        w = rank / (n + 1.0)
        logits.append(np.log(w / (1 - w)))
        is_best.append(s_is[best])
        oos_best.append(s_oos[best])
    logits = np.asarray(logits)
    return float(np.mean(logits <= 0)), logits, np.asarray(is_best), np.asarray(oos_best)
