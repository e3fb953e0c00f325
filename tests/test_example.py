"""The Python example runs the main job end to end on the shipped Fashion-MNIST subset."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def run_example(name: str, out: Path) -> list[str]:
    """The lines the example prints, run on the shipped subset into ``out``."""
    subset = ROOT / "data" / "fashion-mnist-subset"
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / name), str(subset), str(out)],
        capture_output=True,
        text=True,
        timeout=900,
        check=True,
    )
    return done.stdout.strip().splitlines()


@pytest.mark.slow
def test_main_job_example_runs_on_the_shipped_subset(tmp_path):
    example = ROOT / "examples" / "main_job.py"
    assert len(example.read_text().splitlines()) <= 31  # the docstring and the job
    rows = [line.split() for line in run_example("main_job.py", tmp_path)]
    assert [r[0] for r in rows] == ["all", "all+search", "phi+onset"]
    for _, steps, accuracy in rows:
        assert steps == "None" or 1 <= int(steps) <= 60
        assert 0.5 < float(accuracy) <= 1.0  # a trained network, not chance
    assert (tmp_path / "latency" / "phi+onset.snn.h5").is_file()


@pytest.mark.slow
def test_own_model_example_converts_a_users_residual_network(tmp_path):
    lines = run_example("own_model.py", tmp_path)
    ann = float(lines[0].split()[1].rstrip(";"))
    assert ann > 0.6  # trained, not chance
    assert lines[1] == "the last block sums ['blocks.2.conv1', 'blocks.1.conv2']"
    for line, delay in zip(lines[2:4], ("layer", "none"), strict=True):
        words = line.split()
        assert words[:2] == ["delay", f"{delay}:"]
        assert float(words[3]) >= ann - 0.02  # the SNN at T = 100 near its ANN
    # the user's own loop through the module answers as simulate() without the delay
    assert lines[4] == f"own loop: {lines[3].split()[3]} at T=100"
    assert lines[5] == "loaded in a new process: True"
    assert (tmp_path / "resnet.nir").is_file()
    words = lines[6].split()  # the recipe reaches ANN - 1% sooner than the uniform baseline
    assert words[:5] == ["with", "the", "layer", "delay,", "ANN-1%"]
    recipe = int(words[9])
    assert words[7] == "None" or recipe < int(words[7].rstrip(","))
    assert (tmp_path / "accuracy.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.slow
def test_getting_started_runs_as_its_page_shows_it(tmp_path):
    lines = run_example("getting_started.py", tmp_path)
    ann = float(lines[0].split()[2])
    assert ann > 0.6
    assert lines[1].startswith("layers ['0', '3', '7'] thresholds")
    layer, none, recipe = (float(re.search(r"t=5 ([0-9.]+),", line)[1]) for line in lines[2:5])
    assert layer < none - 0.1  # the delay: the input has not reached the output at t = 5
    assert recipe >= none - 0.02  # the recipe: the undelayed accuracy despite the delay
    assert lines[5] == "loaded back: True phi=0.5+onset" and lines[6] == "NIR layers: 3"
