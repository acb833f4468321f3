"""History steps over time (with what changed), the static site, and sustained mode."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from suite.cli.main import main
from suite.devices.config import Device
from suite.farm.history import device_history, history_steps
from suite.farm.sustain import point_for, read_sustain, run_sustain
from suite.models.cache import ArtifactCache
from suite.results.records import Measurement
from suite.results.statistics import summarize
from suite.results.store import RunWriter
from suite.testing.requirements import require


def write_run(root: Path, i: int, level_ms: dict[int, float], version: str) -> None:
    """One finished run of sweep ``s`` on device ``d`` at day ``i`` with the given point levels."""
    rng = np.random.default_rng(i)
    manifest = {"schema_version": 1, "run_id": f"run{i:02d}", "created_at": f"2026-01-{i + 1:02d}T00:00:00+00:00",
                "sweep_sha256": "x", "device_name": "d", "seed": 0, "repeat": 1, "protocol": {},
                "suite_version": version, "sweep": {"name": "s"}, "device": {"name": "d", "class": "cpu"},
                "runtime": "onnxruntime", "environment": {"controller": {"kernel": "6.1"}}}
    w = RunWriter(root / f"run{i:02d}", manifest)
    for cout, level in level_ms.items():
        samples = list(level * (1 + 0.002 * rng.standard_normal(30)))
        w.append(Measurement(run_id=f"run{i:02d}", job_id=f"p{cout}-onnx", sweep="s", device="d", device_class="cpu",
                             runtime="onnxruntime", format="onnx", point_id=f"p{cout}", config_id=f"c{cout}",
                             op="conv2d", dtype="fp32", params={"cout": cout}, macs=cout, flops=2 * cout,
                             param_count=cout, bytes_in=1, bytes_out=1, bytes_weights=1, status="ok",
                             started_at=manifest["created_at"], samples_ms=samples, stats=summarize(samples)))
    w.finalize()
    w.close()


def test_history_steps_detects_a_lasting_step_not_noise():
    y = np.array([1.0, 1.01, 0.99, 1.0, 1.3, 1.31, 1.29])
    assert history_steps(y, np.full(7, 0.01)) == [4]
    assert history_steps(np.array([1.0, 1.01, 0.99, 1.0]), np.full(4, 0.02)) == []


def test_history_reports_step_with_environment_difference(tmp_path, capsys):
    for i in range(6):
        write_run(tmp_path, i, {8: 1.0, 16: 2.0 if i < 3 else 2.6}, "0.1.0" if i < 3 else "0.2.0")
    histories, steps = device_history([tmp_path], "d", "s")
    assert len(histories) == 2 and len(steps) == 1
    s = steps[0]
    assert s.params == {"cout": 16} and s.before_run == "run02" and s.after_run == "run03"
    assert s.change == pytest.approx(0.3, abs=0.02) and s.direction == "slower"
    assert s.env_diff["suite_version"] == ["0.1.0", "0.2.0"]
    assert main(["history", "d", "--root", str(tmp_path), "--sweep", "s"]) == 0
    assert "1 step(s)" in capsys.readouterr().out
    assert main(["history", "d", "--root", str(tmp_path), "--json"]) == 0
    line = json.loads(capsys.readouterr().out.splitlines()[0])
    assert line["env_diff"]["suite_version"] == ["0.1.0", "0.2.0"] and line["direction"] == "slower"


def test_sustained_mode_stores_timestamped_samples(tmp_path, shared_cache):
    device = Device.model_validate({"name": "local", "class": "cpu", "runtime": {"threads": 1}})
    point = point_for("conv2d", {"cin": 8, "cout": 8, "resolution": 8})
    out = run_sustain(device, point, tmp_path / "sus", minutes=0.02, window_s=0.2, chunk_s=0.6,
                      cache=ArtifactCache(shared_cache))
    meta, df = read_sustain(out.out_dir)
    assert meta["status"] == "complete" and out.windows >= 2 and len(meta["windows"]) == out.windows
    assert df["t_s"].is_monotonic_increasing or (np.diff(df.groupby("window")["t_s"].max()) > 0).all()
    assert (df["latency_ms"] > 0).all() and "start" in meta["batches"][0]


def test_publish_site_is_browsable_offline(tmp_path, shared_cache):
    for i in range(4):
        write_run(tmp_path / "results", i, {8: 1.0, 16: 2.0 if i < 2 else 2.6}, "0.1.0")
    device = Device.model_validate({"name": "d", "class": "cpu", "runtime": {"threads": 1}})
    run_sustain(device, point_for("conv2d", {"cin": 8, "cout": 8, "resolution": 8}), tmp_path / "results" / "sus",
                minutes=0.01, window_s=0.2, chunk_s=0.4, cache=ArtifactCache(shared_cache))
    assert main(["publish", str(tmp_path / "results"), "--out", str(tmp_path / "site")]) == 0
    site = tmp_path / "site"
    index = (site / "index.html").read_text()
    page = (site / "devices/d.html").read_text()
    assert 'href="devices/d.html"' in index and "Latest findings" in index
    assert 'src="../img/' in page and "Steps over time (1)" in page and "Sustained" in page
    for text in (index, page):
        assert "http://" not in text and "https://" not in text  # nothing external
    for img in site.glob("img/*.png"):
        assert img.read_bytes()[:4] == b"\x89PNG"
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    require("chromium not installed (the site was written but not rendered)" if chromium is None else None,
            "apt-get install -y chromium")
    shot = tmp_path / "shot.png"
    subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--no-first-run",
                    f"--user-data-dir={tmp_path / 'chrome'}", f"--screenshot={shot}", "--window-size=1000,1400",
                    (site / "devices/d.html").as_uri()], capture_output=True, timeout=60)
    assert shot.exists() and shot.stat().st_size > 20_000  # a rendered page with images, not a blank one
