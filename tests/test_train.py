import pytest
import torch

import neurosnn.learn.train as train_mod
from neurosnn.io.checkpoint import CheckpointError, load_checkpoint
from neurosnn.learn.train import TrainConfig, evaluate, train_ann
from neurosnn.networks import create_network


def small(data):
    torch.manual_seed(0)
    return create_network("vgg5", data.num_classes, 1, 8, width=0.125, dropout=0.2)


def test_training_learns_and_checkpoints(tmp_path, data):
    model = small(data)
    before = evaluate(model, data.test)
    ckpt = train_ann(
        model, data, TrainConfig(epochs=5, batch_size=32, lr=0.05), out_dir=tmp_path, progress=False
    )
    assert ckpt.test_accuracy > max(0.8, before + 0.3)
    loaded = load_checkpoint(tmp_path)  # a folder resolves to folder/checkpoint.pt
    assert loaded.epoch == 5 and loaded.dataset == "synthetic"
    assert evaluate(loaded.build(), data.test) == pytest.approx(ckpt.test_accuracy)
    # weights_only loading: the file holds no pickled code
    raw = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    assert raw["spec"]["name"] == "vgg5"


def test_resume_after_interruption_matches_uninterrupted(tmp_path, data, monkeypatch):
    cfg = TrainConfig(epochs=2, batch_size=32, lr=0.02)
    full = train_ann(small(data), data, cfg, out_dir=tmp_path / "full", progress=False)

    calls = {"n": 0}
    real_evaluate = train_mod.evaluate

    def interrupted(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:  # epoch 1 is saved, epoch 2 is lost
            raise KeyboardInterrupt
        return real_evaluate(*args, **kwargs)

    monkeypatch.setattr(train_mod, "evaluate", interrupted)
    with pytest.raises(KeyboardInterrupt):
        train_ann(small(data), data, cfg, out_dir=tmp_path / "resumed", progress=False)
    monkeypatch.setattr(train_mod, "evaluate", real_evaluate)
    assert load_checkpoint(tmp_path / "resumed").epoch == 1
    resumed = train_ann(
        small(data), data, cfg, out_dir=tmp_path / "resumed", resume=True, progress=False
    )
    assert resumed.epoch == 2
    for k, v in full.state_dict.items():
        torch.testing.assert_close(resumed.state_dict[k], v, rtol=0, atol=0)


def test_bad_checkpoints(tmp_path):
    with pytest.raises(CheckpointError, match="no checkpoint"):
        load_checkpoint(tmp_path)
    (tmp_path / "checkpoint.pt").write_bytes(b"garbage")
    with pytest.raises(CheckpointError, match="cannot read"):
        load_checkpoint(tmp_path)
    torch.save({"state_dict": {}}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="missing"):
        load_checkpoint(tmp_path / "other.pt")
    (tmp_path / "empty.pt").write_bytes(b"")
    with pytest.raises(CheckpointError, match=r"cannot read checkpoint .*empty\.pt: \S"):
        load_checkpoint(tmp_path / "empty.pt")  # the reason is never blank


def test_checkpoints_that_cannot_build_their_network_are_refused(tmp_path, data):
    from dataclasses import replace

    from neurosnn.io.checkpoint import save_checkpoint

    ckpt = train_ann(small(data), data, TrainConfig(epochs=1), progress=False)
    save_checkpoint(tmp_path / "unknown.pt", replace(ckpt, spec=replace(ckpt.spec, name="vgg99")))
    with pytest.raises(CheckpointError, match=r"unknown\.pt is not a usable .*vgg99"):
        load_checkpoint(tmp_path / "unknown.pt")
    wrong = dict(ckpt.state_dict)
    key = next(k for k in wrong if k.endswith("weight"))
    wrong[key] = torch.zeros(3, 3)
    save_checkpoint(tmp_path / "shapes.pt", replace(ckpt, state_dict=wrong))
    with pytest.raises(CheckpointError, match=r"shapes\.pt is not a usable .*size mismatch"):
        load_checkpoint(tmp_path / "shapes.pt")


def test_config_validation():
    with pytest.raises(ValueError, match="epochs"):
        TrainConfig(epochs=0)
    with pytest.raises(ValueError, match="optimizer"):
        TrainConfig(optimizer="lbfgs")


def test_a_diverged_loss_stops_training_without_saving(tmp_path, data, monkeypatch):
    from neurosnn.learn.train import TrainingDiverged

    real = train_mod.F.cross_entropy
    monkeypatch.setattr(train_mod.F, "cross_entropy", lambda *a, **k: real(*a, **k) * float("nan"))
    with pytest.raises(TrainingDiverged, match="the loss is nan at epoch 1, batch 1"):
        train_ann(small(data), data, TrainConfig(epochs=1), out_dir=tmp_path, progress=False)
    assert not (tmp_path / "checkpoint.pt").exists()
