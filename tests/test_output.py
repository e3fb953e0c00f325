"""Output paths: a second writer is refused instead of corrupting the first, a killed holder
never blocks a new run, temporary files are unique per writer, and a full disk is one clear
error with nothing left behind."""

import errno
import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

from neurosnn.io.output import OutputInUse, atomic, exclusive, hold, lock_path, temporary
from neurosnn.io.record import RunWriter, read_run, write_arrays

HOLDER = textwrap.dedent(
    """
    import sys, time
    from neurosnn.io.output import exclusive
    with exclusive(sys.argv[1]):
        print("held", flush=True)
        time.sleep(60)
    """
)


@pytest.fixture
def tiny_result():
    from neurosnn.simulation.run import SimResult

    return SimResult(
        layer_names=["a", "out"],
        layer_shapes={"a": (4,), "out": (2,)},
        thresholds={"a": 1.0},
        timesteps=3,
        correct=torch.tensor([0, 1, 2]),
        spike_counts={"a": torch.tensor([0, 2, 3])},
        predictions=torch.tensor([0, 1]),
        labels=torch.tensor([0, 1]),
    )


@pytest.fixture
def holder():
    """Start a process that holds a path; yields a function path -> Popen."""
    procs = []

    def start(path):
        p = subprocess.Popen(
            [sys.executable, "-c", HOLDER, str(path)], stdout=subprocess.PIPE, text=True
        )
        assert p.stdout.readline().strip() == "held"
        procs.append(p)
        return p

    yield start
    for p in procs:
        p.kill()
        p.wait()


def test_second_writer_is_refused_and_first_file_survives(tmp_path, holder, tiny_result):
    out = tmp_path / "run.h5"
    writer = RunWriter(out, {"who": "first"})
    with writer:
        child = subprocess.run(
            [
                sys.executable,
                "-c",
                "import sys; from neurosnn.io.record import RunWriter\n"
                "with RunWriter(sys.argv[1], {'who': 'second'}): pass",
                str(out),
            ],
            capture_output=True,
            text=True,
        )
        assert child.returncode != 0 and "is in use by another run" in child.stderr
        assert f"pid {os.getpid()}" in child.stderr
        writer.write_result(tiny_result)
    run = read_run(out)  # the first run's file is complete and readable
    assert run.config == {"who": "first"} and run.timesteps == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.csv", "run.h5"]  # no lock, no .tmp


def test_folder_in_use_is_refused_by_a_command_before_any_work(tmp_path, holder):
    from neurosnn.experiments.neuroevolve import main

    out = tmp_path / "ne"
    holder(out)
    with pytest.raises(SystemExit, match=r"error: --out .*ne is in use by another run"):
        main(["--preset", "quick", "--checkpoint", str(tmp_path / "missing"), "--out", str(out)])
    assert not out.exists()  # refused before the checkpoint was even looked at


def test_killed_holder_releases_the_lock(tmp_path, holder):
    out = tmp_path / "folder"
    p = holder(out)
    with pytest.raises(OutputInUse):
        with exclusive(out):
            pass
    p.send_signal(signal.SIGKILL)
    p.wait()
    with exclusive(out):  # the kernel dropped the flock with the process
        assert lock_path(out).read_text().strip() == str(os.getpid())
    assert not lock_path(out).exists()


def test_exclusive_is_reentrant_within_a_process(tmp_path):
    with exclusive(tmp_path / "x"), exclusive(tmp_path / "x"):
        pass
    hold(tmp_path / "y")
    hold(tmp_path / "y")
    with exclusive(tmp_path / "y"):  # held by this process: nested, not refused
        pass


def test_temporary_names_are_unique_per_writer(tmp_path):
    names = {temporary(tmp_path / "a.h5") for _ in range(50)}
    assert len(names) == 50
    assert all(n.parent == tmp_path and n.name.startswith("a.h5.") for n in names)


def test_atomic_keeps_the_old_file_on_error_and_removes_its_temporary(tmp_path):
    path = tmp_path / "f.json"
    old = '{"old": 1}'
    path.write_text(old)
    with pytest.raises(RuntimeError):
        with atomic(path) as tmp:
            tmp.write_text("half")
            raise RuntimeError("interrupted")
    assert path.read_text() == old and sorted(p.name for p in tmp_path.iterdir()) == ["f.json"]


def test_full_disk_is_one_clear_error_and_leaves_nothing(tmp_path, monkeypatch):
    import h5py

    def no_space(self, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(h5py.Group, "create_dataset", no_space)
    with pytest.raises(OSError, match=r"disk full while writing .*a\.h5"):
        write_arrays(tmp_path / "a.h5", {"g": {"x": np.zeros(3)}}, {})
    assert list(tmp_path.iterdir()) == []

    def torch_no_space(obj, f, *args, **kwargs):
        open(f, "wb").write(b"partial")
        raise OSError(errno.ENOSPC, "No space left on device")

    from neurosnn.io.checkpoint import Checkpoint, save_checkpoint
    from neurosnn.networks import NetworkSpec

    monkeypatch.setattr(torch, "save", torch_no_space)
    ckpt = Checkpoint(NetworkSpec("vgg9", 10, 1, 28), {}, "mnist", (0.1,), (0.3,), 0)
    with pytest.raises(OSError, match="disk full while writing"):
        save_checkpoint(tmp_path / "ck.pt", ckpt)
    assert list(tmp_path.iterdir()) == []


def test_writers_stop_before_the_disk_is_full(tmp_path, monkeypatch, tiny_result):
    """HDF5 crashes once a write hit a full disk, so the writer must stop while the margin is
    left (measured on a 24 MiB tmpfs: `convert` ends with one line, rc 1, no file left; here
    the free space is patched)."""
    import shutil
    from collections import namedtuple

    from neurosnn.io import output

    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda p: usage(1 << 30, 0, output.SPACE_MARGIN))
    with pytest.raises(OSError, match=r"disk full while writing .*run\.h5: 16\.0 MiB free"):
        with RunWriter(tmp_path / "run.h5", {}) as writer:
            writer.write_spikes("a", 0, torch.zeros(3, 2, 4, dtype=torch.uint8), (32,))
    assert [p.name for p in tmp_path.iterdir()] == []


def test_a_full_disk_ends_a_command_with_one_line(tmp_path, monkeypatch):
    from neurosnn.io.output import one_line_errors

    @one_line_errors
    def main():
        raise OSError(errno.ENOSPC, f"disk full while writing {tmp_path / 'x'}")

    with pytest.raises(SystemExit, match=r"^error: disk full while writing .*x$"):
        main()

    @one_line_errors
    def bug():
        raise OSError(errno.EIO, "a real I/O error")

    with pytest.raises(OSError, match="real I/O"):  # other errors keep their traceback
        bug()


def test_a_user_error_is_one_line_and_a_bug_keeps_its_traceback():
    from neurosnn.errors import UserError
    from neurosnn.io.checkpoint import CheckpointError
    from neurosnn.io.output import OutputInUse, ResumeMismatch, one_line_errors
    from neurosnn.jobs.agd import AGDJobConfig

    assert all(issubclass(e, UserError) for e in (OutputInUse, ResumeMismatch, CheckpointError))

    @one_line_errors
    def main(config):
        config()
        return 0

    with pytest.raises(SystemExit, match=r"^error: report_steps must lie in 1\.\.4, got \[5\]$"):
        main(lambda: AGDJobConfig(timesteps=4, report_steps=(5,)))

    def bug():
        raise ValueError("an internal mistake")

    with pytest.raises(ValueError, match="internal mistake"):  # not a SystemExit
        main(bug)
