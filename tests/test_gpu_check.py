"""scripts/gpu_check.sh keeps working: its --tiny mode runs every step on CPU at toy sizes and
writes the files the GPU run would."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_gpu_check_tiny_runs_every_step_and_summarises(tmp_path):
    out = tmp_path / "check"
    env = {**os.environ, "PYTHON": sys.executable}
    done = subprocess.run(
        ["bash", str(ROOT / "scripts" / "gpu_check.sh"), "--tiny", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["device"]["torch"]
    assert summary["tests"]["tests"] >= 5  # the CUDA tests were collected (skipped on CPU)
    for batch in ("2", "4"):
        rates = summary["bench"][batch]["img_steps_per_s"]
        assert {"reference", "fast", "fast-bf16", "step", "ceiling", "compiled"} <= rates.keys()
        assert summary["bench"][batch]["agreement"]["fast"] == 1.0  # spike-exact with bindsnet
        resnet = summary["bench_resnet"][batch]
        assert {"fast", "step", "ceiling", "compiled"} <= resnet["img_steps_per_s"].keys()
        assert resnet["agreement"]["fast"] == 1.0
        assert {"at_ceiling", "not_slower_than_step"} <= resnet.keys()
    assert summary["generation"]["images"] == 8
    for name in ("device", "tests", "bench", "bench_resnet", "generation", "summary"):
        assert (out / f"{name}.log").is_file()
