"""What Vela writes about one compiled network, parsed: placement and its performance estimate.

Vela (``ethos-u-vela`` 5.x, run with ``--verbose-performance``) leaves three things in its
output folder that this backend keeps beside the compiled model in the artifact cache:

* ``<name>_summary_<system config>.csv`` (kept as :data:`SUMMARY_FILE`): one row per network:
  ``accelerator_configuration``, ``system_config``, ``memory_mode``, ``core_clock`` (Hz),
  ``cycles_npu``, ``cycles_total``, ``cycles_sram_access``, ``cycles_off_chip_flash_access``, ...,
  ``inference_time`` (s, = ``cycles_total / core_clock``), ``inferences_per_second``, design peak
  bandwidths (GB/s), bytes read/written per memory, ``sram_memory_used`` (KiB), ``nn_macs``;
* ``<name>_per-layer.csv`` (:data:`LAYERS_FILE`): one row per operator Vela scheduled
  (``Original Operator`` the TFLite op, ``NNG Operator`` what Vela lowered it to, ``Target``
  ``NPU`` or ``CPU``, ``Op Cycles``, ``NPU`` cycles, memory access cycles, ``MAC Count``,
  ``Util% (MAC)``, ``Name`` the output tensor). One TFLite op may become several rows
  (a PAD is five ``MemoryCopy`` rows); an op left on the CPU is one ``Passthrough`` row;
* its console output (:data:`LOG_FILE`), where each op it leaves on the CPU is explained::

      Warning (supported operators) operator: DEPTHWISE_CONV_2D, ofm: 'PartitionedCall:0'
      Reason: Unsupported kernel stride: 4, 4
      Kernel stride must be in the range (1,3).

  and a failed compilation ends in a Python traceback (``RuntimeError: Non-passthrough
  operation (Conv2D) could not run on NPU``).

:func:`placement` turns rows and warnings into our statuses: every row on the NPU → ``ok``;
some on the CPU → ``fallback`` with the CPU ops and Vela's reasons; none on the NPU →
``unsupported``. The estimate covers what runs on the NPU only: Vela has no model of the
Cortex-M (or host) CPU that runs the rest.
"""

from __future__ import annotations

import csv
import io
import math
import re
from dataclasses import asdict, dataclass, field
from typing import Any

from suite import status as st

#: Names of Vela's outputs inside an artifact's cache entry, beside the compiled model.
SUMMARY_FILE = "vela_summary.csv"
LAYERS_FILE = "vela_per-layer.csv"
LOG_FILE = "vela.log"
COMPONENT = "ethos-u-vela"

_WARNING = re.compile(r"^Warning \(supported operators\) operator: (\S+?), ofm: '(.*)'\s*$")
_DEFAULT_WARNING = re.compile(r"^Warning: No (configuration file|system configuration|memory mode) specified")
_EXCEPTION = re.compile(r"^([A-Za-z_][\w.]*(?:Error|Exception)): (.+)$")

#: Per-layer CSV column → our field name (Vela 5.2 header).
LAYER_COLUMNS = {
    "Original Operator": "original_op", "NNG Operator": "nng_op", "Target": "target",
    "Staging Usage": "staging_usage", "Peak% (Staging)": "peak_staging_pct", "Op Cycles": "op_cycles",
    "Network% (cycles)": "network_cycles_pct", "NPU": "npu_cycles", "SRAM AC": "sram_access_cycles",
    "DRAM AC": "dram_access_cycles", "OnFlash AC": "on_chip_flash_access_cycles",
    "OffFlash AC": "off_chip_flash_access_cycles", "MAC Count": "macs", "Network% (MAC)": "network_macs_pct",
    "Util% (MAC)": "mac_util_pct", "Name": "name",
}
_TEXT_FIELDS = ("original_op", "nng_op", "target", "name")
#: Summary CSV columns copied into the estimate record (the rest stays in the file).
SUMMARY_FIELDS = (
    "accelerator_configuration", "system_config", "memory_mode", "core_clock", "arena_cache_size",
    "inference_time", "inferences_per_second", "cycles_npu", "cycles_sram_access", "cycles_dram_access",
    "cycles_on_chip_flash_access", "cycles_off_chip_flash_access", "cycles_total", "nn_macs",
    "sram_bandwidth", "dram_bandwidth", "off_chip_flash_bandwidth", "weights_storage_area",
    "feature_map_storage_area", "sram_memory_used", "dram_memory_used", "off_chip_flash_memory_used",
    "sram_total_bytes", "dram_total_bytes", "off_chip_flash_total_bytes", "total_original_weights",
    "total_npu_encoded_weights", "passes_after_fusing",
)


def _value(text: str) -> Any:
    """A CSV cell as int, float (``nan`` → ``None``) or the string."""
    text = text.strip()
    try:
        return int(text)
    except ValueError:
        pass
    try:
        number = float(text)
    except ValueError:
        return text
    return None if math.isnan(number) else number


@dataclass(frozen=True)
class LayerEstimate:
    """One row of Vela's per-layer CSV (cycles at the configured clock; percentages 0-100)."""

    original_op: str
    nng_op: str
    target: str
    op_cycles: int | None = None
    npu_cycles: int | None = None
    sram_access_cycles: int | None = None
    dram_access_cycles: int | None = None
    on_chip_flash_access_cycles: int | None = None
    off_chip_flash_access_cycles: int | None = None
    macs: int | None = None
    mac_util_pct: float | None = None
    network_cycles_pct: float | None = None
    network_macs_pct: float | None = None
    staging_usage: int | None = None
    peak_staging_pct: float | None = None
    name: str = ""

    def __post_init__(self) -> None:
        if self.target not in ("NPU", "CPU"):
            raise ValueError(f"LayerEstimate.target must be NPU or CPU, got {self.target!r}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def parse_per_layer_csv(text: str) -> list[LayerEstimate]:
    """Rows of ``<name>_per-layer.csv``; a header Vela did not write raises ``ValueError``."""
    reader = csv.DictReader(io.StringIO(text))
    header = reader.fieldnames or []
    missing = [c for c in ("Original Operator", "Target", "Op Cycles") if c not in header]
    if missing:
        raise ValueError(f"not a Vela per-layer CSV: no column {missing[0]!r} (header: {', '.join(header)[:200]})")
    rows = []
    for raw in reader:
        values: dict[str, Any] = {}
        for column, name in LAYER_COLUMNS.items():
            if column not in raw or raw[column] is None:
                continue
            values[name] = raw[column].strip() if name in _TEXT_FIELDS else _value(raw[column])
        for name in ("op_cycles", "npu_cycles", "sram_access_cycles", "dram_access_cycles",
                     "on_chip_flash_access_cycles", "off_chip_flash_access_cycles", "macs", "staging_usage"):
            if isinstance(values.get(name), float):
                values[name] = int(values[name])
        rows.append(LayerEstimate(**values))
    return rows


@dataclass(frozen=True)
class NetworkEstimate:
    """Vela's estimate for one network (its summary CSV): cycles, time at the clock, traffic."""

    accelerator: str
    system_config: str
    memory_mode: str
    core_clock_hz: float
    cycles_total: int
    cycles_npu: int
    summary: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.core_clock_hz > 0:
            raise ValueError(f"NetworkEstimate.core_clock_hz must be > 0, got {self.core_clock_hz!r}")
        if self.cycles_total < 0 or self.cycles_npu < 0:
            raise ValueError(f"NetworkEstimate cycles must be >= 0, got {self.cycles_total}, {self.cycles_npu}")

    @property
    def inference_ms(self) -> float:
        """Estimated time of one inference on the NPU at the configured clock, in ms."""
        return self.cycles_total / self.core_clock_hz * 1e3

    def bandwidth_gbps(self, memory: str) -> float | None:
        """Average bandwidth the estimate implies on ``memory`` (``sram``, ``dram``, ``off_chip_flash``), in
        GB/s (10^9 bytes/s; Vela's console prints MiB per ms under the same name, 4.9 % lower)."""
        total = self.summary.get(f"{memory}_total_bytes")
        if not isinstance(total, (int, float)) or self.cycles_total <= 0:
            return None
        return total / (self.inference_ms / 1e3) / 1e9

    def to_dict(self) -> dict[str, Any]:
        return {"accelerator": self.accelerator, "system_config": self.system_config,
                "memory_mode": self.memory_mode, "core_clock_hz": self.core_clock_hz,
                "cycles_total": self.cycles_total, "cycles_npu": self.cycles_npu,
                "inference_ms": self.inference_ms,
                "avg_bandwidth_gbps": {m: self.bandwidth_gbps(m) for m in ("sram", "dram", "off_chip_flash")},
                "summary": dict(self.summary)}


def parse_summary_csv(text: str) -> NetworkEstimate:
    """The one network row of ``<name>_summary_<system>.csv``; a file Vela did not write raises ``ValueError``."""
    rows = list(csv.DictReader(io.StringIO(text)))
    if len(rows) != 1:
        raise ValueError(f"a Vela summary CSV has one network row, this one has {len(rows)}")
    row = {k.strip(): _value(v) for k, v in rows[0].items() if k is not None and v is not None}
    missing = [c for c in ("core_clock", "cycles_total", "cycles_npu", "accelerator_configuration") if c not in row]
    if missing:
        raise ValueError(f"not a Vela summary CSV: no column {missing[0]!r}")
    return NetworkEstimate(accelerator=str(row["accelerator_configuration"]), system_config=str(row.get("system_config")),
                           memory_mode=str(row.get("memory_mode")), core_clock_hz=float(row["core_clock"]),
                           cycles_total=int(row["cycles_total"]), cycles_npu=int(row["cycles_npu"]),
                           summary={k: row[k] for k in SUMMARY_FIELDS if k in row})


@dataclass(frozen=True)
class CpuOperator:
    """An operator Vela leaves on the CPU, with its reason (``Reason:`` and the constraint after it)."""

    operator: str
    ofm: str
    reason: str
    constraint: str = ""

    def describe(self) -> str:
        return f"{self.operator} '{self.ofm}' ({self.reason})"


@dataclass(frozen=True)
class VelaLog:
    """What Vela's console output says: the ops it leaves on the CPU, warnings, a failure."""

    cpu_operators: tuple[CpuOperator, ...] = ()
    default_config_warnings: tuple[str, ...] = ()
    failure: str | None = None


def parse_log(text: str) -> VelaLog:
    """Parse Vela's stdout+stderr: ``Warning (supported operators)`` blocks and a final exception."""
    lines = text.splitlines()
    cpu: list[CpuOperator] = []
    defaults = [ln.strip() for ln in lines if _DEFAULT_WARNING.match(ln.strip())]
    i = 0
    while i < len(lines):
        m = _WARNING.match(lines[i].strip())
        if not m:
            i += 1
            continue
        reason, constraint = "", []
        j = i + 1
        if j < len(lines) and lines[j].startswith("Reason:"):
            reason = lines[j][len("Reason:"):].strip()
            j += 1
            while j < len(lines) and lines[j].strip() and not _WARNING.match(lines[j].strip()):
                constraint.append(lines[j].strip())
                j += 1
        cpu.append(CpuOperator(m.group(1), m.group(2), reason or "no reason printed", " ".join(constraint)))
        i = j
    failure = None
    for line in reversed(lines):
        m = _EXCEPTION.match(line.strip())
        if m:
            failure = f"{m.group(1).rsplit('.', 1)[-1]}: {m.group(2).strip(chr(39))}"
            break
    return VelaLog(cpu_operators=tuple(dict.fromkeys(cpu)), default_config_warnings=tuple(defaults), failure=failure)


@dataclass(frozen=True)
class Placement:
    """Where Vela put a network's operators, and the status that follows."""

    npu_rows: int
    cpu_rows: int
    tflite_ops: int | None
    cpu_operators: tuple[CpuOperator, ...]
    accelerator: str

    @property
    def status(self) -> str:
        if self.npu_rows == 0:
            return st.UNSUPPORTED
        return st.FALLBACK if self.cpu_rows or self.cpu_operators else st.OK

    @property
    def error(self) -> str | None:
        """The status text: which ops stay on the CPU and why (``None`` when all run on the NPU)."""
        if self.status == st.OK:
            return None
        ops = "; ".join(op.describe() for op in self.cpu_operators) or f"{self.cpu_rows} operator(s)"
        if self.status == st.UNSUPPORTED:
            return f"{COMPONENT}: no operator runs on the {self.accelerator} NPU: {ops}"
        count = len(self.cpu_operators) or self.cpu_rows
        return (f"{COMPONENT}: {count} TFLite operator(s) stay on the CPU: {ops}; "
                "the estimate covers the NPU part only")

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status, "error": self.error, "npu_rows": self.npu_rows, "cpu_rows": self.cpu_rows,
                "tflite_ops": self.tflite_ops,
                "cpu_ops": [{"operator": c.operator, "ofm": c.ofm, "reason": c.reason, "constraint": c.constraint}
                            for c in self.cpu_operators]}


def placement(layers: list[LayerEstimate], log: VelaLog, *, accelerator: str,
              tflite_ops: int | None = None) -> Placement:
    """Placement of one compiled network from its per-layer rows and Vela's warnings.

    The rows decide the status (any NPU row: it runs there); the warnings give the CPU ops
    by their TFLite names and Vela's reasons. A CPU row without a warning is listed by its
    per-layer name.
    """
    cpu_rows = [r for r in layers if r.target == "CPU"]
    cpu_ops = list(log.cpu_operators)
    if cpu_rows and not cpu_ops:
        cpu_ops = [CpuOperator(r.original_op, r.name, "left on the CPU (Vela printed no reason)") for r in cpu_rows]
    return Placement(npu_rows=len(layers) - len(cpu_rows), cpu_rows=len(cpu_rows), tflite_ops=tflite_ops,
                     cpu_operators=tuple(cpu_ops), accelerator=accelerator)
