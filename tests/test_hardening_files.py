"""Files that read outside, damaged or crafted contents, planted links, outputs that would
overwrite inputs, and signals (issue 26): each refused or handled in one line."""

import os
import signal
import subprocess
import sys
import time

import h5py
import numpy as np
import pytest
import torch

from neurosnn.conversion import convert
from neurosnn.errors import UserError
from neurosnn.io.record import read_run, write_run
from neurosnn.io.snnfile import load_snn, save_snn
from neurosnn.simulation.run import simulate
from tests.conftest import tiny_vgg


@pytest.fixture
def snn(data):
    return convert(tiny_vgg(), [x for x, _ in data.train.batches(64)], (1, 8, 8))


def outside(path, how):
    """Make one dataset of ``path`` read /etc/hostname: an external link, external raw
    storage, or a virtual dataset."""
    with h5py.File(path, "a") as f:
        if how == "link":
            f["stolen"] = h5py.ExternalLink("/etc/hostname.h5", "/")
        elif how == "external":
            f.create_dataset("stolen", shape=(8,), dtype="u1", external=[("/etc/hostname", 0, 8)])
        else:
            layout = h5py.VirtualLayout(shape=(4,), dtype="f8")
            layout[:] = h5py.VirtualSource("/etc/elsewhere.h5", "data", shape=(4,))
            f.create_virtual_dataset("stolen", layout)


@pytest.mark.parametrize("how", ["link", "external", "virtual"])
def test_files_that_read_other_files_are_refused(tmp_path, snn, data, how):
    saved = save_snn(tmp_path / "a.snn.h5", snn)
    run = write_run(tmp_path / "r.h5", simulate(snn, data.test.batches(20), 4), {})
    for path, reader in ((saved, load_snn), (run, read_run)):
        outside(path, how)
        with pytest.raises(UserError, match=f"{path.name}: /stolen .*reads no other file"):
            reader(path)


def test_nir_files_that_read_other_files_are_refused(tmp_path, snn):
    pytest.importorskip("nir")
    from neurosnn.io.nirio import NIRError, read_nir, write_nir

    path = write_nir(tmp_path / "a.nir", snn)
    outside(path, "external")
    with pytest.raises(NIRError, match="reads no other file"):
        read_nir(path)


def test_flipped_bytes_and_edited_metadata_fail_the_checksum(tmp_path, snn):
    path = save_snn(tmp_path / "a.snn.h5", snn)
    with h5py.File(path, "a") as f:  # 64 weights made large, as a flipped block does
        w = f["connections:features.0->features.4/1.weight"]
        w[...] = w[()] + 5e4 * (np.arange(w.size).reshape(w.shape) < 64)
    with pytest.raises(UserError, match="do not match the checksum"):
        load_snn(path)
    path = save_snn(tmp_path / "b.snn.h5", snn)
    with h5py.File(path, "a") as f:
        f.attrs["metadata"] = f.attrs["metadata"].replace('"thresholds": [', '"thresholds": [9, ')
    with pytest.raises(UserError, match="do not match the checksum"):
        load_snn(path)


def test_non_finite_weights_are_refused(tmp_path, snn):
    with torch.no_grad():
        snn.connection("features.4").weighted.weight[0, 0, 0, 0] = float("nan")
    path = save_snn(tmp_path / "a.snn.h5", snn)  # a valid checksum over NaN weights
    with pytest.raises(UserError, match=r"connections:input->features.0|features.4.* not finite"):
        load_snn(path)


def resave(path, edit):
    """Edit a saved SNN's arrays or metadata and write it again with a valid checksum (a
    crafted file, not a damaged one)."""
    from neurosnn.io.record import SNN_FORMAT, read_arrays, write_arrays
    from neurosnn.io.snnfile import _digest

    arrays, meta = read_arrays(path, fmt=SNN_FORMAT)
    edit(arrays, meta)
    meta["sha256"] = _digest(arrays, meta)
    write_arrays(path, arrays, meta, fmt=SNN_FORMAT)


def test_a_crafted_width_is_refused_before_anything_is_allocated(tmp_path, snn):
    path = save_snn(tmp_path / "a.snn.h5", snn)

    def wider(arrays, meta):
        conv = meta["graph"]["edges"][1]["ops"][1]
        conv["in_channels"] = conv["out_channels"] = 2**20

    resave(path, wider)
    with pytest.raises(UserError, match="Conv2d weight is .* its settings say"):
        load_snn(path)

    def huge(arrays, meta):
        meta["graph"]["nodes"][0]["shape"] = [10**6, 10**6, 8]

    path = save_snn(tmp_path / "b.snn.h5", snn)
    resave(path, huge)
    with pytest.raises(UserError, match=r"a layer of shape \[1000000, 1000000, 8\]"):
        load_snn(path)


def test_a_declared_terabyte_is_refused_before_it_is_read(tmp_path, snn, data):
    run = write_run(tmp_path / "r.h5", simulate(snn, data.test.batches(20), 4), {})
    with h5py.File(run, "a") as f:
        del f["accuracy"]
        f.create_dataset("accuracy", shape=(10**12,), dtype="f8", chunks=(1024,))
    with pytest.raises(UserError, match=r"/accuracy declares .* but stores 0"):
        read_run(run)


def test_planted_lock_and_log_links_are_refused(tmp_path):
    from neurosnn.experiments import train_ann

    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    out = tmp_path / "ann"
    os.symlink(victim, tmp_path / ".ann.lock")
    args = ["--dataset", "synthetic", "--net", "vgg5", "--option", "width=0.125"]
    args += ["--epochs", "1", "--out", str(out), "--no-progress"]
    with pytest.raises(SystemExit, match="lock file .* is a symbolic link"):
        train_ann.main(args)
    (tmp_path / ".ann.lock").unlink()
    out.mkdir()
    os.symlink(victim, out / "train.log")
    with pytest.raises(SystemExit, match="log file .*train.log is a symbolic link"):
        train_ann.main(args)
    assert victim.read_text() == "precious\n"


def test_outputs_that_would_overwrite_inputs_are_refused(tmp_path, snn):
    from neurosnn.experiments import convert as convert_cli
    from neurosnn.experiments import export, train_ann
    from tests.test_experiments import train_synthetic

    saved = save_snn(tmp_path / "a.snn.h5", snn, {"dataset": "synthetic"})
    before = saved.read_bytes()
    with pytest.raises(SystemExit, match="would overwrite the input"):
        export.main(["--snn", str(saved), "--nir", str(saved)])
    with pytest.raises(SystemExit, match="would overwrite the input"):  # X.h5 saves X.snn.h5
        convert_cli.main(["--snn", str(saved), "--out", str(tmp_path / "a.h5")])
    kept = tmp_path / "kept"  # a folder whose convert.snn.h5 is the input
    kept.mkdir()
    (kept / "convert.snn.h5").write_bytes(before)
    with pytest.raises(SystemExit, match="would overwrite the input"):
        convert_cli.main(["--snn", str(kept / "convert.snn.h5"), "--out", str(kept)])
    assert saved.read_bytes() == before == (kept / "convert.snn.h5").read_bytes()
    ann = tmp_path / "ann"
    train_synthetic(ann)
    checkpoint = (ann / "checkpoint.pt").read_bytes()
    with pytest.raises(SystemExit, match="checkpoint.pt is a file; expected a folder"):
        convert_cli.main(["--checkpoint", str(ann), "--out", str(ann / "checkpoint.pt")])
    notes = tmp_path / "notes.txt"
    notes.write_text("results\n")
    with pytest.raises(SystemExit, match="is a file; expected a folder"):
        convert_cli.main(["--checkpoint", str(ann), "--out", str(notes)])
    assert notes.read_text() == "results\n"
    notes.with_suffix(".h5").write_text("results\n")
    with pytest.raises(SystemExit, match="is not an HDF5 file, not what this command writes"):
        convert_cli.main(["--checkpoint", str(ann), "--out", str(notes.with_suffix(".h5"))])
    assert notes.with_suffix(".h5").read_text() == "results\n"
    # a rerun into a trained folder resumes it: other settings are refused, nothing touched
    with pytest.raises(SystemExit, match="cannot resume"):
        train_ann.main(["--dataset", "synthetic", "--net", "vgg5", "--out", str(ann)])
    assert (ann / "checkpoint.pt").read_bytes() == checkpoint
    with pytest.raises(SystemExit, match="/dev/null is not a regular file or folder"):
        convert_cli.main(["--checkpoint", str(ann), "--out", "/dev/null"])


@pytest.mark.slow
@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_ends_a_command_in_one_line_and_leaves_no_temporary_file(tmp_path, sig, code):
    out = tmp_path / "ann"
    command = [sys.executable, "-m", "neurosnn.experiments.cli", "train", "--dataset"]
    command += ["synthetic", "--net", "vgg9", "--epochs", "50", "--out", str(out)]
    # a job started in the background (``make test &``) inherits SIGINT ignored, as a shell
    # sets it for background jobs; the command is run as from a terminal
    proc = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.time() + 600  # a loaded machine starts slowly
    while not (out / "checkpoint.pt").exists() and time.time() < deadline:
        time.sleep(0.2)  # interrupt it while it trains and saves epochs
    assert (out / "checkpoint.pt").exists(), "the first epoch never finished"
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == code
    assert err.strip().splitlines()[-1].startswith("interrupted: finished files are kept")
    assert "Traceback" not in err
    assert not list(out.glob("*.tmp")) and not list(tmp_path.glob(".*.lock"))


@pytest.mark.parametrize(
    "args, message",
    [
        (["--train-images", "-1"], "--train-images must be >= 0 \\(0: all\\), got -1"),
        (["--train-images", "100000"], "--train-images must be in 1..512"),
        (["--option", "width=nan"], "width must be a finite number > 0, got 'nan'"),
    ],
)
def test_train_names_bad_sizes_in_one_line(tmp_path, args, message):
    from neurosnn.experiments import train_ann

    base = ["--dataset", "synthetic", "--net", "vgg5", "--epochs", "1", "--no-progress"]
    with pytest.raises(SystemExit, match=message):
        train_ann.main([*base, *args, "--out", str(tmp_path / "a")])


def test_a_latency_rerun_with_other_settings_touches_nothing(tmp_path):
    from neurosnn.experiments import latency
    from tests.test_experiments import train_synthetic

    ann = tmp_path / "ann"
    train_synthetic(ann)
    args = ["--checkpoint", str(ann), "--out", str(tmp_path / "lat"), "--recipes", "all"]
    args += ["--long-horizon", "1", "--test-images", "16", "--calib-images", "32"]
    assert latency.main([*args, "--timesteps", "8"]) == 0
    record = tmp_path / "lat" / "ann" / "all.h5"
    stamp = record.stat().st_mtime_ns
    with pytest.raises(SystemExit, match=r"other settings \(timesteps 8 → 9\)"):
        latency.main([*args, "--timesteps", "9"])
    assert record.stat().st_mtime_ns == stamp
    for bad, least in ((["--test-images", "-1"], 0), (["--calib-images", "0"], 1)):
        with pytest.raises(SystemExit, match=f"{bad[0]} must be >= {least}"):
            latency.main([*args, *bad])


def test_reading_a_report_into_a_closed_pipe_ends_quietly(tmp_path, snn, data):
    run = write_run(tmp_path / "r.h5", simulate(snn, data.test.batches(20), 4), {})
    command = f"{sys.executable} -m neurosnn.experiments.cli inspect {run} | head -1"
    done = subprocess.run(command, shell=True, capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() and "Traceback" not in done.stderr and "Error" not in done.stderr


def test_plotting_a_file_as_a_folder_is_refused(tmp_path):
    from neurosnn.analysis import latency, neuroevolution

    (tmp_path / "f").write_text("x")
    for main in (neuroevolution.main, latency.main):
        with pytest.raises(SystemExit, match="is not a folder"):
            main([str(tmp_path / "f")])


def test_a_nearly_full_disk_ends_in_one_line_and_leaves_nothing(tmp_path):
    """With 12 KB free (the free-space probe patched in the process) a conversion stops
    before its record is opened; no temporary file and no lock stay behind."""
    from tests.test_experiments import train_synthetic

    ann = tmp_path / "ann"
    train_synthetic(ann)
    out = tmp_path / "run" / "a.h5"
    code = (
        "import sys; from collections import namedtuple; from neurosnn.io import output\n"
        "usage = namedtuple('usage', 'total used free')\n"
        "output.shutil.disk_usage = lambda p: usage(10**9, 10**9, 12_000)\n"
        "from neurosnn.experiments import convert\n"
        f"sys.exit(convert.main(['--checkpoint', {str(ann)!r}, '--timesteps', '4', "
        f"'--test-images', '8', '--no-progress', '--out', {str(out)!r}]))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: disk full while writing {out.parent}")
    assert lines[0].endswith("with the margin; free some space and run again")
    left = sorted(p.name for p in (tmp_path / "run").iterdir())
    assert left == ["a.log"], left  # the log of what happened, nothing half-written
