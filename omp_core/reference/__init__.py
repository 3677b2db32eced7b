"""Plain, slow twins of the compiled kernels (the bottleneck ``slow/`` habit).

They are written for reading, not speed: loops and NumPy, straight from each docstring. Tests assert
that every compiled function agrees with its twin on awkward inputs.
"""
