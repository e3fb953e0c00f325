"""Bad input refused before any work, with one line that names the option; no nonsense saved."""

import json

import pytest
import torch

from neurosnn.experiments import convert, neuroevolve, train_ann
from tests.test_experiments import train_synthetic

TRAIN = ["--dataset", "synthetic", "--net", "vgg5", "--option", "width=0.125", "--epochs", "1"]


@pytest.mark.parametrize(
    "flag,value,message",
    [
        ("--lr", "inf", "--lr must be a finite number > 0, got inf"),
        ("--weight-decay", "nan", "--weight-decay must be a finite number >= 0, got nan"),
        ("--option", "depthh=3", "depthh"),
    ],
)
def test_train_refuses_non_finite_or_unknown_settings(tmp_path, flag, value, message):
    with pytest.raises(SystemExit, match=f"error: .*{message}"):
        train_ann.main([*TRAIN, flag, value, "--out", str(tmp_path / "a"), "--no-progress"])
    assert not (tmp_path / "a" / "checkpoint.pt").exists()


def test_train_refuses_a_file_as_its_folder_before_training(tmp_path):
    target = tmp_path / "file"
    target.write_text("x")
    with pytest.raises(SystemExit, match=r"--out .*file is a file; expected a folder"):
        train_ann.main([*TRAIN, "--out", str(target), "--no-progress"])
    assert target.read_text() == "x"


def test_train_resume_with_other_settings_is_refused(tmp_path, capsys):
    out = tmp_path / "ann"
    assert train_ann.main([*TRAIN, "--epochs", "2", "--out", str(out), "--no-progress"]) == 0
    printed = capsys.readouterr().out
    # the per-epoch lines are printed and logged even without progress bars
    assert "epoch 2/2: loss" in printed and "epoch 2/2: loss" in (out / "train.log").read_text()
    with pytest.raises(SystemExit, match=r"other settings \(lr 0\.05 → 0\.1\)"):
        train_ann.main([*TRAIN, "--epochs", "2", "--lr", "0.1", "--out", str(out), "--resume"])
    assert json.loads((out / "train.json").read_text())["config"]["lr"] == 0.05


def test_convert_refuses_a_file_as_its_folder_before_simulating(tmp_path):
    ann = tmp_path / "ann"
    train_synthetic(ann)
    notes = tmp_path / "notes.txt"
    notes.write_text("precious")
    with pytest.raises(SystemExit, match=r"--out .* is a file; expected a folder"):
        convert.main(["--checkpoint", str(ann), "--out", str(notes), "--no-progress"])
    assert notes.read_text() == "precious"


def test_other_data_than_the_checkpoint_was_tested_on_is_flagged(tmp_path, caplog, monkeypatch):
    from neurosnn.experiments.common import load_checkpoint_and_data, setup_logging
    from neurosnn.io.checkpoint import load_checkpoint, save_checkpoint

    ann = tmp_path / "ann"
    train_synthetic(ann)
    load_checkpoint_and_data(str(ann), None)
    assert "WARNING" not in caplog.text
    ckpt = load_checkpoint(ann)
    ckpt.data_fingerprint = "0" * 64  # as if trained on other data
    save_checkpoint(ann / "checkpoint.pt", ckpt)
    setup_logging(tmp_path / "run.log")  # as a command does: the warning is in its log
    load_checkpoint_and_data(str(ann), None)
    assert "WARNING: the synthetic data given are not those" in caplog.text
    assert "the synthetic data given are not those" in (tmp_path / "run.log").read_text()
    from neurosnn.experiments import common
    from neurosnn.io.data import synthetic

    monkeypatch.setattr(common, "load_data", lambda *a: synthetic(input_size=16))
    with pytest.raises(
        SystemExit, match=r"takes 1×8² images, the data given \(synthetic\) are 1×16²"
    ):
        load_checkpoint_and_data(str(ann), None)


def test_another_training_split_than_the_checkpoint_was_trained_on_is_flagged(
    tmp_path, caplog, monkeypatch
):
    """The checkpoint records the whole training split (before --train-images): a relabelled
    training split, which calibration and the searches draw from, is named in the log."""
    from dataclasses import replace

    from neurosnn.experiments import common
    from neurosnn.experiments.common import load_checkpoint_and_data, setup_logging
    from neurosnn.io.checkpoint import load_checkpoint
    from neurosnn.io.data import split_fingerprint, synthetic

    ann = tmp_path / "ann"
    train_ann.main([*TRAIN, "--train-images", "100", "--out", str(ann), "--no-progress"])
    data = synthetic()
    assert load_checkpoint(ann).train_fingerprint == split_fingerprint(data.train)
    load_checkpoint_and_data(str(ann), None)
    assert "WARNING" not in caplog.text
    gen = torch.Generator().manual_seed(0)
    permuted = data.train.subset(torch.arange(len(data.train)))
    permuted = replace(
        permuted, labels=permuted.labels[torch.randperm(len(data.train), generator=gen)]
    )
    monkeypatch.setattr(common, "load_data", lambda *a: replace(data, train=permuted))
    setup_logging(tmp_path / "run.log")
    load_checkpoint_and_data(str(ann), None)
    said = "the synthetic training images given are not those"
    assert said in caplog.text and said in (tmp_path / "run.log").read_text()
    assert "data given are not those" not in caplog.text  # the test split is the same


@pytest.mark.parametrize(
    "flag,value,message",
    [
        ("--alpha", "nan", "--alpha must be a finite number >= 0, got nan"),
        ("--iso-time", "1000", "--iso-time must be <= T = 100"),
        ("--test-images", "-1", "--test-images must be >= 0, got -1"),
        ("--eval-timesteps", "-5", "--eval-timesteps must be >= 2, got -5"),
    ],
)
def test_search_refuses_bad_settings_before_the_search(tmp_path, flag, value, message):
    # the checkpoint does not exist: the option is refused before anything is read
    args = ["--preset", "quick", "--checkpoint", str(tmp_path / "none"), flag, value]
    with pytest.raises(SystemExit, match=f"error: {message}"):
        neuroevolve.main([*args, "--out", str(tmp_path / "ne")])


def test_thresholds_that_float32_cannot_hold_are_refused(model, data):
    from neurosnn.conversion import convert as convert_snn

    snn = convert_snn(model, [x for x, _ in data.train.batches(64)], (1, 8, 8))
    n = len(snn.if_names)
    with pytest.raises(ValueError, match="must be finite and in"):
        snn.set_thresholds([1e-46] * n)
    with pytest.raises(ValueError, match="must be finite and in"):
        snn.set_thresholds([1e39] * n)


def test_without_a_terminal_progress_becomes_log_lines(caplog, data):
    import logging

    from neurosnn.simulation.run import _plain_lines

    with caplog.at_level(logging.INFO, logger="neurosnn.simulation.run"):
        items = list(_plain_lines(iter([(data.test.images[:3], None)] * 2), 5, every=0.0))
    assert len(items) == 2
    assert [r.getMessage().split(" (")[0] for r in caplog.records] == [
        "simulated 3 images for T=5",
        "simulated 6 images for T=5",
    ]
