"""benchmark_model command lines: protocol settings and delegate options as quoted flags."""

from __future__ import annotations

import shlex

import pytest

from suite.agent.protocol import ProtocolSettings
from suite.backends.benchmark_model.flags import benchmark_model_args, benchmark_model_command
from suite.errors import ConfigError

PROTO = ProtocolSettings(warmup_runs=2, warmup_s=0.5, min_runs=50, min_s=1.0, max_s=5.0)


def test_protocol_maps_to_run_flags() -> None:
    args = benchmark_model_args("/data/local/tmp/m.tflite", PROTO, {"threads": 4})
    assert args == ["benchmark_model", "--graph=/data/local/tmp/m.tflite", "--num_runs=50", "--min_secs=1.0",
                    "--max_secs=5.0", "--warmup_runs=2", "--warmup_min_secs=0.5", "--num_threads=4"]


def test_gpu_nnapi_hexagon_and_profiling_flags() -> None:
    gpu = benchmark_model_args("m.tflite", PROTO, {"gpu": True, "gpu_precision_loss_allowed": False,
                                                   "op_profiling": True})
    assert gpu[-3:] == ["--use_gpu=true", "--gpu_precision_loss_allowed=false", "--enable_op_profiling=true"]
    nnapi = benchmark_model_args("m.tflite", PROTO, {"nnapi_accelerator_name": "qti-dsp", "nnapi_allow_fp16": True})
    assert nnapi[-3:] == ["--use_nnapi=true", "--nnapi_accelerator_name=qti-dsp", "--nnapi_allow_fp16=true"]
    assert benchmark_model_args("m.tflite", PROTO, {"hexagon": True, "xnnpack": False})[-2:] == [
        "--use_xnnpack=false", "--use_hexagon=true"]


def test_external_delegate_options_are_joined_and_quoted() -> None:
    opts = {"external_delegate_path": "/data/local/tmp/libQnnTFLiteDelegate.so",
            "external_delegate_options": {"backend_type": "htp", "log level": 1, "profiling": True}}
    cmd = benchmark_model_command("/data/local/tmp/my model.tflite", PROTO, opts, binary="/data/local/tmp/bm")
    args = shlex.split(cmd)
    assert args[0] == "/data/local/tmp/bm"
    assert "--graph=/data/local/tmp/my model.tflite" in args
    assert args[-1] == "--external_delegate_options=backend_type:htp;log level:1;profiling:true"
    assert "'--external_delegate_options=backend_type:htp;log level:1;profiling:true'" in cmd


def test_nothing_reaches_the_shell_unquoted() -> None:
    cmd = benchmark_model_command("m.tflite; rm -rf /", PROTO, {"nnapi_accelerator_name": "$(reboot)"})
    assert shlex.split(cmd)[1] == "--graph=m.tflite; rm -rf /"
    assert "'--nnapi_accelerator_name=$(reboot)'" in cmd


@pytest.mark.parametrize("options,match", [
    ({"use_gpu": True}, "unknown benchmark_model option 'use_gpu'"),
    ({"gpu": True, "hexagon": True}, "one accelerator delegate per run"),
    ({"external_delegate_options": {"a": 1}}, "without external_delegate_path"),
    ({"external_delegate_path": "d.so", "external_delegate_options": {"a": "x;y"}}, "cannot contain ';'"),
    ({"extra_flags": ["max_delegated_partitions=2"]}, "must start with --"),
])
def test_bad_options_are_config_errors(options: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        benchmark_model_args("m.tflite", PROTO, options)


def test_extra_flags_pass_through() -> None:
    args = benchmark_model_args("m.tflite", PROTO, {"extra_flags": ["--max_delegated_partitions=2"]})
    assert args[-1] == "--max_delegated_partitions=2"
