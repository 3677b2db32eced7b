"""The equity-and-drawdown picture of a candidate, as PNG bytes.

matplotlib's Agg backend is deterministic given the same inputs and versions; the PNG carries no
timestamp or software tag, so two runs of the same candidate give the same bytes.
"""
from __future__ import annotations

import io
import textwrap

import numpy as np


def equity_png(timestamps: np.ndarray, equity: np.ndarray, split_index: int, title: str) -> bytes:
    import matplotlib

    matplotlib.use("Agg", force=True)
    from matplotlib.figure import Figure

    from omp_core.stats import drawdown_curve

    x = timestamps.astype("datetime64[s]").astype("datetime64[ms]").astype(object)
    fig = Figure(figsize=(9, 5), dpi=80)
    ax1, ax2 = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    ax1.plot(x, equity, lw=1.0, color="#1f5fa8")
    ax1.set_ylabel("equity (net)")
    ax1.set_title(textwrap.fill(title, 120), fontsize=8)
    ax1.grid(alpha=0.3)
    ax2.fill_between(x, drawdown_curve(equity) * 100.0, 0.0, color="#b03030", alpha=0.6, lw=0)
    ax2.set_ylabel("drawdown %")
    ax2.grid(alpha=0.3)
    if 0 < split_index < len(x):
        for ax in (ax1, ax2):
            ax.axvline(x[split_index], color="black", lw=0.8, ls="--")
        ax1.text(x[split_index], ax1.get_ylim()[1], " out of sample", va="top", fontsize=8)
    # fixed margins: tight_layout measures every label and costs more than the drawing itself
    fig.subplots_adjust(left=0.08, right=0.98, top=0.90, bottom=0.08, hspace=0.08)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    return buf.getvalue()
