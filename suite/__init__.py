"""hwbehave: a hardware-behaviour benchmarking suite for edge AI.

The package is organised by pipeline stage (see README): ``sweep`` plans points,
``models``/``toolchains`` build artifacts, ``devices``/``agent`` measure them,
``results`` stores measurements, ``analysis``/``report`` turn them into findings,
``farm`` repeats it all across many devices, ``cli`` exposes it.
"""

__version__ = "0.1.0"
