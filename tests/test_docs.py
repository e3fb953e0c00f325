"""The pages say what the package does: every `neurosnn …` command in the README and the docs
parses with the command's generated parser as pasted, the Home page's example runs, the
tutorials' commands run as written (at toy sizes) and make the figures their pages show, and
the page checks of `make docs` catch what they are for."""

import re
import shlex
from pathlib import Path

import pytest
import torch
from torch import nn

ROOT = Path(__file__).resolve().parent.parent
SUBSET = ROOT / "data" / "fashion-mnist-subset"
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
FENCE = re.compile(r"```(\w*)\n(.*?)```", re.S)


def blocks(page: Path, language: str) -> list[str]:
    return [body for lang, body in FENCE.findall(page.read_text()) if lang == language]


def commands(page: Path) -> list[tuple[str, bool]]:
    """The `neurosnn …` commands of a page: the lines of its bash blocks (continuations
    joined, comments and redirections dropped), whole commands; and the mentions in its
    inline code, whose options must exist. ``(command, whole)``."""
    text = page.read_text()
    found = []
    for body in blocks(page, "bash"):
        for line in body.replace("\\\n", " ").splitlines():
            line = re.sub(r"\s+(#|>).*$", "", line.strip())
            line = re.sub(r"^[A-Z_]+=\S+\s+", "", line)  # an environment variable before it
            if line.startswith("neurosnn "):
                found.append((line, True))
    prose = FENCE.sub("", text)
    for code in re.findall(r"`([^`\n]+)`", prose):
        code = re.sub(r"^[A-Z_]+=\S+\s+", "", code)
        if code.startswith("neurosnn ") and len(code.split()) > 2:
            found.append((code, False))
    return found


def all_commands() -> list[tuple[str, str, bool]]:
    return [(str(p.relative_to(ROOT)), c, whole) for p in PAGES for c, whole in commands(p)]


def parse_command(line: str, whole: bool = True) -> None:
    """Parse ``line`` as ``neurosnn`` would, without running it (SystemExit(0) for --help);
    of a mention (not ``whole``), check only that its options exist."""
    from neurosnn.experiments import cli
    from neurosnn.experiments.commands import COMMANDS, RENAMED
    from neurosnn.experiments.parser import build_parser, parse

    argv = shlex.split(line)[1:]
    if argv[0] in ("--help", "--version"):
        return
    name, rest = argv[0], argv[1:]
    if name in RENAMED:
        raise AssertionError(f"{line}: {name} is an old name")
    assert name in COMMANDS, f"{line}: no command {name}"
    command = cli.spec(name)
    if name == "plot":
        assert rest and rest[0] in command, f"{line}: no plot kind {rest[:1]}"
        command, rest = command[rest[0]], rest[1:]
    if not whole:
        known = build_parser(command)._option_string_actions
        unknown = [a for a in rest if a.startswith("--") and a.partition("=")[0] not in known]
        assert not unknown, f"{line}: no option {unknown}"
        return
    if "--config" in rest:  # the file the page made first: parse the rest
        i = rest.index("--config")
        rest = rest[:i] + rest[i + 2 :]
    parse(command, rest)


def test_the_pages_hold_commands_and_no_placeholders():
    found = all_commands()
    assert len(found) > 40
    bad = [f"{page}: {c}" for page, c, _ in found if "…" in c or "|" in c or "..." in c]
    assert not bad, "commands that do not run as pasted:\n" + "\n".join(bad)


@pytest.mark.parametrize("page,line,whole", all_commands())
def test_every_command_in_the_pages_parses(page, line, whole, capsys):
    try:
        parse_command(line, whole)
    except SystemExit as stop:
        assert stop.code in (0, None), f"{page}: {line}\n{capsys.readouterr().err}"


def test_the_homes_example_runs(tmp_path, monkeypatch):
    (code,) = blocks(ROOT / "docs" / "index.md", "python")
    monkeypatch.chdir(tmp_path)
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.AvgPool2d(4), nn.Flatten(), nn.Linear(196, 10)
    )
    code = code.replace('"data/fashion-mnist-subset"', repr(str(SUBSET)))
    scope = {"model": model.eval()}
    exec(compile(code, "docs/index.md", "exec"), scope)
    assert len(scope["run"].accuracy) == 64
    assert (tmp_path / "mine.snn.h5").is_file() and (tmp_path / "mine.nir").is_file()


# the sizes the tutorials' commands run at in the tests (appended: a later option wins)
TOY = {
    "search": "--population 5 --generations 1 --images 16 --timesteps 12 --test-images 32 "
    "--eval-timesteps 12 --long-horizon 1 --calib-images 64 --pca-images 16",
    "latency": "--population 5 --generations 1 --images 16 --timesteps 12 --eq11-timesteps 12 "
    "--target-timesteps 12 --test-images 32 --long-horizon 1 --calib-images 64",
    "demo": None,  # the tests train the checkpoint the demo would (below)
}
TOY["attack"] = TOY["search"] + " --ans-images 8"


def run_cli(line: str) -> None:
    from neurosnn.experiments import cli

    argv = shlex.split(line)[1:]
    extra = TOY.get(argv[0], "")
    if extra is None:
        return
    if argv[0] in ("search", "attack", "latency"):
        extra += f" --data-root {SUBSET} --no-progress"
    assert cli.main(argv + shlex.split(extra)) == 0, line


def tutorial(name: str, tmp_path: Path, monkeypatch) -> Path:
    """Run a CLI tutorial's commands in ``tmp_path`` at toy sizes, on a small checkpoint where
    the demo's would be; check each figure the page shows is one its commands made."""
    from neurosnn.experiments import cli

    page = ROOT / "docs" / "tutorials" / f"{name}.md"
    monkeypatch.chdir(tmp_path)
    train = "train --dataset fashion-mnist --net vgg5 --option width=0.125 --epochs 1 "
    train += f"--data-root {SUBSET} --train-images 512 --no-progress --out runs/quickstart/ann"
    assert cli.main(train.split()) == 0
    for body in blocks(page, "bash"):
        for line in body.replace("\\\n", " ").splitlines():
            if line.startswith("neurosnn "):
                run_cli(line)
    made = {p.name for p in (tmp_path / "runs").rglob("*.png")}
    shown = re.findall(r"\]\(\.\./figures/[^)]+/([^/)]+\.png)\)", page.read_text())
    assert shown and set(shown) <= made, f"{page.name} shows {set(shown) - made}, not made"
    return page


@pytest.mark.slow
def test_the_threshold_search_tutorial_runs_as_written(tmp_path, monkeypatch):
    page = tutorial("threshold-search", tmp_path, monkeypatch)
    (code,) = blocks(page, "python")
    small = 'replace(PRESETS["quick"], population=5, generations=1, images=16, timesteps=12)'
    code = code.replace('PRESETS["quick"]', small).replace("test_images=1000", "test_images=32")
    subset = f"load_dataset(ckpt.dataset, {str(SUBSET)!r})"
    code = code.replace("load_dataset(ckpt.dataset)", subset)
    scope: dict = {}
    exec(compile("from dataclasses import replace\n" + code, page.name, "exec"), scope)
    assert len(scope["summary"]["thresholds"]) == 4  # one per IF layer of the toy VGG5


@pytest.mark.slow
def test_the_robustness_tutorial_runs_as_written(tmp_path, monkeypatch):
    tutorial("robustness", tmp_path, monkeypatch)


def test_the_page_checks_catch_what_they_are_for(tmp_path, monkeypatch):
    import importlib.util

    spec = importlib.util.spec_from_file_location("check_docs", ROOT / "scripts" / "check_docs.py")
    check = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(check)
    assert check.problems() == []  # the pages as they are
    docs = tmp_path / "docs"
    (docs / "figures").mkdir(parents=True)
    (docs / "figures" / "orphan.png").write_bytes(b"\x89PNG")
    long_cell = "| a |\n|---|\n| " + "x" * 401 + " |\n"
    (docs / "results.md").write_text(
        "Measured on this CPU in 2026-01-02 beside other jobs.\n\n" + long_cell
    )
    monkeypatch.setattr(check, "ROOT", tmp_path)
    monkeypatch.setattr(check, "DOCS", docs)
    (tmp_path / "README.md").write_text("# readme\n")
    found = "\n".join(check.problems())
    for what in ("this CPU", "a date", "beside other jobs", "401 characters", "orphan.png"):
        assert what in found
