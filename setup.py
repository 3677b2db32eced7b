"""Builds the compiled core: every ``omp_core/_*.pyx`` becomes an extension module.

``OMP_CYTHON_DEBUG=1`` turns bounds checking, wraparound and ``initializedcheck`` back on (and
``-O0 -g``) so a kernel that indexes out of range raises instead of corrupting memory.
"""
import glob
import os

import numpy
from Cython.Build import cythonize
from setuptools import Extension, setup

DEBUG = os.environ.get("OMP_CYTHON_DEBUG", "") not in ("", "0")

directives = {
    "language_level": 3,
    "boundscheck": DEBUG,
    "wraparound": DEBUG,
    "initializedcheck": DEBUG,
    "cdivision": not DEBUG,
    "embedsignature": True,
}
compile_args = ["-O0", "-g"] if DEBUG else ["-O3"]

extensions = [
    Extension(
        path[:-4].replace(os.sep, "."),
        [path],
        include_dirs=[numpy.get_include()],
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
        extra_compile_args=compile_args,
    )
    for path in sorted(glob.glob(os.path.join("omp_core", "_*.pyx")))
]

setup(ext_modules=cythonize(extensions, compiler_directives=directives, quiet=True))
