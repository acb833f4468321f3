"""Runtime adapters, one module per runtime (inside the agent, so self-contained).

An adapter loads one artifact, binds seeded inputs once, and exposes ``infer()`` for
the protocol loop. The adapter of runtime ``X`` is the module ``runtimes/X.py`` (the
backend registry decides which modules the bundle ships; here they are found by name,
there is no list). Adapters import their runtime lazily: a host without OpenVINO can
still run ONNX Runtime points.
"""

from __future__ import annotations

RUNTIMES = {}  # type: dict  # runtime name -> adapter class


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


def available():
    """Names of the adapter modules here (``runtimes/<name>.py``): the bundle ships one per backend."""
    import pkgutil

    return sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.ispkg and not m.name.startswith("_"))


def get_runtime(name):
    """The adapter class of runtime ``name``, from module ``runtimes/<name>.py`` (found by name).

    An unknown name lists the valid ones; an error while importing an existing adapter is
    not hidden (adapters import their runtime lazily, so importing one never needs it).
    """
    if name not in RUNTIMES:
        if name not in available():
            raise KeyError("unknown runtime %r; expected one of %s" % (name, ", ".join(available())))
        import importlib

        importlib.import_module("." + name, __name__)
    try:
        return RUNTIMES[name]
    except KeyError:
        raise KeyError("runtimes/%s.py registers no runtime called %r" % (name, name)) from None


def load_all():
    """Every adapter here, by runtime name (each module imported once)."""
    return dict((name, get_runtime(name)) for name in available())


def runtime_modules():
    """``(import name, distribution)`` pairs of every adapter's runtime, each once."""
    seen = []
    for cls in load_all().values():
        for pair in cls.modules:
            if tuple(pair) not in seen:
                seen.append(tuple(pair))
    return seen


class RuntimeAdapter(object):
    """Interface of a runtime adapter (one instance per job)."""

    name = ""
    #: ``(import name, distribution)`` of the packages whose versions the environment reports
    modules = ()
    #: how the protocol's samples time this runtime (DESIGN.md §2 "Timing kinds"), when the adapter
    #: knows better than its backend's record (``Backend.timing``, ``measured`` by default): e.g.
    #: ``emulated`` for an accelerator emulated on the host. ``None``: the backend's says.
    timing = None

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
