"""Hard links at the files a run owns, files written beside the output, non-finite and complex
values, sizes declared but not stored, link cycles, out-of-range settings and counts, crafted
names, and a Ray address where nothing listens: each refused in one line, nothing it does
not own touched."""

import os
import signal
import socket
import subprocess
import sys

import h5py
import numpy as np
import pytest
import torch

import neurosnn as ns
from neurosnn.errors import UserError
from neurosnn.io.record import SNN_FORMAT, read_arrays, read_run, write_arrays, write_run
from neurosnn.io.snnfile import _digest
from tests.conftest import tiny_vgg


@pytest.fixture
def snn(data):
    return ns.convert(tiny_vgg(), [x for x, _ in data.train.batches(64)], (1, 8, 8))


def resave(path, mutate):
    """Rewrite a saved SNN with ``mutate(arrays, meta)`` applied and its checksum made anew,
    as a crafter would."""
    arrays, meta = read_arrays(path, fmt=SNN_FORMAT)
    mutate(arrays, meta)
    meta["sha256"] = _digest(arrays, meta)
    path.unlink()
    write_arrays(path, arrays, meta, fmt=SNN_FORMAT)
    return path


def train_args(out):
    args = ["--dataset", "synthetic", "--net", "vgg5", "--option", "width=0.125"]
    return args + ["--epochs", "1", "--out", str(out), "--no-progress"]


def test_a_hard_link_at_the_lock_or_the_log_is_refused_and_its_file_kept(tmp_path):
    from neurosnn.experiments import train_ann

    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    out = tmp_path / "ann"
    os.link(victim, tmp_path / ".ann.lock")
    with pytest.raises(SystemExit, match="lock file .* is a hard link"):
        train_ann.main(train_args(out))
    (tmp_path / ".ann.lock").unlink()
    out.mkdir()
    os.link(victim, out / "train.log")
    with pytest.raises(SystemExit, match="log file .*train.log is a hard link"):
        train_ann.main(train_args(out))
    assert victim.read_text() == "precious\n" and os.stat(victim).st_nlink == 2


def test_files_written_beside_the_output_replace_only_what_neurosnn_wrote(tmp_path, snn):
    from neurosnn.experiments import convert as convert_cli

    saved = ns.save_snn(tmp_path / "base.snn.h5", snn, {"dataset": "synthetic"})
    sheet = tmp_path / "x.csv"
    sheet.write_text("name,grade\nada,1\n")
    args = ["--snn", str(saved), "--timesteps", "4", "--test-images", "8", "--no-progress"]
    with pytest.raises(SystemExit, match="would replace .*x.csv, which is not a .csv neurosnn"):
        convert_cli.main([*args, "--out", str(tmp_path / "x.h5")])
    sheet.unlink()
    notes = tmp_path / "x.snn.h5"
    notes.write_text("my notes\n")
    with pytest.raises(SystemExit, match="x.snn.h5, which is not an HDF5 file"):
        convert_cli.main([*args, "--out", str(tmp_path / "x.h5")])
    assert notes.read_text() == "my notes\n" and not (tmp_path / "x.h5").exists()
    folder = tmp_path / "run"  # the folder form: its files are checked the same way
    folder.mkdir()
    (folder / "convert.csv").write_text("precious\n")
    with pytest.raises(SystemExit, match="convert.csv, which is not a .csv"):
        convert_cli.main([*args, "--out", str(folder)])
    assert (folder / "convert.csv").read_text() == "precious\n"
    (folder / "convert.csv").unlink()
    assert convert_cli.main([*args, "--out", str(folder)]) == 0  # and a rerun replaces its own
    assert convert_cli.main([*args, "--out", str(folder)]) == 0


def test_every_write_replaces_only_a_file_of_its_kind(tmp_path, data, snn):
    from neurosnn.io.output import atomic

    for name, content in [("a.png", b"text"), ("a.json", b"[1, 2"), ("a.yaml", b"x: 1\n")]:
        (tmp_path / name).write_bytes(content)
        with pytest.raises(UserError, match=f"{name} exists"):
            with atomic(tmp_path / name) as tmp:
                tmp.write_bytes(content)
        assert (tmp_path / name).read_bytes() == content
    record = write_run(tmp_path / "r.h5", ns.simulate(snn, data.test.batches(20), 4), {})
    with pytest.raises(UserError, match="format 'neurosnn-run', not 'neurosnn-snn'"):
        ns.save_snn(record, snn)  # a run record is not replaced by a saved SNN
    assert read_run(record).timesteps == 4


def test_non_finite_or_complex_weights_are_refused_in_every_file(tmp_path, snn):
    saved = ns.save_snn(tmp_path / "a.snn.h5", snn)

    def complex_nan(arrays, meta):
        key = next(k for k in arrays if k.startswith("connections:"))
        name = next(iter(arrays[key]))
        w = arrays[key][name].astype(np.complex64)
        w.flat[0] = np.nan
        arrays[key][name] = w

    resave(saved, complex_nan)
    with pytest.raises(UserError, match="holds complex64 values; expected real numbers"):
        ns.load_snn(saved)
    nir = ns.write_nir(tmp_path / "a.nir", snn)
    for dataset, value in [
        ("features.0.conv/weight", np.nan),
        ("classifier.4.affine/weight", np.inf),
    ]:
        bad = tmp_path / f"bad{len(dataset)}.nir"
        bad.write_bytes(nir.read_bytes())
        with h5py.File(bad, "a") as f:
            f[f"node/nodes/{dataset}"][0, 0] = value
        with pytest.raises(UserError, match="not finite"):
            ns.read_nir(bad)
    with torch.no_grad():  # a network that diverged in fine-tuning is not exported
        next(iter(snn.network.connections.values())).ops[0].weight[0] = float("nan")
    with pytest.raises(UserError, match="not finite"):
        ns.write_nir(tmp_path / "nan.nir", snn)


def test_a_size_declared_but_not_stored_is_refused_before_it_is_read(tmp_path, snn):
    nir = ns.write_nir(tmp_path / "a.nir", snn)
    with h5py.File(nir, "a") as f:
        del f["node/nodes/classifier.1.affine/weight"]
        f.create_dataset("node/nodes/classifier.1.affine/weight", (131072, 32768), "f4")
    with pytest.raises(UserError, match=r"declares \(131072, 32768\) .* but stores 0"):
        ns.read_nir(nir)


def test_a_hard_link_cycle_is_one_line_in_every_reader(tmp_path, data, snn, capsys):
    from neurosnn.experiments.cli import main as cli

    record = write_run(tmp_path / "r.h5", ns.simulate(snn, data.test.batches(20), 4), {})
    saved = ns.save_snn(tmp_path / "a.snn.h5", snn)
    nir = ns.write_nir(tmp_path / "a.nir", snn)
    for path, group in [(record, "layers"), (saved, "calibration:features.0"), (nir, "node")]:
        with h5py.File(path, "a") as f:
            f[group]["loop"] = f[group]  # the group holds itself
    for read, path in [(read_run, record), (ns.load_snn, saved), (ns.read_nir, nir)]:
        with pytest.raises(UserError, match="loop is a second name of an object"):
            read(path)
    with pytest.raises(SystemExit, match="a second name of an object"):
        cli(["inspect", str(record)])


def test_out_of_range_operator_settings_are_refused(tmp_path, snn):
    saved = ns.save_snn(tmp_path / "a.snn.h5", snn)

    def groups_zero(arrays, meta):
        meta["graph"]["edges"][0]["ops"][0]["groups"] = 0

    resave(saved, groups_zero)
    with pytest.raises(UserError, match="Conv2d groups is 0; expected whole numbers from 1"):
        ns.load_snn(saved)


def test_a_damaged_or_extended_search_state_is_one_line(tmp_path, data, snn):
    from neurosnn.config.search import SearchConfig
    from neurosnn.search.de import run_search
    from neurosnn.search.evaluate import Evaluator

    cfg = SearchConfig(population=5, generations=1, images=16, timesteps=6)
    state = tmp_path / "state.json"
    run_search(Evaluator(snn, data.train, cfg), state_path=state, progress=False)
    good = state.read_text()
    more = SearchConfig(population=5, generations=2, images=16, timesteps=6)
    for damage in (good[: len(good) // 2], good.replace('"population": [[', '"population": [[[')):
        state.write_text(damage)
        with pytest.raises(UserError, match="search state"):
            run_search(Evaluator(snn, data.train, more), state_path=state, resume=True)


def test_counts_and_names_are_checked_before_any_file(tmp_path, capsys):
    from neurosnn.experiments.cli import main as cli

    out = tmp_path / "t"
    with pytest.raises(SystemExit) as stop:
        cli(["convert", "--snn", "x.snn.h5", "--timesteps", str(10**12), "--out", str(out)])
    assert (
        stop.value.code == 2 and "--timesteps must be at most 1,000,000" in capsys.readouterr().err
    )
    deep = tmp_path / "a" / ("b" * 300) / "c"
    with pytest.raises(SystemExit, match="is 300 bytes"):
        cli(["train", *train_args(deep)])
    assert not out.exists() and not (tmp_path / "a").exists()
    with pytest.raises(UserError, match="does not fit in memory"):
        ns.create_network("vgg5", 10, 1, 28, width=1e9)


def test_the_python_api_refuses_empty_non_finite_and_out_of_range_data(data, snn):
    x, y = next(iter(data.test.batches(8)))
    assert len(ns.simulate(snn, [(x[:0], y[:0]), (x, y)], 4).labels) == 8  # an empty batch: none
    with pytest.raises(UserError, match="no images to simulate"):
        ns.simulate(snn, [(x[:0], y[:0])], 4)
    with pytest.raises(UserError, match="not finite"):
        ns.simulate(snn, [(torch.full_like(x, float("nan")), y)], 4)
    for label in (7, -1):  # the network has 4 classes
        with pytest.raises(UserError, match=r"labels must be classes in \[0, 4\)"):
            ns.simulate(snn, [(x, torch.full_like(y, label))], 4)
    with pytest.raises(UserError, match="at least one image"):
        ns.convert(tiny_vgg(), [x[:0]], (1, 8, 8))
    with pytest.raises(UserError, match="not finite"):
        ns.convert(tiny_vgg(), [x * float("inf")], (1, 8, 8))


def test_a_second_ctrl_c_while_the_run_ends_prints_no_traceback(tmp_path):
    script = (
        "import os, signal, sys\n"
        "from neurosnn.io.output import hold, _process_holds\n"
        f"hold({str(tmp_path / 'out')!r})\n"
        "_process_holds.callback(lambda: os.kill(os.getpid(), signal.SIGINT))\n"
        "sys.exit(0)\n"
    )
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert run.returncode == 0 and "Traceback" not in run.stderr, run.stderr


def test_a_ray_address_where_nothing_listens_is_one_line_at_once(tmp_path):
    from neurosnn.search.evaluate import check_listening, ray_error

    with socket.socket() as s:  # a port nothing listens on once this closes
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(UserError, match=f"ray address 127.0.0.1:{port}: nothing answers"):
        check_listening(f"127.0.0.1:{port}", seconds=2)
    with pytest.raises(UserError, match="expected HOST:PORT"):
        check_listening("nowhere")
    auth = ray_error("10.0.0.1:6379", ConnectionError("Failed: UNAUTHENTICATED: token missing"))
    assert "set RAY_AUTH_MODE=token" in str(auth)
    from neurosnn.experiments.cli import main as cli

    with pytest.raises(SystemExit, match="nothing answers"):
        cli(
            [
                "search",
                "--checkpoint",
                "x",
                "--ray",
                f"127.0.0.1:{port}",
                "--out",
                str(tmp_path / "s"),
            ]
        )
    assert not (tmp_path / "s").exists()


def test_a_latency_summary_cannot_name_records_outside_its_folder(tmp_path):
    import json

    from neurosnn.analysis.leaderboard import seed_rows

    folder = tmp_path / "lat"
    folder.mkdir()
    for name, recipes in [("../../etc", {"all": {}}), ("s0", {"../../x": {}})]:
        (folder / "latency.json").write_text(
            json.dumps({"config": {}, "checkpoints": {name: {"recipes": recipes}}})
        )
        with pytest.raises(UserError, match="not a file in its folder"):
            seed_rows(folder)
    (folder / "latency.json").write_text("{damaged")
    with pytest.raises(UserError, match="not a latency summary"):
        seed_rows(folder)
    infinite = {"depth": float("inf"), "ann_accuracy": 0.5, "recipes": {}}  # the fuzzer's find
    (folder / "latency.json").write_text(
        json.dumps({"config": {}, "checkpoints": {"s0": infinite}})
    )
    with pytest.raises(UserError, match="not a latency summary .*OverflowError"):
        seed_rows(folder)


def test_signal_handlers_are_restored_after_a_command(tmp_path):
    from neurosnn.io.output import one_line_errors

    before = signal.getsignal(signal.SIGINT)

    @one_line_errors
    def interrupted() -> int:
        raise KeyboardInterrupt

    with pytest.raises(SystemExit):
        interrupted()
    assert signal.getsignal(signal.SIGINT) is before


def test_a_file_that_hangs_the_hdf5_library_is_refused_and_the_process_lives(
    tmp_path, snn, monkeypatch
):
    """A variable-length string whose heap entry claims more bytes than it has (one byte
    changed, as the long fuzz run found) makes libhdf5 loop for ever in the process that
    reads it; the reader probes every file in a child process first."""
    from neurosnn.io import h5probe

    monkeypatch.setattr(h5probe, "SECONDS", 3.0)
    path = ns.write_nir(tmp_path / "a.nir", snn)
    data = bytearray(path.read_bytes())
    heap = data.find(b"GCOL")
    entry = data.find((5).to_bytes(8, "little") + b"input", heap)  # an edge's source name
    assert heap > 0 and entry > heap
    data[entry] = 236  # its length
    path.write_bytes(bytes(data))
    with pytest.raises(UserError, match=r"a\.nir is a damaged HDF5 file: reading it did not fin"):
        ns.read_nir(path)
    ok = ns.write_nir(tmp_path / "b.nir", snn)
    assert ns.read_nir(ok)[0].thresholds == pytest.approx(snn.thresholds)
