"""The ``vela`` runtime: Vela's performance model of the Ethos-U as the "measurement".

No board runs here: the numbers are Vela's estimate for the accelerator, system config and
memory mode the device file names (timing kind ``estimated``, docs/architecture.md §5). The
runtime is driven from the controller (:class:`~suite.backends.runtime.HostRuntime`, over the
``local`` transport) and reads what the build produced: the compilation of each point ran
once, in the builder (:mod:`.builder`), and left Vela's summary CSV, per-layer CSV and log
beside ``model_vela.tflite`` in the artifact cache. The session gives a host-driven runtime
the artifact's controller-side path (``job["artifact"]``); :meth:`VelaEstimateRuntime.run_job`
parses those files (:mod:`.reports`) into the agent's result message.

How an estimate maps onto the results contract:

* ``samples_ms`` = ``[cycles_total / core_clock * 1000]``: one sample per round, ``loop_k`` 1.
  Every round reads the same compilation, so the round medians are equal, the between-round
  spread is 0 and the interval is zero-width: an exact model, not a measurement with noise
  (``info.interval``). ``n`` counts rounds, not inferences. No load or first-inference time.
* ``status``: ``ok`` when every operator is on the NPU; ``fallback`` when some stay on the CPU,
  with the operators and Vela's reasons in the error text; the estimate then covers the NPU
  part only (Vela has no model of the CPU), which ``info.estimate_scope`` says. A zero or
  missing estimate is a ``runtime_error``, never 0 ms.
* ``info``: ``estimate`` (the network: cycles, clock, time, traffic and bandwidths, the
  summary CSV's fields), ``layers`` (every per-layer row: Vela's operator, target, cycles,
  MACs, utilisation), ``op_profile`` (the NPU rows in the suite's per-op profile shape, time
  per operator at the clock: what ``hwbehave show --point`` and the report's per-op tables
  read; the runtime option ``profile`` changes nothing, the estimate is always per layer),
  ``placement`` (NPU/CPU rows, the CPU operators with reasons), ``provider`` (``vela:<accelerator>``).

A real board (TFLite Micro or the Linux Ethos-U delegate running the same ``model_vela.tflite``)
would be another runtime of this format with ``timing: measured``.
"""

from __future__ import annotations

import platform
import socket
from pathlib import Path
from typing import Any

from suite import status as st
from suite.agent.environment import probe_environment
from suite.agent.profiling import op_profile
from suite.agent.protocol import AGENT_VERSION, PROTOCOL_VERSION
from suite.backends.ethos_u.backend import BACKEND
from suite.backends.ethos_u.reports import (
    LAYERS_FILE,
    LOG_FILE,
    SUMMARY_FILE,
    LayerEstimate,
    NetworkEstimate,
    parse_log,
    parse_per_layer_csv,
    parse_summary_csv,
    placement,
)
from suite.backends.ethos_u.vela import DEFAULTS, VelaCompiler, accelerator_label, config_from, core_clock_hz
from suite.backends.runtime import HostRuntime
from suite.backends.toolchain import resolve_settings
from suite.errors import ConfigError
from suite.results.store import utc_now

#: A deterministic estimate: the same number every round (docs/architecture.md §5).
TIMING = BACKEND.timing
INTERVAL = "exact model: a deterministic estimate, identical in every round (zero-width interval)"
#: Runtime options taken and ignored: ``profile`` (``run --profile``): the estimate is per layer anyway.
ACCEPTED_OPTIONS = ("profile",)


class VelaEstimateRuntime(HostRuntime):
    """Vela's performance estimate of each compiled point (see the module docstring)."""

    name = BACKEND.runtime

    def __init__(self, transport: Any, device: Any) -> None:
        super().__init__(transport, device)
        self.settings = resolve_settings(BACKEND.toolchain or "vela", DEFAULTS, device=device)
        self.config = config_from(self.settings)
        self.compiler = VelaCompiler(self.config, self.settings)
        self._version: str | None = None

    @property
    def label(self) -> str:
        return accelerator_label(self.config.accelerator)

    def check_options(self) -> None:
        """The estimate has no runtime options (threads, affinity and delegates do not apply) but ``profile``."""
        options = {k: v for k, v in self.device.runtime.adapter_options().items() if k not in ACCEPTED_OPTIONS}
        if options:
            key = sorted(options)[0]
            raise ConfigError(f"the vela runtime takes no runtime options ({key!r} given): the accelerator, system "
                              "config and memory mode are toolchain.vela settings", field=f"runtime.{key}", value=key,
                              expected="no runtime options; set toolchain.vela.accelerator_config etc.")

    def version(self) -> str | None:
        if self._version is None:
            self._version = self.compiler.version() or ""
        return self._version or None

    def npu(self) -> dict[str, Any]:
        """The modelled NPU: accelerator, system config, memory mode, clock (from the .ini where readable)."""
        clock = core_clock_hz(self.config, self.settings)
        return {**self.config.to_dict(), "core_clock_hz": clock, "vela": self.version(),
                "label": f"Arm {self.label} (Vela performance model)"}

    def hello(self) -> dict[str, Any]:
        """The agent's handshake, for a performance model running on the controller."""
        return {"type": "hello", "protocol": PROTOCOL_VERSION, "agent_version": f"{AGENT_VERSION}+{self.name}",
                "python": platform.python_version(), "runtimes": {self.name: self.version() or "missing"},
                "cpu_model": self.npu()["label"], "arch": self.config.accelerator, "os": None,
                "hostname": socket.gethostname(), "device_model": self.label}

    def probe_environment(self) -> dict[str, Any]:
        """The controller (where Vela runs) with the modelled NPU: no silicon, so no clocks or temperatures of it."""
        host = probe_environment(list(BACKEND.version_modules))
        npu = self.npu()
        clock = npu["core_clock_hz"]
        return {**host, "cpu_model": npu["label"], "host_cpu_model": host.get("cpu_model"), "governor": None,
                "cpu_freq_mhz": None, "temperatures_c": {}, "device_model": self.label, "npu": npu,
                "npu_clock_mhz": clock / 1e6 if clock else None, "timing": TIMING}

    def op_profile(self, layers: list[LayerEstimate], network: NetworkEstimate) -> dict[str, Any]:
        """The NPU rows as a per-op profile (µs per operator at the clock; estimated, not measured)."""
        rows = [{"name": r.name, "type": r.original_op if r.nng_op == r.original_op else f"{r.original_op}/{r.nng_op}",
                 "time_us": (r.op_cycles or 0) / network.core_clock_hz * 1e6, "provider": f"vela:{network.accelerator}",
                 "exec_type": r.nng_op, "macs": r.macs, "mac_util_pct": r.mac_util_pct}
                for r in layers if r.target == "NPU"]
        cpu = sum(r.target == "CPU" for r in layers)
        note = ("Vela's estimate per operator at the configured clock (estimated, not measured)"
                + (f"; {cpu} operator(s) on the CPU have no estimate" if cpu else ""))
        return op_profile(rows, f"Vela {self.version() or '?'} performance model (per-layer CSV)", 1, note=note)

    def run_job(self, job: dict[str, Any], workdir: str, env: dict[str, str]) -> dict[str, Any]:
        """The estimate of one compiled point, from the Vela outputs beside its artifact."""
        started = utc_now()
        result: dict[str, Any] = {"type": "result", "job": job["job"], "started_at": started, "timing": TIMING}
        artifact = job.get("artifact")
        if not artifact:
            return {**result, "status": st.RUNTIME_ERROR,
                    "error": "vela: the job carries no artifact path; this runtime reads Vela's reports beside the "
                             "artifact on the controller (a host-driven runtime)"}
        folder = Path(artifact).parent
        try:
            network = parse_summary_csv((folder / SUMMARY_FILE).read_text())
            layers = parse_per_layer_csv((folder / LAYERS_FILE).read_text())
            log = parse_log((folder / LOG_FILE).read_text())
        except (OSError, ValueError) as exc:
            return {**result, "status": st.RUNTIME_ERROR, "error": f"vela: cannot read the compilation's reports "
                                                                   f"in {folder}: {exc}"}
        where = placement(layers, log, accelerator=self.label)
        info = {"samples_kind": "estimate", "interval": INTERVAL, "provider": f"vela:{network.accelerator}",
                "estimate_scope": "whole network" if where.status == st.OK else
                "NPU part only: Vela does not estimate operators left on the CPU",
                "estimate": network.to_dict(), "placement": where.to_dict(),
                "layers": [row.to_dict() for row in layers], "op_profile": self.op_profile(layers, network)}
        if where.status == st.UNSUPPORTED:
            return {**result, "status": st.UNSUPPORTED, "error": where.error, "info": info}
        if network.cycles_total <= 0:
            return {**result, "status": st.RUNTIME_ERROR, "info": info,
                    "error": f"vela: the estimate is {network.cycles_total} cycles (no timing from the model)"}
        return {**result, "status": where.status, "error": where.error, "samples_ms": [network.inference_ms],
                "loop_k": 1, "load_ms": None, "first_ms": None, "peak_rss_mb": None, "info": info}
