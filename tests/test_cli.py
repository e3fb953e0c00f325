"""The commands are thin: their options reach the workflow's config unchanged, bad options are
refused in one line before any work, and ``--help`` documents every option."""

import argparse
import importlib

import pytest

from neurosnn.experiments import cli


class Called(Exception):
    """Raised in place of a workflow: what the command passed it."""


def intercept(monkeypatch, module, job: str, loaders=("data_of",)):
    """Replace ``module.job`` with a stub that raises :class:`Called` with its arguments,
    and the module's data loaders with stubs."""

    def stub(*args, **kwargs):
        raise Called(args, kwargs)

    monkeypatch.setattr(module, job, stub)
    for name in loaders:
        monkeypatch.setattr(module, name, lambda *a, **k: ("data", a))


def called(main, argv) -> tuple:
    with pytest.raises(Called) as exc:
        main(argv)
    return exc.value.args[0]


def test_agd_options_reach_the_job(tmp_path, monkeypatch):
    from neurosnn.experiments import agd

    intercept(monkeypatch, agd, "run_agd")
    args = ["--out", str(tmp_path), "--variants", "hybrid,softmax", "--timesteps", "9"]
    args += ["--report-steps", "3,9", "--option", "width=0.5", "--option", "pool=max"]
    args += ["--hybrid-relu-layers", "3", "--leak", "0.9", "--lr", "0.01", "--seed", "4"]
    cfg, data, out, progress = called(agd.main, args + ["--no-progress"])
    assert (cfg.variants, cfg.timesteps, cfg.report_steps) == (("hybrid", "softmax"), 9, (3, 9))
    assert cfg.options == {"width": 0.5, "pool": "max"} and cfg.hybrid_relu_layers == 3
    assert (cfg.leak, cfg.lr, cfg.seed, progress) == (0.9, 0.01, 4, False)
    assert out == tmp_path
    cfg = called(agd.main, ["--out", str(tmp_path / "b")])[0]
    assert cfg.options == {"width": 0.25} and cfg.variants == ("softmax", "stochmax", "hybrid")
    with pytest.raises(SystemExit, match="report_steps must lie in 1..6"):
        agd.main(["--out", str(tmp_path / "c"), "--timesteps", "6", "--report-steps", "9"])


def test_sparsity_options_reach_the_job(tmp_path, monkeypatch):
    from neurosnn.experiments import sparsity

    intercept(monkeypatch, sparsity, "run_sparsity")
    args = ["--out", str(tmp_path), "--schedules", "linear", "--sigmas", "1e-3,2e-3"]
    args += ["--tolerance", "0.2", "--epochs", "5", "--train-images", "50"]
    cfg, _, _ = called(sparsity.main, args)
    assert (cfg.schedules, cfg.sigmas, cfg.tolerance) == (("linear",), (1e-3, 2e-3), 0.2)
    assert (cfg.epochs, cfg.train_images, cfg.options) == (5, 50, {})


def test_backres_options_reach_the_job(tmp_path, monkeypatch):
    from neurosnn.experiments import backres

    intercept(monkeypatch, backres, "run_backres")
    args = ["--out", str(tmp_path), "--nets", "vgg7", "--timesteps", "4,2", "--epochs", "2"]
    cfg, _, _, progress = called(backres.main, args + ["--no-progress"])
    assert (cfg.nets, cfg.timesteps, cfg.epochs, progress) == (("vgg7",), (4, 2), 2, False)
    assert cfg.options == {"width": 0.25, "batch_norm": True}
    with pytest.raises(SystemExit, match="unknown networks"):
        backres.main(["--out", str(tmp_path / "b"), "--nets", "vgg99"])


def test_stdp_options_reach_the_job(tmp_path, monkeypatch):
    from neurosnn.experiments import stdp

    intercept(monkeypatch, stdp, "run_stdp")
    args = ["--out", str(tmp_path), "--nets", "stdp3", "--classifiers", "fc", "--nu", "1e-4,2e-3"]
    args += [
        "--timesteps",
        "12",
        "--updates",
        "3",
        "--stdp-batch",
        "4",
        "--rule",
        "weight-dependent",
    ]
    cfg, _, _, _ = called(stdp.main, args)
    assert (cfg.nets, cfg.classifiers, cfg.stdp_batch) == (("stdp3",), ("fc",), 4)
    assert (cfg.stdp.nu, cfg.stdp.timesteps, cfg.stdp.updates) == ((1e-4, 2e-3), 12, 3)
    assert cfg.stdp.rule == "weight-dependent"
    with pytest.raises(SystemExit, match="updates"):
        stdp.main(["--out", str(tmp_path / "b"), "--timesteps", "8", "--updates", "3"])
    with pytest.raises(SystemExit):  # argparse: not a known network
        stdp.main(["--out", str(tmp_path / "c"), "--nets", "stdp9"])


def test_bptt_options_reach_the_job(tmp_path, monkeypatch):
    from neurosnn.experiments import bptt_vs_de

    intercept(monkeypatch, bptt_vs_de, "run_bptt_vs_search", ("load_checkpoint_and_data",))
    args = ["--checkpoint", "ann", "--out", str(tmp_path), "--search", "ne", "--timesteps", "30"]
    args += ["--test-images", "0", "--bptt-timesteps", "8", "--bptt-batches", "2"]
    args += ["--bptt-lr", "0.5", "--cost-timesteps", "2,4", "--cost-batch", "8", "--repeats", "1"]
    cfg, _, _, _, _ = called(bptt_vs_de.main, args)
    assert (cfg.checkpoint, cfg.search, cfg.timesteps, cfg.test_images) == ("ann", "ne", 30, None)
    assert (cfg.finetune.timesteps, cfg.finetune.max_batches, cfg.finetune.lr) == (8, 2, 0.5)
    assert (cfg.cost_timesteps, cfg.cost_batch, cfg.repeats) == ((2, 4), 8, 1)
    with pytest.raises(SystemExit):  # argparse: not integers
        bptt_vs_de.main(args + ["--cost-timesteps", "2,x"])


def test_cost_noise_options_reach_the_job(tmp_path, monkeypatch):
    from neurosnn.experiments import cost_noise

    intercept(monkeypatch, cost_noise, "run_cost_noise", ("load_checkpoint_and_data",))
    args = ["--checkpoint", "ann", "--out", str(tmp_path), "--preset", "quick", "--images", "7"]
    args += ["--timesteps", "11", "--draws", "3", "--candidates", "6", "--seed", "2"]
    scfg, ecfg, ncfg, *_ = called(cost_noise.main, args)
    assert (scfg.images, scfg.timesteps, scfg.seed, scfg.population) == (7, 11, 2, 6)
    assert (ncfg.draws, ncfg.candidates, ecfg.checkpoint) == (3, 6, "ann")
    with pytest.raises(SystemExit, match="draws and candidates must be >= 2"):
        cost_noise.main(args[:4] + ["--draws", "1"])


def parsers() -> list[tuple[str, argparse.ArgumentParser]]:
    """Every command's parser, caught as its ``main`` parses ``--help``."""
    found = []
    original = argparse.ArgumentParser.parse_args

    def catch(self, *args, **kwargs):
        found.append(self)
        raise Called()

    argparse.ArgumentParser.parse_args = catch
    try:
        result = []
        for name, (module, _) in cli.COMMANDS.items():
            with pytest.raises(Called):
                importlib.import_module(module).main(["--help"])
            result.append((name, found.pop()))
        return result
    finally:
        argparse.ArgumentParser.parse_args = original


@pytest.mark.parametrize("name,parser", parsers(), ids=lambda v: v if isinstance(v, str) else "")
def test_help_documents_every_option(name, parser):
    text = parser.format_help()
    assert text.startswith(f"usage: neurosnn {name} "), text.splitlines()[0]
    for action in parser._actions:
        assert action.help, f"neurosnn {name}: {action.option_strings or action.dest} has no help"
        for option in action.option_strings:
            assert option in text, f"neurosnn {name} --help does not show {option}"


def test_search_options_reach_the_job(tmp_path, monkeypatch):
    from neurosnn.experiments import neuroevolve

    intercept(monkeypatch, neuroevolve, "prepare", ())
    monkeypatch.setattr(neuroevolve, "load_source", lambda *a: ("ckpt", "data", "ann"))
    args = ["--checkpoint", "ann", "--out", str(tmp_path), "--preset", "quick", "--alpha", "2"]
    args += ["--generations", "3", "--phi", "0.5", "--bias-onset", "input", "--search-phi"]
    args += ["--test-images", "0", "--eval-timesteps", "30", "--long-horizon", "2"]
    scfg, ecfg, ckpt, data = called(neuroevolve.main, args)
    assert (scfg.alpha, scfg.generations, scfg.phi, scfg.bias_onset) == (2.0, 3, 0.5, "input")
    assert scfg.search_phi and scfg.images == 200  # the rest from the preset
    assert (ecfg.checkpoint, ecfg.test_images, ecfg.timesteps, ecfg.long_horizon) == (
        "ann",
        None,
        30,
        2,
    )


def test_attack_options_reach_the_job(tmp_path, monkeypatch):
    from neurosnn.experiments import adversarial

    intercept(monkeypatch, adversarial, "run_adversarial", ())
    monkeypatch.setattr(adversarial, "load_source", lambda *a: ("ckpt", "data", "ann"))
    args = ["--checkpoint", "ann", "--out", str(tmp_path), "--epsilon", "4/255"]
    args += ["--report-epsilons", "1/255,0.5", "--ans-images", "7", "--snn-attack-images", "0"]
    _, _, scfg, ecfg, acfg, out, resume, progress = called(adversarial.main, args)
    assert acfg.epsilon == pytest.approx(4 / 255) and acfg.report_epsilons == (1 / 255, 0.5)
    assert (acfg.ans_images, acfg.snn_attack_images, out, resume) == (7, 0, tmp_path, False)
    with pytest.raises(SystemExit, match="ans_images must be >= 1"):
        adversarial.main(args[:4] + ["--ans-images", "0"])
    with pytest.raises(SystemExit):  # argparse: ε beyond [0, 1]
        adversarial.main(args[:4] + ["--report-epsilons", "2"])


def test_device_commands_switch_tf32_off_unless_asked():
    # PyTorch lets cuDNN's float32 convolutions round to TF32 by default; every command with
    # --device (its parser is new_parser's) switches it off, so its spikes on CUDA are the
    # CPU's, unless --allow-tf32 is given
    import torch

    from neurosnn.experiments import latency, search_args
    from neurosnn.simulation.tf32 import tf32

    search = search_args.build_parser("python -m experiments.neuroevolve", None, "fashion-mnist")
    for parser, argv in (
        (latency.build_parser(), ["--checkpoint", "c", "--out", "o"]),
        (search, ["--checkpoint", "c", "--out", "o"]),
    ):
        with tf32(True):  # PyTorch's default for cuDNN
            parser.parse_args(argv)
            assert not torch.backends.cudnn.allow_tf32 and not torch.backends.cuda.matmul.allow_tf32
            parser.parse_args([*argv, "--allow-tf32"])
            assert torch.backends.cudnn.allow_tf32 and torch.backends.cuda.matmul.allow_tf32


def test_gpu_memory_sets_this_process_share_on_cuda_only(monkeypatch, capsys):
    # --gpu-memory F: torch's per-process memory fraction on the CUDA device; refused (one
    # line, naming the option) on the CPU or outside (0, 1]
    import torch

    from neurosnn.experiments import latency

    set_to = []
    monkeypatch.setattr(
        torch.cuda, "set_per_process_memory_fraction", lambda f, d: set_to.append((f, d))
    )
    argv = ["--checkpoint", "c", "--out", "o"]
    latency.build_parser().parse_args([*argv, "--device", "cuda:1", "--gpu-memory", "0.25"])
    assert set_to == [(0.25, 1)]
    latency.build_parser().parse_args([*argv, "--device", "cuda"])
    assert len(set_to) == 1  # not given: the whole GPU, nothing set
    for bad, says in (
        (["--device", "cpu", "--gpu-memory", "0.5"], "--gpu-memory: needs a CUDA --device"),
        (["--device", "cuda", "--gpu-memory", "1.5"], "expected a fraction in (0, 1]"),
        (["--device", "cuda", "--gpu-memory", "0"], "expected a fraction in (0, 1]"),
    ):
        with pytest.raises(SystemExit):
            latency.build_parser().parse_args([*argv, *bad])
        assert says in capsys.readouterr().err
    assert len(set_to) == 1
