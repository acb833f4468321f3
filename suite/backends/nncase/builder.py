"""nncase builder (Kendryte KPU): ONNX → ``.kmodel`` for K230 (nncase 2.x) or K210 (nncase 1.x ``ncc``).

Device YAML::

    toolchain:
      nncase: {target: k230}                      # nncase 2.x Python API, via nncase_worker
      nncase: {target: k210, executable: ncc}     # nncase 1.x command line (not on PyPI)

* K230: ``python -m suite.backends.nncase.worker`` in the configured python (``pip install
  nncase nncase-kpu``); nncase 2.x needs a .NET 7 runtime, and without one the point is
  ``unsupported`` with what to install.
* K210: ``ncc compile model.onnx model.kmodel -i onnx -t k210 ...`` (see :func:`ncc_command`);
  the log is parsed (:func:`~suite.backends.nncase.logs.parse_ncc_log`) for memory use,
  float fallbacks and failures.

dtypes: fp32 → float kmodel (on K210 float layers run on the RISC-V cores, not the KPU);
int8 → post-training quantization on seeded calibration inputs (K210's KPU is uint8-only,
so K210 int8 points are built uint8 and say so); fp16 → ``unsupported``.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from suite import status as st
from suite.backends.nncase.backend import BACKEND
from suite.backends.nncase.logs import parse_ncc_log
from suite.backends.nncase.worker import DOTNET_FIX
from suite.backends.toolchain import (
    ToolchainBuilder,
    ToolchainCheck,
    ToolchainSettings,
    distribution_version,
    probe_python,
    resolve_settings,
)
from suite.models.artifact import Artifact
from suite.models.calibration import CalibrationReader
from suite.models.onnx_builder import build_onnx_model
from suite.sweep.point import Point

TARGETS = ("k230", "k210")
NCC_FIX = ("nncase 1.x's ncc is not on PyPI: build it from kendryte/nncase (release/1.x) or take the release "
           "binary, then set toolchains.nncase.executable (or device toolchain.nncase.executable)")


def ncc_command(ncc: str, onnx_path: Path, kmodel: Path, options: dict[str, Any],
                dataset_dir: Path | None) -> list[str]:
    """The nncase 1.x ``ncc compile`` command line for a K210 build (quantized when ``dataset_dir``)."""
    argv = [ncc, "compile", str(onnx_path), str(kmodel), "-i", "onnx", "-t", str(options.get("target") or "k210"),
            "--input-type", str(options.get("input_type") or "float32")]
    if dataset_dir is not None:
        argv += ["--dataset", str(dataset_dir), "--dataset-format", "raw",
                 "--calibrate-method", str(options.get("calibrate_method") or "no_clip"),
                 "--quant-type", str(options.get("quant_type") or "uint8"),
                 "--w-quant-type", str(options.get("w_quant_type") or "uint8")]
    if options.get("dump_ir"):
        argv.append("--dump-ir")
    return argv


def dotnet_runtimes() -> list[str]:
    """``Microsoft.NETCore.App`` versions that ``dotnet --list-runtimes`` reports (empty if no dotnet)."""
    dotnet = shutil.which("dotnet")
    if not dotnet:
        return []
    try:
        out = subprocess.run([dotnet, "--list-runtimes"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired):
        return []
    return [line.split()[1] for line in out.splitlines() if line.startswith("Microsoft.NETCore.App ")]


class NncaseBuilder(ToolchainBuilder):
    """Builds ``.kmodel`` artifacts for Kendryte K230 (nncase 2.x) or K210 (ncc 1.x)."""

    format = BACKEND.format
    toolchain = BACKEND.toolchain or ""
    suffix = ".kmodel"
    worker = "suite.backends.nncase.worker"
    defaults: dict[str, Any] = {"target": "k230", "quant_type": None, "w_quant_type": None,
                                "calibrate_method": None, "input_type": None, "dump_ir": False}

    @classmethod
    def check(cls, settings: ToolchainSettings | None = None) -> ToolchainCheck:
        settings = settings or resolve_settings(cls.toolchain, cls.defaults)
        if settings.options.get("target") == "k210":
            ncc = shutil.which(settings.executable or "ncc")
            if not ncc:
                return ToolchainCheck(cls.toolchain, False, detail="target k210: no ncc executable "
                                      f"({settings.executable or 'ncc'} not found)", fix=NCC_FIX)
            return ToolchainCheck(cls.toolchain, True, interpreter=ncc, detail="target k210 via ncc (nncase 1.x)")
        python = settings.python or sys.executable
        rc, out, err = probe_python(python, "import nncase, importlib.metadata as m; print(m.version('nncase'))")
        runtimes = dotnet_runtimes()
        if rc != 0:
            missing = "No module named" in err
            reason = ("nncase is not installed" if missing else err.strip().splitlines()[-1] if err.strip() else
                      f"import nncase exited {rc}")
            dotnet = ("dotnet runtimes: " + ", ".join(runtimes)) if runtimes else "no dotnet on PATH"
            return ToolchainCheck(cls.toolchain, False, interpreter=python, detail=f"target k230: {reason}; {dotnet}",
                                  fix=DOTNET_FIX)
        return ToolchainCheck(cls.toolchain, True, version=out.strip(), interpreter=python,
                              detail="target k230 via nncase 2.x; .NET " + ", ".join(runtimes))

    @property
    def target(self) -> str:
        return str(self.settings.options.get("target") or "k230")

    def toolchain_version(self) -> str | None:
        if self.target == "k210":
            return "ncc:" + str(self.settings.executable or "ncc")
        return distribution_version(self.settings.python or sys.executable, "nncase")

    def refuse(self, point: Point) -> str | None:
        if self.target not in TARGETS:
            return f"unknown nncase target {self.target!r}; expected one of {', '.join(TARGETS)}"
        if point.dtype not in ("fp32", "int8"):
            return f"no {point.dtype} kmodel: nncase builds float (fp32) or quantized (int8/uint8) models"
        return None

    def source(self, point: Point, work: Path) -> tuple[Path, dict[str, Any]] | Artifact:
        path = work / "model.onnx"
        onnx.save(build_onnx_model(point, float_dtype="fp32"), str(path))
        meta: dict[str, Any] = {"source_format": "onnx fp32 graph", "target": self.target}
        if point.dtype == "int8" and self.target == "k210":
            meta["note"] = "K210 KPU is uint8-only: this int8 point is quantized to uint8"
        return path, meta

    def _calibration(self, point: Point, onnx_path: Path, work: Path, raw: bool) -> tuple[list[list[str]], Path]:
        """Seeded calibration samples: ``.npy`` per input (nncase 2.x) or raw ``.bin`` files (ncc)."""
        folder = work / "calibration"
        folder.mkdir(exist_ok=True)
        samples = []
        for i, feed in enumerate(CalibrationReader(onnx.load(str(onnx_path)), point.seed).batches):
            files = []
            for j, arr in enumerate(feed.values()):
                f = folder / (f"sample_{i}_{j}.bin" if raw else f"sample_{i}_{j}.npy")
                if raw:
                    np.ascontiguousarray(arr, dtype=np.float32).tofile(f)
                else:
                    np.save(f, arr)
                files.append(str(f))
            samples.append(files)
        return samples, folder

    def worker_options(self, point: Point, onnx_path: Path, work: Path) -> dict[str, Any]:
        opts = dict(self.settings.options)
        opts["dtype"] = point.dtype
        if point.dtype == "int8":
            samples, folder = self._calibration(point, onnx_path, work, raw=self.target == "k210")
            opts["calibration"] = samples
            opts["calibration_dir"] = str(folder)
        return opts

    def convert_in_process(self, onnx_path: Path, out_dir: Path, options: dict[str, Any]) -> dict[str, Any] | None:
        if self.target != "k210":
            return None  # K230: the nncase_worker runs in the configured python
        ncc = shutil.which(self.settings.executable or "ncc")
        if not ncc:
            return {"status": st.UNSUPPORTED, "error": f"target k210: ncc not found. {NCC_FIX}"}
        kmodel = out_dir / "model.kmodel"
        dataset = Path(options["calibration_dir"]) if options.get("dtype") == "int8" else None
        argv = ncc_command(ncc, onnx_path, kmodel, options, dataset)
        try:
            proc = subprocess.run(argv, capture_output=True, text=True, timeout=self.settings.timeout_s)
        except subprocess.TimeoutExpired as exc:
            out = exc.stdout.decode(errors="replace") if isinstance(exc.stdout, bytes) else (exc.stdout or "")
            parsed = parse_ncc_log(out)
            return {"status": st.TIMEOUT, "log": out, "error": f"ncc ran past {self.settings.timeout_s:.0f} s "
                    f"(last step: {parsed.last_step})"}
        return ncc_result(proc.returncode, proc.stdout + proc.stderr, kmodel)


def ncc_result(returncode: int, log: str, kmodel: Path) -> dict[str, Any]:
    """The contract-shaped result of one ncc run from its exit code and output."""
    parsed = parse_ncc_log(log)
    metadata = {"ncc_version": parsed.version, "memory_bytes": parsed.memory_bytes,
                "fallback_ops": parsed.fallback_ops, "ncc_warnings": parsed.warnings[:20],
                "inputs": parsed.inputs, "outputs": parsed.outputs}
    if returncode != 0 or parsed.fatal or not kmodel.exists():
        why = parsed.fatal or f"exit {returncode}, last step {parsed.last_step!r}"
        return {"status": st.BUILD_ERROR, "error": f"ncc failed: {why}", "log": log, "metadata": metadata}
    return {"status": st.OK, "artifact": kmodel.name, "log": log, "metadata": metadata}
