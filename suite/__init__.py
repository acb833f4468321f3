"""hwbehave: a hardware-behaviour benchmarking suite for edge AI.

The package is organised by pipeline stage (docs/architecture.md): ``ops`` is the operator
vocabulary, ``sweep`` plans points, ``models`` (the canonical ONNX builder and the shared
build path) and ``backends`` (one folder per accelerator stack) build artifacts,
``devices``/``agent`` measure them, ``results`` stores measurements, ``analysis``/``report``
turn them into findings, ``farm`` repeats it all across many devices, ``cli`` exposes it.
"""

__version__ = "0.1.0"
