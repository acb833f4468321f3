"""Runtime adapters behind a registry (inside the agent, so self-contained).

An adapter loads one artifact, binds seeded inputs once, and exposes ``infer()`` for
the protocol loop. Adapters import their runtime lazily: a host without OpenVINO can
still run ONNX Runtime points.
"""

from __future__ import annotations

RUNTIMES = {}


class Unsupported(Exception):
    """The runtime rejects this model/op/dtype: recorded as status ``unsupported``.

    (Fallback is not an exception: adapters report it through ``info()['fallback_ops']``.)
    """


def register_runtime(name):
    """Class decorator registering an adapter; a duplicate name is an error."""

    def decorate(cls):
        if name in RUNTIMES and RUNTIMES[name] is not cls:
            raise ValueError("runtime %r is already registered" % name)
        RUNTIMES[name] = cls
        cls.name = name
        return cls

    return decorate


def get_runtime(name):
    """The adapter class called ``name``; an unknown name lists the valid ones."""
    _load_builtin()
    try:
        return RUNTIMES[name]
    except KeyError:
        raise KeyError("unknown runtime %r; expected one of %s" % (name, ", ".join(sorted(RUNTIMES)))) from None


#: Built-in adapter modules (each imports its runtime lazily, so importing them is cheap).
BUILTIN = ("onnxruntime", "litert", "benchmark_model", "openvino", "rknnlite", "nncase")


def _load_builtin():
    import importlib

    for module in BUILTIN:
        try:
            importlib.import_module("." + module, __name__)
        except ImportError as exc:
            if module not in str(exc):  # a real import error inside an existing adapter
                raise


class RuntimeAdapter(object):
    """Interface of a runtime adapter (one instance per job)."""

    name = ""
    #: module names whose versions the handshake reports
    modules = ()
    #: how the protocol's samples time this runtime (DESIGN.md §2 "Timing kinds"): ``measured``
    #: (wall clock around ``infer()``), ``emulated`` (an accelerator emulated on the host) …
    timing = "measured"

    def __init__(self, options):
        self.options = dict(options or {})

    @classmethod
    def version(cls):
        """Runtime version string, or ``None`` if the runtime is not importable."""
        return None

    def load(self, path):
        """Load the artifact at ``path`` (timed by the caller)."""
        raise NotImplementedError

    def input_specs(self):
        """List of ``(name, shape, numpy dtype string)`` of the model inputs."""
        raise NotImplementedError

    def bind(self, inputs):
        """Bind ``inputs`` (dict name -> array) once; return a no-argument ``infer``."""
        raise NotImplementedError

    def outputs(self):
        """Outputs of the last inference as a list of numpy arrays (float view)."""
        raise NotImplementedError

    def info(self):
        """Extra facts for the measurement: provider, placement, fallback ops, precision."""
        return {}

    def close(self):
        """Release the model."""
