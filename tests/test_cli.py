"""The command line is generated from the jobs' configs: every command's --help follows the
same rules, one concept has one name and one meaning everywhere, options reach the configs
unchanged, a bad value is one line naming its option, and any run reruns from its
config.yaml."""

import argparse
import importlib
import subprocess
import sys

import pytest
import yaml

from neurosnn.config.fields import GROUPS
from neurosnn.experiments import cli
from neurosnn.experiments.config_files import dump
from neurosnn.experiments.parser import BadOption, build_parser, entries, parse
from neurosnn.experiments.plots import PLOTS


def commands() -> dict:
    """Every command: the subcommands and each ``neurosnn plot KIND``."""
    found = {name: cli.spec(name) for name in cli.COMMANDS if name != "plot"}
    found.update({f"plot {kind}": command for kind, command in PLOTS.items()})
    return found


COMMANDS = commands()
# the smallest command line of each command that parses
MINIMAL = {
    "demo": [],
    "train": ["--out", "o"],
    "convert": ["--checkpoint", "c", "--out", "o"],
    "search": ["--checkpoint", "c", "--out", "o"],
    "latency": ["--checkpoint", "c", "--out", "o"],
    "attack": ["--checkpoint", "c", "--out", "o"],
    "bptt": ["--checkpoint", "c", "--out", "o"],
    "agd": ["--out", "o"],
    "sparsity": ["--out", "o"],
    "backres": ["--out", "o"],
    "stdp": ["--out", "o"],
    "cost-noise": ["--checkpoint", "c", "--out", "o"],
    "export": ["--snn", "s.snn.h5", "--out", "o"],
    "bench": [],
    "inspect": ["r.h5"],
    "leaderboard": ["lat"],
    "plot frontier": ["a.h5", "--out", "o"],
    "plot srp": ["x.snn.h5"],
}
# options shared by several commands whose default is one default everywhere, but for: the
# demo, the main job on an embedded default (its figures are measured on 1,000 test images,
# into runs/quickstart); bench, whose --out is optional (it prints its table); export, whose
# --out a deprecated --nir FILE may stand in for
ONE_DEFAULT = {
    "--test-images",
    "--device",
    "--out",
    "--progress",
    "--tensorboard",
    "--checkpoint",
    "--model",
    "--weights",
    "--input-shape",
    "--data-root",
    "--seed",
    "--calib-images",
    "--allow-tf32",
    "--gpu-memory",
}
OWN_DEFAULT = {
    ("plot srp", "--test-images"),  # SRP's masks are counted on 500 images by default
    ("demo", "--test-images"),
    ("demo", "--seed"),
    ("demo", "--data-root"),
    ("demo", "--out"),
    ("bench", "--out"),
    ("bench", "--input-shape"),  # random inputs: no data set to take the shape from
    ("export", "--out"),
}


def minimal(name: str) -> list[str]:
    return MINIMAL.get(name, ["f"] if name.startswith("plot ") else [])


def options(name: str) -> list[argparse.Action]:
    return [a for a in build_parser(COMMANDS[name])._actions if a.option_strings]


@pytest.mark.parametrize("name", COMMANDS)
def test_every_help_follows_the_rules(name):
    command = COMMANDS[name]
    parser = build_parser(command)
    text = parser.format_help()
    assert text.startswith(f"usage: neurosnn {name} "), text.splitlines()[0]
    assert "``" not in text and ":func:" not in text  # no raw reST
    titles = {g.title for g in parser._action_groups if g._group_actions}
    assert titles <= {"options", "positional arguments"} | {f"{g} options" for g in GROUPS}
    generic = next(g for g in parser._action_groups if g.title == "options")
    assert [a.dest for a in generic._group_actions] == ["help"]  # every option in its group
    for action in parser._actions:
        if action.help == argparse.SUPPRESS:
            continue  # a retired flag, accepted for a release
        assert action.help, f"neurosnn {name}: {action.option_strings or action.dest} has no help"
        for flag in action.option_strings:
            assert flag in text
        shows_default = "(default: " in action.help
        plain = action.required or not action.option_strings or action.dest in (
            "help", "config", "print_config"
        ) or action.nargs == 0 and action.default == argparse.SUPPRESS  # fmt: skip
        assert shows_default != plain, f"neurosnn {name} {action.option_strings}: {action.help}"
    assert command.examples, f"neurosnn {name} shows no example"
    for example in command.examples:
        assert example.startswith(f"neurosnn {name}"), example
        assert example in text.replace("\n  ", "\n")


def test_one_concept_one_name_one_meaning():
    """An option of the same name is in the same group, with the same help, in every command;
    the shared concepts have one default too."""
    seen: dict[str, tuple] = {}
    for name, command in COMMANDS.items():
        analysis = name.startswith(("plot ", "inspect", "leaderboard"))
        for part in command.parts:
            for entry in entries(part):
                flag = f"--{entry.name}"
                if entry.opt.positional or analysis and flag == "--out":
                    continue  # the files a command reads; an analysis writes beside them
                help_text, group = entry.opt.help, entry.opt.group
                if flag in seen:
                    first, (other_help, other_group, other_default) = seen[flag]
                    assert group == other_group, (
                        f"{flag}: {group} in {name}, {other_group} in {first}"
                    )
                    assert help_text == other_help or flag in ("--timesteps",), (
                        f"{flag} means two things: {name}: {help_text!r}; {first}: {other_help!r}"
                    )
                    if flag in ONE_DEFAULT and (name, flag) not in OWN_DEFAULT:
                        assert entry.default == other_default, f"{flag}: {name} vs {first}"
                elif (name, flag) not in OWN_DEFAULT:
                    seen[flag] = (name, (help_text, group, entry.default))
    for flag in ("--test-images", "--device", "--out", "--progress", "--checkpoint", "--model"):
        assert flag in seen
    assert seen["--test-images"][1][2] == 0  # 0: all of them


@pytest.mark.parametrize("name", [n for n in COMMANDS if not n.startswith("plot ") or n in MINIMAL])
def test_a_config_file_gives_the_same_job(name, tmp_path):
    """--config works on every command: the options a run resolved, written as its
    config.yaml, parse to the same configs."""
    command = COMMANDS[name]
    built = parse(command, minimal(name))
    saved = tmp_path / "config.yaml"
    saved.write_text(dump(command, built))
    positional = [w for w in minimal(name) if not w.startswith("--")][
        : int(name.startswith(("inspect", "leaderboard", "plot")))
    ]
    assert parse(command, [*positional, "--config", str(saved)]) == built
    assert yaml.safe_load(saved.read_text())["command"] == command.name


def test_options_given_override_the_config_file(tmp_path):
    command = COMMANDS["convert"]
    saved = tmp_path / "config.yaml"
    saved.write_text(
        dump(command, parse(command, ["--checkpoint", "c", "--out", "o", "--phi", "0.5"]))
    )
    again = parse(command, ["--config", str(saved), "--timesteps", "16"])
    assert (again["convert"].phi, again["convert"].timesteps) == (0.5, 16)
    assert again["source"].checkpoint == ("c",) and again["output"].out == "o"


@pytest.mark.parametrize(
    "content, says",
    [
        ("convert: {timesteps: many}", "convert.timesteps = 'many' is not a int"),
        ("convert: {warp: 3}", "unknown option convert.warp"),
        ("engine: fast", "unknown option engine"),
        ("command: search", "a config of another command"),
        ("[1, 2]", "holds no mapping"),
        ("convert: {engine: turbo}", "is not one of fast, reference"),
    ],
)
def test_a_bad_config_file_is_one_line(tmp_path, capsys, content, says):
    saved = tmp_path / "bad.yaml"
    saved.write_text(content)
    with pytest.raises(BadOption, match=says):
        parse(COMMANDS["convert"], ["--checkpoint", "c", "--out", "o", "--config", str(saved)])
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: argument --config")


@pytest.mark.parametrize(
    "name, argv, says",
    [
        ("convert", ["--timesteps", "abc"], "argument --timesteps: invalid int value: 'abc'"),
        ("convert", ["--percentile", "120"], "--percentile must be in (0, 100]"),
        ("convert", ["--phi", "1.5"], "--phi must be in [0, 1), got 1.5"),
        ("convert", ["--warp", "3"], "unrecognized arguments: --warp 3"),
        ("convert", ["--recipe", "phi+warp"], "recipe 'phi+warp': unknown token 'warp'"),
        ("latency", ["--recipes", "trained+balance"], "'trained' and 'balance'"),
        ("search", ["--population", "3"], "--population must be >= 5"),
        ("search", ["--iso-time", "999"], "--iso-time must be <= T"),
        ("search", ["--checkpoint", "d"], "this command reads one network, got 2"),
        ("train", ["--optimizer", "rmsprop"], "invalid choice: 'rmsprop'"),
        ("agd", ["--timesteps", "6", "--report-steps", "9"], "--report-steps must lie in 1..6"),
        ("attack", ["--epsilon", "2"], "--epsilon must be in [0, 1]"),
        ("bench", ["--input-shape", "1,28"], "--input-shape must be C,H,W"),
        ("convert", ["--model", "m:f"], "--weights: --model needs --weights"),
        ("convert", ["--device", "cpu", "--gpu-memory", "0.5"], "--gpu-memory: needs a CUDA"),
        ("convert", ["--gpu-memory", "1.5"], "--gpu-memory: expected a fraction in (0, 1]"),
    ],
)
def test_a_bad_value_is_one_line_naming_its_option(name, argv, says, capsys):
    base = ["--out", "o"] if "--model" in argv else MINIMAL[name]
    with pytest.raises(BadOption) as err:
        parse(COMMANDS[name], [*base, *argv])
    assert says in str(err.value) and err.value.code == 2
    printed = capsys.readouterr().err
    assert printed.count("\n") == 1 and says in printed and f"(neurosnn {name} --help)" in printed


def test_help_and_bad_options_load_no_torch():
    """The command line answers before the simulator is imported (the whole of --help's and a
    bad option's cost is parsing)."""
    code = (
        "import sys\n"
        "from neurosnn.experiments import cli\n"
        "for argv in (['latency', '--help'], ['convert', '--timesteps', 'x', '--out', 'o'],\n"
        "             ['plot', 'latency', '--help'], ['latency', '--list-recipes']):\n"
        "    try:\n"
        "        cli.main(argv)\n"
        "    except SystemExit:\n"
        "        pass\n"
        "print('LOADED', sorted(m for m in ('torch', 'bindsnet', 'matplotlib', 'h5py') "
        "if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.splitlines()[-1] == "LOADED []"


def test_options_reach_the_configs():
    argv = ["--checkpoint", "c", "--out", "o", "--phi", "0.5", "--channelwise", "--no-save-snn"]
    convert = parse(COMMANDS["convert"], [*argv, "--test-images", "64"])
    c = convert["convert"]
    assert (c.phi, c.channelwise, c.save_snn, c.test_images) == (0.5, True, False, 64)
    latency = parse(COMMANDS["latency"], ["--checkpoint", "a", "--checkpoint", "b", "--out", "o",
                    "--recipes", "all,phi+onset", "--recipes", "srp=4", "--population", "7",
                    "--images", "64"])  # fmt: skip
    lat = latency["latency"]
    assert latency["source"].checkpoint == ("a", "b")
    assert lat.recipes == ("all", "phi+onset", "srp=4")  # repeated and comma-separated
    assert (lat.search.population, lat.search.images, lat.search.generations) == (7, 64, 6)
    argv = ["--checkpoint", "c", "--out", "o", "--preset", "quick", "--alpha", "2"]
    argv += ["--eval-timesteps", "30", "--search-phi", "--ray", "local"]
    search = parse(COMMANDS["search"], argv)
    s, e = search["search"], search["evaluation"]
    assert (s.alpha, s.search_phi, s.images, s.population) == (2.0, True, 200, 6)  # the preset's
    assert (e.timesteps, e.ray_address, e.test_images) == (30, "local", 0)
    attack = parse(COMMANDS["attack"], ["--checkpoint", "c", "--out", "o", "--epsilon", "4/255",
                   "--report-epsilons", "1/255,0.5"])  # fmt: skip
    assert attack["attack"].epsilon == pytest.approx(4 / 255)
    assert attack["attack"].report_epsilons == pytest.approx((1 / 255, 0.5))
    assert attack["search"].images == 500  # the adversarial Fashion-MNIST preset
    train = parse(COMMANDS["train"], ["--out", "o", "--option", "width=0.5", "--option", "pool=max",
                  "--epochs", "3"])  # fmt: skip
    assert train["network"].options == {"width": 0.5, "pool": "max"}
    assert train["training"].epochs == 3
    bptt = parse(COMMANDS["bptt"], ["--checkpoint", "c", "--out", "o", "--bptt-timesteps", "8",
                 "--bptt-batches", "2", "--cost-timesteps", "2,4"])  # fmt: skip
    b = bptt["bptt"]
    assert (b.finetune.timesteps, b.finetune.max_batches, b.cost_timesteps) == (8, 2, (2, 4))
    stdp = parse(COMMANDS["stdp"], ["--out", "o", "--net", "stdp3", "--nu", "1e-4,2e-3",
                 "--timesteps", "12", "--updates", "3", "--rule", "weight-dependent"])  # fmt: skip
    st = stdp["stdp"]
    assert (st.nets, st.stdp.nu, st.stdp.timesteps, st.stdp.updates) == (
        ("stdp3",),
        (1e-4, 2e-3),
        12,
        3,
    )
    noise = parse(COMMANDS["cost-noise"], ["--checkpoint", "c", "--out", "o", "--preset", "quick",
                  "--images", "7", "--draws", "3"])  # fmt: skip
    assert (noise["search"].images, noise["noise"].draws) == (7, 3)


def test_old_spellings_still_work_with_a_note(capsys):
    bench = parse(COMMANDS["bench"], ["--input", "3,8,8", "--batch", "2,4"])
    assert bench["bench"].input_shape == (3, 8, 8) and bench["bench"].batch_size == (2, 4)
    err = capsys.readouterr().err
    assert "--input is --input-shape since neurosnn 0.3" in err and "--batch is --batch-size" in err
    backres = parse(COMMANDS["backres"], ["--out", "o", "--nets", "vgg7,vgg2x4"])
    assert backres["backres"].nets == ("vgg7", "vgg2x4")
    parse(COMMANDS["search"], [*MINIMAL["search"], "--resume"])
    assert "--resume is retired since neurosnn 0.3" in capsys.readouterr().err


def test_the_neurosnn_command_dispatches_plots(capsys, tmp_path):
    assert cli.main(["plot", "--help"]) == 0
    listing = capsys.readouterr().out
    assert all(f"  {kind} " in listing for kind in PLOTS)
    assert cli.main(["plot", "warp"]) == 2
    assert "unknown plot 'warp'" in capsys.readouterr().err
    with pytest.raises(SystemExit, match="no run file"):  # 0.2's form: plot RUN.h5
        cli.main(["plot", str(tmp_path / "missing.h5")])
    assert "neurosnn plot run RUN.h5 since 0.3" in capsys.readouterr().err
    with pytest.raises(SystemExit, match="is not a folder"):
        cli.main(["plot-search", str(tmp_path / "none")])
    assert "neurosnn plot-search is neurosnn plot search" in capsys.readouterr().err


@pytest.mark.parametrize("name", [n for n in cli.COMMANDS if n != "plot"])
def test_python_m_experiments_runs_the_same_command(name):
    """``python -m experiments.X`` (the user's experiment modules) is ``neurosnn X``."""
    module, _, attr = cli.COMMANDS[name][0].partition(":")
    if not module.startswith("neurosnn.experiments.") or module.endswith(".plots"):
        return
    mod = importlib.import_module(module)
    assert getattr(mod, attr).name == name
    with pytest.raises(SystemExit) as done:
        mod.main(["--help"])
    assert done.value.code == 0


def test_device_commands_switch_tf32_off_unless_asked():
    # PyTorch lets cuDNN's float32 convolutions round to TF32 by default; every command
    # switches it off (its spikes on CUDA are then the CPU's) unless --allow-tf32 is given
    import torch

    from neurosnn.simulation.tf32 import tf32

    for allow in ((), ("--allow-tf32",)):
        hardware = parse(COMMANDS["latency"], [*MINIMAL["latency"], "--device", "cpu", *allow])
        with tf32(True):  # PyTorch's default for cuDNN
            hardware["hardware"].apply()
            on = bool(allow)
            assert torch.backends.cudnn.allow_tf32 is on
            assert torch.backends.cuda.matmul.allow_tf32 is on


def test_gpu_memory_sets_this_process_share_on_cuda_only(monkeypatch):
    import torch

    set_to = []
    monkeypatch.setattr(
        torch.cuda, "set_per_process_memory_fraction", lambda f, d: set_to.append((f, d))
    )
    argv = [*MINIMAL["latency"], "--device", "cuda:1", "--gpu-memory", "0.25"]
    assert parse(COMMANDS["latency"], argv)["hardware"].apply() == "cuda:1"
    assert set_to == [(0.25, 1)]
    parse(COMMANDS["latency"], [*MINIMAL["latency"], "--device", "cuda"])["hardware"].apply()
    assert len(set_to) == 1  # not given: the whole GPU, nothing set
