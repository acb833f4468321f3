"""Build stage core: the Artifact record and Builder protocol, the shared cache-and-failure path,
the content cache, seeded calibration data and the canonical ONNX builder (vendor formats:
``suite.backends``; the op catalogue: ``suite.ops``)."""
