"""Builds the compiled core: every ``omp_core/_*.pyx`` becomes an extension module.

``OMP_CYTHON_DEBUG=1`` turns bounds checking, wraparound and ``initializedcheck`` back on (and
``-O0 -g``) so a kernel that indexes out of range raises instead of corrupting memory.
"""
import glob
import json
import os
import platform
import subprocess

import numpy
from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_py import build_py

DEBUG = os.environ.get("OMP_CYTHON_DEBUG", "") not in ("", "0")

directives = {
    "language_level": 3,
    "boundscheck": DEBUG,
    "wraparound": DEBUG,
    "initializedcheck": DEBUG,
    "cdivision": not DEBUG,
    "embedsignature": True,
}
# no fused multiply-add: a*b+c rounds once or twice depending on the machine, and a run must give the
# same bytes everywhere (and the kernel's shortcuts the same numbers as its full step)
compile_args = (["-O0", "-g"] if DEBUG else ["-O3"]) + ["-ffp-contract=off"]
# and a fixed target, whatever CFLAGS or the build machine say: the instruction set every host of a
# cluster has, so a wheel built on one host gives the same bits on all (docs/scaling.md)
TARGET = {"x86_64": ["-march=x86-64", "-mtune=generic", "-mno-fma"], "aarch64": ["-march=armv8-a"]}
compile_args += TARGET.get(platform.machine(), [])

# NumPy's random distributions as a C library (numpy/random/lib), NumPy's documented way for an
# extension to draw what a Generator draws: _draws.pyx takes its normal from there
NUMPY_RANDOM = {"library_dirs": [os.path.join(os.path.dirname(numpy.__file__), "random", "lib")],
                "libraries": ["npyrandom", "m"]}

extensions = [
    Extension(
        path[:-4].replace(os.sep, "."),
        [path],
        include_dirs=[numpy.get_include()],
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
        extra_compile_args=compile_args,
        **(NUMPY_RANDOM if path.endswith("_draws.pyx") else {}),
    )
    for path in sorted(glob.glob(os.path.join("omp_core", "_*.pyx")))
]

def _git(*args):
    return subprocess.run(["git", *args], capture_output=True, text=True, timeout=30, check=True).stdout.strip()


class StampedBuildPy(build_py):
    """Stamp the commit this package is built from (and whether tracked files differed from it)
    into ``omp_core/_build_commit.json``: an installed package has no checkout to ask, and a run's
    manifest must name the code that made it. Built from no checkout, no stamp: its runs record
    an unknown code version and are never promoted."""

    def run(self):
        super().run()
        try:
            stamp = {"commit": _git("rev-parse", "HEAD"),
                     "dirty": bool(_git("status", "--porcelain", "--untracked-files=no"))}
        except (OSError, subprocess.SubprocessError):
            return
        target = os.path.join(self.build_lib, "omp_core", "_build_commit.json")
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(target, "w") as fh:
            json.dump(stamp, fh)


setup(ext_modules=cythonize(extensions, compiler_directives=directives, quiet=True),
      cmdclass={"build_py": StampedBuildPy})
