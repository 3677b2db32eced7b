"""What a build is: the package's version and the commit of its code, for ``--version`` and
``omp_build_info``. Kept apart from the service machinery so that a command that only prints it
(``omp --version``, ``omp queue list``'s parser) does not load gRPC's server, SQLAlchemy and the
metrics to build its parser."""
from __future__ import annotations

import argparse


def build() -> tuple[str, dict]:
    """The package's version and the code's version (omp_core.run.code_version: the commit and
    whether the checkout differs from it): what ``omp_build_info`` and ``--version`` say."""
    from omp_core import __version__
    from omp_core.run import code_version
    return __version__, code_version()


def version(prog: str) -> str:
    """``omp-scheduler 0.2.0 (commit 1a2b3c4d5e6f, dirty)``: the package's version and the code's."""
    number, code = build()
    return f"{prog} {number} (commit {code['commit'][:12]}{', dirty' if code['dirty'] else ''})"


class VersionAction(argparse.Action):
    """``--version``: print :func:`version` and exit 0 (worked out only when asked: it asks git)."""

    def __init__(self, option_strings, dest, **kw):
        super().__init__(option_strings, dest, nargs=0, help="print the version and the code's commit, and exit")

    def __call__(self, parser, namespace, values, option_string=None):
        print(version(parser.prog))
        parser.exit()
