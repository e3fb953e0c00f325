"""--tensorboard DIR: the scalars written are the ones the run records elsewhere."""

import json
import sys

import pytest

from neurosnn.errors import UserError
from neurosnn.experiments import train_ann
from neurosnn.io.tensorboard import Scalars


def read_scalars(folder) -> dict[str, list[tuple[int, float]]]:
    """Every scalar tag of a TensorBoard folder: (step, value) pairs in step order."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    found: dict[str, list[tuple[int, float]]] = {}
    for events in sorted(folder.glob("events.out.tfevents.*")):
        acc = EventAccumulator(str(events))
        acc.Reload()
        for tag in acc.Tags()["scalars"]:
            found.setdefault(tag, []).extend((e.step, e.value) for e in acc.Scalars(tag))
    return {tag: sorted(pairs) for tag, pairs in found.items()}


def test_training_writes_each_epoch_as_in_its_history(tmp_path):
    pytest.importorskip("tensorboard")
    out, board = tmp_path / "ann", tmp_path / "board"
    args = ["--dataset", "synthetic", "--net", "vgg5", "--option", "width=0.125"]
    args += ["--epochs", "2", "--out", str(out), "--tensorboard", str(board), "--no-progress"]
    assert train_ann.main(args) == 0
    history = json.loads((out / "train.json").read_text())["history"]
    found = read_scalars(board)
    assert set(found) == {"train/loss", "train/test_accuracy", "train/seconds"}
    for key in ("loss", "test_accuracy"):
        steps, values = zip(*found[f"train/{key}"], strict=True)
        assert steps == (1, 2)
        assert values == pytest.approx([h[key] for h in history], rel=1e-6)  # float32


def test_without_the_package_the_option_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # as if not installed
    with pytest.raises(UserError, match=r"pip install 'neurosnn\[tensorboard\]'"):
        Scalars(tmp_path / "board")
    assert not (tmp_path / "board").exists()
