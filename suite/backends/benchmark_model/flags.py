"""Command lines for TFLite's ``benchmark_model`` (the output parser is :mod:`.parser`).

:func:`benchmark_model_args` maps our protocol (docs/architecture.md §5) and the device's runtime
options onto the tool's flags; :func:`benchmark_model_command` quotes every argument
(``shlex.quote``) for a remote shell (``adb shell``, ssh).

Protocol → flags: ``min_runs`` → ``--num_runs``, ``min_s`` → ``--min_secs``, ``max_s`` →
``--max_secs``, ``warmup_runs`` → ``--warmup_runs``, ``warmup_s`` → ``--warmup_min_secs``
(the tool, like us, runs until both the count and the time are met; ``max_runs`` has no
flag). Runtime options: ``threads``, ``xnnpack`` (bool), ``gpu`` (bool) with
``gpu_precision_loss_allowed``, ``nnapi`` (bool) with ``nnapi_accelerator_name``,
``nnapi_allow_fp16``, ``hexagon`` (bool), ``external_delegate_path`` with
``external_delegate_options`` (a mapping, written ``key:value;key:value``),
``op_profiling`` (bool; alias ``profile``: a separate profiling run after the timed one, see
:mod:`.runtime`), ``extra_flags`` (a list of ``--flag=value`` strings, passed as given).
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from typing import Any

from suite.agent.protocol import ProtocolSettings
from suite.errors import ConfigError

#: Runtime option names this module reads (anything else is an error, with this list).
OPTIONS = ("threads", "affinity", "xnnpack", "gpu", "gpu_precision_loss_allowed", "nnapi",
           "nnapi_accelerator_name", "nnapi_allow_fp16", "hexagon", "external_delegate_path",
           "external_delegate_options", "op_profiling", "profile", "extra_flags", "binary", "providers")


def _flag(name: str, value: Any) -> str:
    if isinstance(value, bool):
        value = "true" if value else "false"
    return f"--{name}={value}"


def delegate_options_text(options: Mapping[str, Any]) -> str:
    """``--external_delegate_options`` value: ``key:value`` pairs joined by ``;``.

    A key or value holding ``;`` (or a key holding ``:``) would change the meaning, so it is refused.
    """
    parts = []
    for key, value in options.items():
        text = "true" if value is True else "false" if value is False else str(value)
        if ";" in str(key) or ":" in str(key) or ";" in text:
            raise ConfigError("external delegate option cannot contain ';' (or ':' in its key)",
                              field="runtime.options.external_delegate_options", value=f"{key}: {text}",
                              expected="plain keys and values")
        parts.append(f"{key}:{text}")
    return ";".join(parts)


def benchmark_model_args(graph: str, protocol: ProtocolSettings, options: Mapping[str, Any] | None = None,
                         binary: str = "benchmark_model") -> list[str]:
    """Argument vector of one ``benchmark_model`` run of ``graph`` (not quoted)."""
    opts = dict(options or {})
    unknown = sorted(set(opts) - set(OPTIONS))
    if unknown:
        raise ConfigError(f"unknown benchmark_model option {unknown[0]!r}", field=f"runtime.options.{unknown[0]}",
                          value=unknown[0], expected="one of " + ", ".join(OPTIONS))
    args = [str(opts.get("binary") or binary), _flag("graph", graph),
            _flag("num_runs", protocol.min_runs), _flag("min_secs", protocol.min_s),
            _flag("max_secs", protocol.max_s), _flag("warmup_runs", protocol.warmup_runs),
            _flag("warmup_min_secs", protocol.warmup_s)]
    if opts.get("threads"):
        args.append(_flag("num_threads", int(opts["threads"])))
    if "xnnpack" in opts:
        args.append(_flag("use_xnnpack", bool(opts["xnnpack"])))
    if opts.get("gpu"):
        args.append(_flag("use_gpu", True))
        if "gpu_precision_loss_allowed" in opts:
            args.append(_flag("gpu_precision_loss_allowed", bool(opts["gpu_precision_loss_allowed"])))
    if opts.get("nnapi") or opts.get("nnapi_accelerator_name"):
        args.append(_flag("use_nnapi", True))
        if opts.get("nnapi_accelerator_name"):
            args.append(_flag("nnapi_accelerator_name", opts["nnapi_accelerator_name"]))
        if "nnapi_allow_fp16" in opts:
            args.append(_flag("nnapi_allow_fp16", bool(opts["nnapi_allow_fp16"])))
    if opts.get("hexagon"):
        args.append(_flag("use_hexagon", True))
    if opts.get("external_delegate_path"):
        args.append(_flag("external_delegate_path", opts["external_delegate_path"]))
        if opts.get("external_delegate_options"):
            args.append(_flag("external_delegate_options", delegate_options_text(opts["external_delegate_options"])))
    elif opts.get("external_delegate_options"):
        raise ConfigError("external_delegate_options without external_delegate_path",
                          field="runtime.options.external_delegate_options", expected="external_delegate_path too")
    accelerators = [n for n in ("gpu", "nnapi", "hexagon", "external_delegate_path") if opts.get(n)]
    if len(accelerators) > 1:
        raise ConfigError("benchmark_model applies one accelerator delegate per run",
                          field="runtime.options", value=accelerators, expected="one of " + ", ".join(accelerators))
    if opts.get("op_profiling"):
        args.append(_flag("enable_op_profiling", True))
    for extra in opts.get("extra_flags") or []:
        if not str(extra).startswith("--"):
            raise ConfigError("extra benchmark_model flags must start with --", field="runtime.options.extra_flags",
                              value=extra, expected="--name=value")
        args.append(str(extra))
    return args


def benchmark_model_command(graph: str, protocol: ProtocolSettings, options: Mapping[str, Any] | None = None,
                            binary: str = "benchmark_model") -> str:
    """The shell command line of :func:`benchmark_model_args`, every argument quoted."""
    return shlex.join(benchmark_model_args(graph, protocol, options, binary))
