"""Smoke tests of `python -m graphc bench` (timings are printed, never asserted)."""
from __future__ import annotations

import json
import subprocess
import sys

import graphc.cli.bench as bench


def test_bench_quick_inference_table_and_ratios():
    report = bench.run(quick=True, frameworks=False, only="infer")
    names = {(r.workload, r.contender) for r in report.results}
    assert ("infer fp32 784-128-10 b1", "graphc llvm") in names
    assert ("infer fp32 784-128-10 b64", "numpy (hand-written)") in names
    for r in report.results:
        assert r.best_us is not None and r.best_us > 0 and r.median_us >= r.best_us
    text = bench.table(report)
    assert "vs graphc llvm" in text and "1.00x" in text and "machine:" in text


def test_bench_cli_writes_json(tmp_path):
    out = tmp_path / "bench.json"
    proc = subprocess.run([sys.executable, "-m", "graphc", "bench", "--quick", "--no-frameworks",
                           "--only", "sgemm", "--json", str(out)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(out.read_text())
    assert data["machine"]["cores"] >= 1
    contenders = {r["contender"] for r in data["results"] if r["workload"] == "sgemm 256"}
    assert {"graphc llvm", "graphc interpreter", "numpy (OpenBLAS)"} <= contenders
    assert "sgemm 256" in proc.stdout
