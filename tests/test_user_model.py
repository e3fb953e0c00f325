"""A model of the user's own, outside the registry: on the command line with --model and
--weights, refused in one line where it is given as something else, saved and loaded in a
fresh process."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from neurosnn.experiments import convert as convert_cli
from neurosnn.experiments import latency as latency_cli
from neurosnn.io.record import read_run

MODULE = """
import torch
import torch.nn.functional as F
from torch import nn


class Mine(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 4, 3, padding=1)
        self.conv2 = nn.Conv2d(4, 4, 3, padding=1)
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        h = F.relu(self.conv1(x))
        h = F.relu(self.conv2(h) + h)
        return self.fc(h.mean((2, 3)))


def build():
    return Mine()


class Heads(Mine):
    # class scores beside an auxiliary head, in a dict; and its own input normalisation

    def forward(self, x):
        x = (x - 0.5) / 0.25
        h = F.relu(self.conv1(x))
        return {"aux": h.mean((1, 2, 3)), "out": self.fc(F.relu(self.conv2(h)).mean((2, 3)))}


def heads():
    return Heads()
"""


@pytest.fixture
def user_model(tmp_path, monkeypatch):
    """``usermodels.py`` with a residual ``build()`` in the working folder, and its weights."""
    (tmp_path / "usermodels.py").write_text(MODULE)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    import usermodels

    torch.manual_seed(0)
    model = usermodels.build()
    torch.save(model.state_dict(), tmp_path / "w.pt")
    torch.save({"epoch": 3, "state_dict": model.state_dict()}, tmp_path / "w_in_dict.pt")
    yield tmp_path
    sys.modules.pop("usermodels", None)


COMMON = ["--dataset", "synthetic", "--timesteps", "8", "--test-images", "16"]
COMMON += ["--calib-images", "32", "--no-progress"]


def test_convert_takes_a_users_model_and_its_weights(user_model, capsys):
    from neurosnn.analysis import inspect

    out = user_model / "run"
    args = ["--model", "usermodels:build", "--weights", "w.pt", *COMMON, "--out", str(out)]
    assert convert_cli.main(args) == 0
    record = read_run(out / "convert.h5")
    assert record.metadata["network"]["factory"] == "usermodels:build"
    assert record.layer_names == ["conv1", "conv2", "fc"]
    capsys.readouterr()
    assert inspect.main([str(out)]) == 0  # the record of a user's model reads like any
    assert "network       usermodels:build" in capsys.readouterr().out
    # the saved SNN runs in a fresh process without the user's code or the registry
    snn_file = out / "convert.snn.h5"
    again = user_model / "again"
    code = (
        "import sys; from neurosnn.experiments import convert; "
        f"sys.exit(convert.main(['--snn', '{snn_file}', '--timesteps', '8', '--test-images', "
        f"'16', '--no-progress', '--out', '{again}']))"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd="/", capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert (read_run(again / "convert.h5").predictions == record.predictions).all()
    # a checkpoint-style dict holding the state dict works as well
    args[3] = "w_in_dict.pt"
    args[-1] = str(user_model / "run2")
    assert convert_cli.main(args) == 0


def test_latency_takes_a_users_model_over_several_weights(user_model):
    torch.save(torch.load("w.pt"), "w_seed1.pt")
    args = ["--model", "usermodels:build", "--weights", "w.pt", "--weights", "w_seed1.pt"]
    args += ["--recipes", "all,phi+onset", "--long-horizon", "1", "--out", "lat"]
    args += [a for a in COMMON if a != "--no-progress"]
    assert latency_cli.main(args) == 0
    summary = json.loads(Path("lat/latency.json").read_text())
    assert sorted(summary["checkpoints"]) == ["w", "w_seed1"]


@pytest.mark.parametrize(
    "bad, message",
    [
        (["--model", "usermodels:build", "--weights", "whole.pt"], "holds pickled objects"),
        (["--checkpoint", "w.pt"], "holds weights only, not a neurosnn checkpoint: pass --model"),
        (["--model", "usermodels:nothing", "--weights", "w.pt"], "has no callable 'nothing'"),
        (["--model", "nowhere:build", "--weights", "w.pt"], "cannot import nowhere"),
        (["--model", "usermodels:build"], "--model needs --weights"),
        (
            ["--model", "usermodels:build", "--weights", "w.pt", "--input-shape", "3,8,8"],
            "--input-shape 3,8,8 does not match synthetic's images, 1,8,8",
        ),
        (["--model", "usermodels:build", "--weights", "other.pt"], "do not fit usermodels:build"),
    ],
    ids=["pickled", "state-dict", "no-factory", "no-module", "no-weights", "shape", "mismatch"],
)
def test_what_cannot_be_used_is_said_in_one_line(user_model, capsys, bad, message):
    import usermodels

    torch.save(usermodels.build(), "whole.pt")  # a whole pickled model
    torch.save({"conv1.weight": torch.zeros(1)}, "other.pt")
    args = [*bad, "--dataset", "synthetic", "--out", "x.h5", "--no-progress"]
    if bad[0] == "--checkpoint":
        args.remove("--dataset")
        args.remove("synthetic")
    with pytest.raises(SystemExit) as exc:
        convert_cli.main(args)
    said = capsys.readouterr().err + str(exc.value.code)
    assert message in said
    assert "Traceback" not in said and said.count("error:") == 1


@pytest.mark.parametrize(
    "command, job",
    [
        ("neuroevolve", "search:prepare"),
        ("adversarial", "adversarial:run_adversarial"),
        ("bptt_vs_de", "bptt:run_bptt_vs_search"),
        ("cost_noise", "noise:run_cost_noise"),
    ],
)
def test_every_command_on_a_network_takes_a_users_model(user_model, monkeypatch, command, job):
    import importlib

    module = importlib.import_module(f"neurosnn.experiments.{command}")
    jobs, _, name = job.partition(":")

    def stub(*args, **kwargs):
        raise RuntimeError(args)

    monkeypatch.setattr(importlib.import_module(f"neurosnn.jobs.{jobs}"), name, stub)
    args = ["--model", "usermodels:build", "--weights", "w.pt", "--dataset", "synthetic"]
    with pytest.raises(RuntimeError) as exc:
        module.main([*args, "--out", "s"])
    passed = exc.value.args[0]
    ckpt = next(a for a in passed if hasattr(a, "spec"))
    ecfg = next(a for a in passed if hasattr(a, "checkpoint"))
    assert ckpt.spec.factory == "usermodels:build" and ckpt.dataset == "synthetic"
    assert ecfg.checkpoint.endswith("w.pt")


def test_export_converts_a_users_model_as_convert_does(user_model):
    pytest.importorskip("nirtorch")
    from neurosnn.experiments import export as export_cli
    from neurosnn.io.nirio import read_nir
    from neurosnn.io.snnfile import load_snn
    from neurosnn.simulation.run import simulate

    mine = ["--model", "usermodels:build", "--weights", "w.pt", "--dataset", "synthetic"]
    settings = ["--phi", "0.5", "--calib-images", "32"]
    nir_file = user_model / "mine.nir"
    args = [*mine, *settings, "--no-fold", "--nir", str(nir_file), "--compare", "16"]
    assert export_cli.main([*args, "--timesteps", "8"]) == 0
    report = json.loads(nir_file.with_suffix(".compare.json").read_text())
    assert report["test_images"] == 16 and min(report["same"]) == 1.0  # nirtorch = neurosnn
    run = [*mine, *settings, "--timesteps", "8", "--test-images", "16", "--no-progress"]
    assert convert_cli.main([*run, "--out", str(user_model / "run.h5")]) == 0
    converted, _ = load_snn(user_model / "run.snn.h5")
    exported, _ = read_nir(nir_file)  # unfolded: neurosnn's arithmetic exactly
    assert exported.thresholds == pytest.approx(converted.thresholds)
    x = torch.rand(8, 1, 8, 8)
    y = torch.zeros(8, dtype=torch.long)
    a, b = (simulate(s, [(x, y)], 12, delay="none") for s in (converted, exported))
    assert all(torch.equal(a.spike_counts[n], b.spike_counts[n]) for n in converted.if_names)
    with pytest.raises(SystemExit, match="--weights, --input-shape, --model-output and --no-nor"):
        export_cli.main(["--snn", "x.snn.h5", "--weights", "w.pt", "--nir", "y.nir"])


def test_a_model_with_several_outputs_needs_and_takes_model_output(user_model, capsys):
    args = ["--model", "usermodels:heads", "--weights", "w.pt", *COMMON]
    message = "returns dict ['aux', 'out']; pick the class scores with --model-output KEY"
    with pytest.raises(SystemExit, match=re.escape(message)):
        convert_cli.main([*args, "--out", str(user_model / "a")])
    out = user_model / "b"
    assert convert_cli.main([*args, "--model-output", "out", "--out", str(out)]) == 0
    said = capsys.readouterr().out
    assert "normalises its own input (the input of layer conv1)" in said
    assert read_run(out / "convert.h5").layer_names == ["conv1", "conv2", "fc"]
    raw = user_model / "c"
    more = ["--model-output", "out", "--no-normalise", "--out", str(raw)]
    assert convert_cli.main([*args, *more]) == 0
    assert "normalises its own input" not in capsys.readouterr().out
    with pytest.raises(SystemExit, match=re.escape("output 2: the model returns dict ['aux', ")):
        convert_cli.main([*args, "--model-output", "2", "--out", str(user_model / "d")])


def test_select_output_keeps_the_modules_and_their_names(user_model):
    import usermodels

    from neurosnn.conversion import select_output

    model = usermodels.heads().eval()
    picked = select_output(model, "out")
    x = torch.rand(3, 1, 8, 8)
    assert torch.equal(picked(x), model(x)["out"])
    assert set(picked.state_dict()) == set(model.state_dict())
