import re
import subprocess

import pytest

from suite.analysis import detect_all
from suite.analysis.synthetic import study_frame
from suite.report import write_report
from tests.report.browser import FLAGS, browser

MANIFEST = {"run_id": "run-<1>", "device": "rk3588-npu", "environment": {"os": "Linux 6.1 <script>alert(1)</script>",
                                                                            "governor": "performance"},
            "protocol": {"min_runs": 50, "min_s": 1.0, "warmup_runs": 1}, "seed": 42}


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    df = study_frame(600, seed=2)
    anomalies = detect_all(df)
    out = tmp_path_factory.mktemp("report")
    paths = write_report(df, anomalies, out, manifests=[MANIFEST], max_figures=4)
    return paths, anomalies


def test_writes_both_files_with_figures(report):
    paths, anomalies = report
    html = paths["html"].read_text()
    md = paths["md"].read_text()
    assert html.startswith("<!DOCTYPE html>") and '<svg aria-label=' in html and 'class="figure"' in html
    latency = html.count('<figure class="plot" data-kind="latency"')
    assert latency == 4  # max_figures
    images = re.findall(r"!\[[^\]]*\]\(([^)]+\.svg)\)", md)
    assert len(images) == html.count('<figure class="plot"') > latency
    for name in images:  # each a standalone SVG file beside the Markdown
        text = (paths["md"].parent / name).read_text()
        assert text.startswith("<svg ") and 'xmlns="http://www.w3.org/2000/svg"' in text
    assert anomalies[0].message.split(";")[0].replace("<", "&lt;") in html
    assert "## Findings" in md and "| F1 |" in md
    # Markdown, too, opens with the findings and the figures; the anomaly list comes after them
    assert md.index("## Findings") < md.index("## Figures") < md.index(f"]({images[0]})") < md.index("## Anomalies")


def test_html_escapes_text_and_has_no_external_resources(report):
    html = report[0]["html"].read_text()
    assert "<script" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "run-&lt;1&gt;" in html
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html)
    assert "<link" not in html


def test_report_renders_in_headless_chromium_without_console_errors(report, tmp_path):
    shot = tmp_path / "shot.png"
    cmd = [browser(), *FLAGS, f"--user-data-dir={tmp_path / 'profile'}",
           "--enable-logging=stderr", "--v=0", f"--screenshot={shot}", "--window-size=1280,2000",
           report[0]["html"].resolve().as_uri()]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-2000:]
    assert shot.is_file() and shot.stat().st_size > 10_000
    bad = [line for line in log.splitlines() if "Uncaught" in line or "ERROR:CONSOLE" in line]
    assert not bad, bad
