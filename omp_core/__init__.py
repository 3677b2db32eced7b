"""OMP's mining core: market data, compiled indicators and backtest, genomes, genetic search,
statistics and campaign configs. No gRPC, SQL or metrics in here: services build on it.

The compiled kernels are imported eagerly: a missing build fails here, loudly, rather than falling
back to slow Python.
"""
from omp_core import _backtest, _indicators  # noqa: F401  (fail fast without the Cython build)

__version__ = "0.2.0"      # the one version: pyproject.toml reads it from here
