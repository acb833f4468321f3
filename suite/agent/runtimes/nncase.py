"""nncase runtime adapter (K230 under Linux/CanMV, ``nncase_runtime``): thin, untested off the board.

Uses the K230 SDK's ``nncase_runtime`` module: ``kpu()``, ``load_kmodel``, ``set_input_tensor``
with ``from_numpy``, ``run``, ``get_output_tensor().to_numpy()``. Option ``target: k210``
answers ``unsupported`` at once: the K210 runs no Linux, so no agent; its timings come
from the board's serial debug output (``suite.backends.nncase.logs.parse_kpu_debug``).
"""

from __future__ import annotations

from . import RuntimeAdapter, Unsupported, register_runtime

K210_REASON = ("nncase: the K210 runs no Linux, so the agent cannot run on it; flash the kmodel and read the "
               "KPU/NNCASE debug timings over serial (suite.backends.nncase.logs.parse_kpu_debug)")


@register_runtime("nncase")
class NncaseAdapter(RuntimeAdapter):
    """Runs ``.kmodel`` artifacts with the K230's ``nncase_runtime``."""

    modules = (("nncase_runtime", "nncase-kpu"),)

    @classmethod
    def version(cls):
        try:
            import nncase_runtime
        except ImportError:
            return None
        return getattr(nncase_runtime, "__version__", "unknown")

    def load(self, path):
        if str(self.options.get("target", "k230")) == "k210":
            raise Unsupported(K210_REASON)
        try:
            import nncase_runtime as nn
        except ImportError as exc:
            raise Unsupported("nncase: nncase_runtime is not importable here (%s); it ships with the "  # noqa: UP031
                              "K230 SDK / CanMV image" % exc) from None
        self.nn = nn
        self.kpu = nn.kpu()
        self.kpu.load_kmodel(path)

    def input_specs(self):
        out = []
        for i in range(self.kpu.inputs_size()):
            desc = self.kpu.get_input_desc(i)
            shape = list(getattr(desc, "shape", None) or self.kpu.get_input_tensor(i).shape)
            dtype = str(getattr(desc, "dtype", "float32")).split(".")[-1]
            out.append(("input_%d" % i, shape, dtype))  # noqa: UP031 - agent runs on Python 3.7
        return out

    def bind(self, inputs):
        self._keep = []
        for i, (_, arr) in enumerate(sorted(inputs.items(), key=lambda kv: int(kv[0].rsplit("_", 1)[-1]))):
            tensor = self.nn.from_numpy(arr)
            self._keep.append(tensor)
            self.kpu.set_input_tensor(i, tensor)
        kpu = self.kpu

        def infer():
            kpu.run()

        return infer

    def outputs(self):
        return [self.kpu.get_output_tensor(i).to_numpy() for i in range(self.kpu.outputs_size())]

    def info(self):
        return {"provider": "kpu", "target": "k230"}

    def close(self):
        self.kpu = None
        self._keep = []
