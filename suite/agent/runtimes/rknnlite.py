"""RKNN Lite adapter (rknn-toolkit-lite2 on a Rockchip board): thin on purpose.

Nothing here can run off a board, so the logic that can be wrong is kept in pure
functions with tests on real files: :func:`rknn_io_specs` reads the input shapes the
toolkit embeds in a ``.rknn`` file (RKNNLite has no query for them), and
:func:`parse_layer_table` / :func:`cpu_layers` read the runtime's per-layer table
(printed with ``perf_debug``) so layers that ran on the CPU become status ``fallback``.

Options: ``core_mask`` (``auto``, ``0``, ``1``, ``2``, ``0_1``, ``0_1_2``, ``all``),
``perf_debug`` (run one extra inference with the runtime's layer table captured).
"""

from __future__ import annotations

import ast
import os
import re
import tempfile

from . import RuntimeAdapter, Unsupported, register_runtime

_CORE_MASKS = {"auto": "NPU_CORE_AUTO", "0": "NPU_CORE_0", "1": "NPU_CORE_1", "2": "NPU_CORE_2",
               "0_1": "NPU_CORE_0_1", "0_1_2": "NPU_CORE_0_1_2", "all": "NPU_CORE_ALL"}
_UNSUPPORTED_MARKERS = ("not match", "not support", "Not support", "Unsupport", "invalid target")
#: Operators that move tensors in and out of the NPU graph: CPU work that is not a fallback.
_IO_OPERATORS = ("InputOperator", "OutputOperator")
_NUMPY_DTYPES = {"float32": "float32", "float16": "float16", "int8": "int8", "uint8": "uint8",
                 "int16": "int16", "int32": "int32", "int64": "int64"}


def rknn_io_specs(blob):
    """Inputs of a ``.rknn`` file as ``[(name, shape, dtype)]`` in index order.

    rknn-toolkit2 (seen with 2.5.0) stores the model's I/O attributes as a Python dict
    literal starting with ``{'attrs': {...}}`` inside the file; ``dtype`` there is the
    dtype the model is fed with (float32 unless the build changed it).
    """
    start = blob.find(b"{'attrs':")
    if start < 0:
        raise ValueError("rknnlite: no {'attrs': ...} block in the .rknn file (toolkit version?)")
    depth = 0
    for end in range(start, len(blob)):
        c = blob[end:end + 1]
        if c == b"{":
            depth += 1
        elif c == b"}":
            depth -= 1
            if depth == 0:
                break
    else:
        raise ValueError("rknnlite: unterminated attrs block in the .rknn file")
    attrs = ast.literal_eval(blob[start:end + 1].decode("utf-8", "replace"))["attrs"]
    inputs = [(a.get("idx", 0), name, list(a["shape"]), _NUMPY_DTYPES.get(a.get("dtype"), "float32"))
              for name, a in attrs.items() if not a.get("is_output")]
    return [(name, shape, dtype) for _, name, shape, dtype in sorted(inputs)]


_ROW = re.compile(r"^\s*(\d+)\s+(\S+)\s+(\S+)\s+(CPU|NPU|GPU)\s+(.*)$")


def parse_layer_table(text):
    """Rows of the RKNN runtime's per-layer table (``ID OpType DataType Target ...``).

    Returns dicts with ``id``, ``op_type``, ``data_type``, ``target``, ``time_us``
    (``None`` if the row has none) and ``name`` (the last column, ``Conv:/model.0/...``).
    Works on the board runtime's "Network Layer Information Table" and the toolkit's
    ``eval_perf`` table; summary tables (``OpType CallNumber ...``) are not rows.
    """
    rows = []
    for line in text.splitlines():
        m = _ROW.match(line)
        if not m:
            continue
        rest = m.group(5).split()
        time_us = None
        # the time column is the first plain number after the cycles column(s)
        for i, tok in enumerate(rest):
            if re.match(r"^\d+/\d+/\d+$", tok) and i + 1 < len(rest):
                time_us = _number(rest[i + 1])
                break
        name = rest[-1] if rest and _number(rest[-1]) is None else ""  # eval_perf rows may end on RW(KB)
        rows.append({"id": int(m.group(1)), "op_type": m.group(2), "data_type": m.group(3),
                     "target": m.group(4), "time_us": time_us, "name": name})
    return rows


def _number(tok):
    try:
        return float(tok)
    except ValueError:
        return None


def cpu_layers(rows):
    """Names of layers that ran on the CPU (graph input/output operators excluded)."""
    return ["%s (%s)" % (r["name"], r["op_type"]) for r in rows  # noqa: UP031 - agent runs on Python 3.7
            if r["target"] == "CPU" and r["op_type"] not in _IO_OPERATORS]


def _capture_fds(fn):
    """Run ``fn`` with fds 1 and 2 sent to a temp file; return ``(result, captured text)``."""
    with tempfile.TemporaryFile(mode="w+b") as tmp:
        saved = [os.dup(1), os.dup(2)]
        try:
            os.dup2(tmp.fileno(), 1)
            os.dup2(tmp.fileno(), 2)
            result = fn()
        finally:
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)
        tmp.seek(0)
        return result, tmp.read().decode("utf-8", "replace")


@register_runtime("rknnlite")
class RknnLiteAdapter(RuntimeAdapter):
    """Runs ``.rknn`` artifacts with ``rknnlite.api.RKNNLite`` on the board's NPU."""

    modules = (("rknnlite", "rknn-toolkit-lite2"),)

    @classmethod
    def version(cls):
        try:
            from importlib import metadata

            return metadata.version("rknn-toolkit-lite2")
        except Exception:  # noqa: BLE001 - not installed, or an old importlib
            return None

    def load(self, path):
        from rknnlite.api import RKNNLite

        with open(path, "rb") as f:
            self.specs = rknn_io_specs(f.read())
        self.rknn = RKNNLite()
        ret = self.rknn.load_rknn(path)
        if ret != 0:
            raise RuntimeError("rknnlite: load_rknn returned %d" % ret)  # noqa: UP031 - Python 3.7
        mask = str(self.options.get("core_mask", "auto"))
        kwargs = {"core_mask": getattr(RKNNLite, _CORE_MASKS.get(mask, "NPU_CORE_AUTO"))}
        if self.options.get("perf_debug"):
            kwargs["perf_debug"] = True
        ret, log = _capture_fds(lambda: self.rknn.init_runtime(**kwargs))
        if ret != 0:
            text = "rknnlite: init_runtime returned %s: %s" % (ret, log.strip()[-1500:])  # noqa: UP031
            if any(m in log for m in _UNSUPPORTED_MARKERS):
                raise Unsupported(text)
            raise RuntimeError(text)
        self.init_log = log[-4000:]

    def input_specs(self):
        return self.specs

    def bind(self, inputs):
        arrays = [inputs[name] for name, _, _ in self.specs]
        kwargs = {"data_format": "nchw"} if all(a.ndim == 4 for a in arrays) else {}
        rknn = self.rknn
        state = self

        def infer():
            state.last = rknn.inference(inputs=arrays, **kwargs)

        self._infer = infer
        return infer

    def outputs(self):
        return list(getattr(self, "last", None) or [])

    def info(self):
        out = {"provider": "rknpu", "core_mask": self.options.get("core_mask", "auto")}
        runtime = re.search(r"librknnrt version: (\S+)", self.init_log or "")
        if runtime:
            out["librknnrt"] = runtime.group(1)
        if self.options.get("perf_debug"):
            _, text = _capture_fds(self._infer)
            rows = parse_layer_table(text)
            out["layers"] = rows[:300]
            out["fallback_ops"] = cpu_layers(rows)
        return out

    def close(self):
        rknn = getattr(self, "rknn", None)
        if rknn is not None:
            rknn.release()
        self.rknn = None
