from typing import Sequence

import numpy as np
from numpy.typing import NDArray

TRADE_FIELDS: tuple[str, ...]
REASONS: dict[int, str]

def encode(
    genomes: Sequence[object], positions: dict[str, int],
) -> tuple[NDArray[np.int32], NDArray[np.float64], NDArray[np.int32], NDArray[np.float64]]: ...

def run_population(
    open_: NDArray[np.float64], close: NDArray[np.float64], feat: NDArray[np.float64],
    cond: NDArray[np.int32], thr: NDArray[np.float64], gi: NDArray[np.int32], gd: NDArray[np.float64],
    g0: int, g1: int, fee: float, slip: float, delay: int, start: int, end: int,
    equity: NDArray[np.float64], scratch: NDArray[np.float64], summary: NDArray[np.float64],
    fills: NDArray[np.int64], in_market: NDArray[np.int64],
    trades: NDArray[np.float64],
) -> int: ...
