"""The workflows are library functions: the threshold search runs from Python without a
command line and prints nothing, and no experiment module imports another (besides the
shared CLI helpers)."""

import ast
import dataclasses
import json
import logging
from pathlib import Path

import pytest

from neurosnn.config.search import PRESETS
from neurosnn.io.checkpoint import load_checkpoint
from neurosnn.io.data import load_dataset, with_normalisation
from neurosnn.io.record import read_search
from neurosnn.io.snnfile import load_snn
from neurosnn.jobs.search import EvalConfig, prepare, run_neuroevolution
from tests.test_experiments import train_synthetic

EXPERIMENTS = Path(__file__).resolve().parent.parent / "experiments"
SHARED_CLI = {
    "neurosnn.experiments.common",
    "neurosnn.experiments.parser",  # the command lines, generated from the configs
    "neurosnn.experiments.config_files",  # their YAML files
    "neurosnn.experiments.search_args",
    "neurosnn.experiments.commands",  # the subcommands' table, data only
    "neurosnn.experiments.plots",  # the analysis tools' command lines
}


@pytest.mark.slow
def test_search_job_runs_from_python_and_prints_nothing(tmp_path, capsys):
    ann = tmp_path / "ann"
    train_synthetic(ann)
    capsys.readouterr()
    root = logging.getLogger("neurosnn")  # as in a notebook: no handlers of a command's
    for handler in list(root.handlers):
        root.removeHandler(handler)
    ckpt = load_checkpoint(ann)
    data = with_normalisation(load_dataset(ckpt.dataset), ckpt.mean, ckpt.std)
    scfg = dataclasses.replace(PRESETS["quick"], images=32, timesteps=16, generations=2)
    ecfg = EvalConfig(checkpoint=str(ann), test_images=40, pca_images=32, record_spikes=0)
    prepared = prepare(scfg, ecfg, ckpt, data)
    summary = run_neuroevolution(prepared, scfg, ecfg, tmp_path / "ne", progress=False)
    assert capsys.readouterr().out == ""
    assert summary["generations"] == 2 and summary["test_images"] == 40
    # what it returns is what it wrote, and the tuned SNN it keeps has those thresholds
    written = json.loads((tmp_path / "ne" / "summary.json").read_text())
    assert written["thresholds"] == pytest.approx(summary["thresholds"])
    saved = read_search(tmp_path / "ne" / "search.h5")
    assert saved["best"]["thresholds"].tolist() == pytest.approx(summary["thresholds"])
    snn, meta = load_snn(tmp_path / "ne" / "optimized.snn.h5")
    assert snn.thresholds == pytest.approx(summary["thresholds"], rel=1e-6)
    assert meta["source"]["made_by"] == "neurosnn.jobs.search"
    assert prepared.snn.thresholds == snn.thresholds  # left at the optimised thresholds


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
    return names


@pytest.mark.parametrize("path", sorted(EXPERIMENTS.glob("*.py")), ids=lambda p: p.stem)
def test_no_experiment_imports_another(path):
    others = {
        f"neurosnn.experiments.{p.stem}" for p in EXPERIMENTS.glob("*.py") if p.stem != "__init__"
    } - SHARED_CLI
    found = {name for name in imported_modules(path) if name in others}
    assert not found, f"{path.name} imports {sorted(found)}"


def test_neurosnn_command_lists_and_dispatches(capsys):
    import importlib

    from neurosnn.experiments import cli

    assert cli.main(["--help"]) == 0
    text = capsys.readouterr().out
    for name, (where, _) in cli.COMMANDS.items():
        assert name in text
        module, _, attr = where.partition(":")
        assert getattr(importlib.import_module(module), attr)  # every subcommand resolves
    with pytest.raises(SystemExit) as exc:  # options reach the command's parser
        cli.main(["export", "--help"])
    assert exc.value.code == 0 and "--no-fold" in capsys.readouterr().out
    assert cli.main(["nonsense"]) == 2
    assert "unknown command 'nonsense'" in capsys.readouterr().err


@pytest.mark.parametrize(
    "path",
    sorted((EXPERIMENTS.parent / "neurosnn").rglob("*.py")),
    ids=lambda p: p.stem,
)
def test_the_library_never_imports_the_commands_or_the_analysis(path):
    found = {
        name
        for name in imported_modules(path)
        if name.startswith(("neurosnn.experiments", "neurosnn.analysis"))
    }
    assert not found, f"{path.name} imports {sorted(found)}"


@pytest.mark.slow
def test_convert_job_from_python_writes_what_the_command_writes(tmp_path):
    from neurosnn.experiments import convert as convert_cli
    from neurosnn.io.record import read_run
    from neurosnn.jobs.convert import ConvertConfig, convert_checkpoint, record_run

    ann = tmp_path / "ann"
    train_synthetic(ann)
    ckpt = load_checkpoint(ann)
    data = with_normalisation(load_dataset(ckpt.dataset), ckpt.mean, ckpt.std)
    cfg = ConvertConfig(checkpoint=str(ann), timesteps=12, test_images=24, phi=0.5, save_snn=False)
    out = tmp_path / "job.h5"
    result, meta = record_run(cfg, convert_checkpoint(cfg, ckpt, data, out), out, progress=False)
    args = ["--checkpoint", str(ann), "--timesteps", "12", "--test-images", "24", "--phi", "0.5"]
    assert convert_cli.main([*args, "--no-save-snn", "--out", str(tmp_path / "cli.h5")]) == 0
    job, cli = read_run(out), read_run(tmp_path / "cli.h5")
    assert job.accuracy.tolist() == cli.accuracy.tolist() == result.accuracy.tolist()
    assert job.predictions.tolist() == cli.predictions.tolist()
    for name, counts in job.spike_counts.items():
        assert counts.tolist() == cli.spike_counts[name].tolist()
    assert job.simulation["phi"] == cli.simulation["phi"] == [0.5] * len(result.thresholds)
    assert meta["test_indices"] == cli.metadata["test_indices"]
