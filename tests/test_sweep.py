"""A latency sweep on a Ray cluster that the test starts (``ray start --head``, a fake GPU):
two checkpoints × two recipes run as Ray tasks give the local run's figures exactly; a driver
stopped half-way resumes, sending only the unfinished units; a worker killed mid-task is
replaced and its unit runs again."""

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

ray = pytest.importorskip("ray")

from neurosnn.experiments import latency, train_ann  # noqa: E402

pytestmark = pytest.mark.slow
RECIPES = "all,phi+onset"


def _train(out: Path, seed: int) -> None:
    args = ["--dataset", "synthetic", "--net", "vgg5", "--option", "width=0.125"]
    args += ["--epochs", "2", "--batch-size", "32", "--lr", "0.05", "--seed", str(seed)]
    assert train_ann.main([*args, "--out", str(out), "--no-progress"]) == 0


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    root = tmp_path_factory.mktemp("ckpt")
    for seed in (0, 1):
        _train(root / f"s{seed}", seed)
    return [root / "s0", root / "s1"]


@pytest.fixture(scope="module")
def cluster():
    """A one-node Ray cluster of 2 CPUs and one (fake) GPU, without token authentication."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "RAY_AUTH_MODE": "disabled"}
    start = ["ray", "start", "--head", f"--port={port}", "--num-cpus=2", "--num-gpus=1"]
    start += ["--include-dashboard=false", "--disable-usage-stats"]
    ray_bin = Path(sys.executable).with_name("ray")
    start[0] = str(ray_bin)
    subprocess.run(start, env=env, check=True, capture_output=True, timeout=120)
    old = os.environ.get("RAY_AUTH_MODE")
    os.environ["RAY_AUTH_MODE"] = "disabled"
    try:
        yield f"127.0.0.1:{port}"
    finally:
        subprocess.run([str(ray_bin), "stop", "--force"], env=env, capture_output=True)
        if old is None:
            os.environ.pop("RAY_AUTH_MODE", None)
        else:
            os.environ["RAY_AUTH_MODE"] = old


def _sweep(checkpoints, out: Path, *extra: str) -> dict:
    args = [a for c in checkpoints for a in ("--checkpoint", str(c))]
    args += ["--recipes", RECIPES, "--timesteps", "12", "--long-horizon", "2"]
    args += ["--test-images", "32", "--calib-images", "64", "--no-progress", "--out", str(out)]
    assert latency.main([*args, *extra]) == 0
    summary = json.loads((out / "latency.json").read_text())
    return {"checkpoints": summary["checkpoints"], "aggregate": summary["aggregate"]}


def test_a_sweep_on_a_cluster_gives_the_local_figures_and_resumes(tmp_path, checkpoints, cluster):
    local = _sweep(checkpoints, tmp_path / "local")
    on_ray = ["--ray", cluster, "--gpus-per-task", "0.5"]
    assert _sweep(checkpoints, tmp_path / "ray", *on_ray) == local
    log = (tmp_path / "ray" / "latency.log").read_text()
    assert log.count("ray unit ") == 4 and "ray unit 4/4" in log
    assert "(cpu, GPU 0)" in log  # Ray gave each task its share of the GPU; no CUDA: the CPU
    for suffix in (".h5", ".snn.h5"):  # a driver stopped before this unit came back
        (tmp_path / "ray" / "s1" / f"phi+onset{suffix}").unlink()
    assert _sweep(checkpoints, tmp_path / "ray", *on_ray) == local
    resumed = (tmp_path / "ray" / "latency.log").read_text()[len(log) :]
    assert "ray: 1 units" in resumed and "s0 / all: finished" in resumed


def _kill_a_running_unit(killed: list) -> None:
    """SIGKILL the first Ray worker seen running a unit (its process title ``ray::run_unit``)."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not killed:
        for proc in Path("/proc").iterdir():
            try:
                title = (proc / "cmdline").read_bytes().replace(b"\0", b" ")
            except (OSError, ValueError):
                continue
            if proc.name.isdigit() and title.startswith(b"ray::run_unit"):
                os.kill(int(proc.name), signal.SIGKILL)
                killed.append(int(proc.name))
                return
        time.sleep(0.05)


def test_a_worker_killed_mid_unit_is_replaced_and_the_figures_hold(tmp_path, checkpoints, cluster):
    local = _sweep(checkpoints[:1], tmp_path / "local")
    killed: list[int] = []
    killer = threading.Thread(target=_kill_a_running_unit, args=(killed,))
    killer.start()
    figures = _sweep(checkpoints[:1], tmp_path / "ray", "--ray", cluster)
    killer.join()
    assert killed, "no unit was seen running"
    assert figures == local
