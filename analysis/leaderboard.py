"""The leaderboard in the field's format, from experiments.latency folders: per network (its
checkpoints, one per seed), one row per recipe, with the accuracy at T = 1, 2, 4, 8, 16, 32,
64 and the steps to ANN − 1% counted without the layer delay (as the field counts), the steps
with it (as Lu & Sengupta count), and the spikes per image; mean and range over the seeds.

    neurosnn leaderboard runs/latency_resnet20 runs/latency_resnet18 --out docs

The page opens with one summary table, network by method: the paper's baseline, its threshold
search, and the best recipe counted each way. Then one table per network, under a heading that
names it (network, activation, seeds and the first folder read), one row per recipe.

Folders that ran the same checkpoints on the same test images (the same ANN accuracies) make
one table: its rows are every folder's recipes, each from the first folder named that ran it
(its last column says which). A folder run with settings other than experiments.latency's
defaults names them beside its recipes (``recipe [search_keep_start]``): another method.

The accuracy at T is read from the run without the layer delay: a graph's RECIPE.delay-none.h5,
or, for a chain whose biases wait for their input (the onset), the delayed run shifted by the
depth (the same run exactly; tests/test_latency_modes.py). A chain run without the onset has no
undelayed run: "–".
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from neurosnn.errors import UserError
from neurosnn.io.output import atomic
from neurosnn.io.record import read_run

STEPS = (1, 2, 4, 8, 16, 32, 64)


def undelayed_accuracy(folder: Path, recipe: str, depth: int, run) -> np.ndarray | None:
    """A recipe's accuracy per step without the layer delay, or None where no run gives it
    (``run``: the recipe's record)."""
    plain = folder / f"{recipe}.delay-none.h5"
    if plain.is_file():
        return np.asarray(read_run(plain).accuracy)
    if run.simulation.get("delay") == "none":
        return np.asarray(run.accuracy)
    if run.simulation.get("bias_onset") == "input":
        return np.asarray(run.accuracy)[depth:]  # step t + D of the delayed run is step t
    return None


@dataclass
class Section:
    """One latency folder's figures: its network and data set, checkpoints (one per seed),
    their ANN accuracies and ``{recipe: one dict of figures per seed}``."""

    folder: str
    network: str
    kind: str
    checkpoints: list[str]
    anns: list[float]
    rows: dict[str, list[dict[str, Any]]]


# what a folder measures on, not how its SNNs are made: left out of the labels (the test
# images show in the ANN accuracies, which tell tables apart)
MEASUREMENT = ("recipes", "timesteps", "long_horizon", "test_images", "batch_size", "seed")


def changed(config: dict[str, Any]) -> list[str]:
    """The settings of a latency folder's ``config`` that make its SNNs other than the job's
    defaults do (``search.population=20``; a switch on by its name; ``MEASUREMENT`` aside); a
    setting the folder predates counts as its default."""
    from neurosnn.io.output import as_saved, with_defaults
    from neurosnn.jobs.latency import LatencyConfig

    defaults = as_saved(LatencyConfig())
    config = with_defaults(config, defaults)
    out = []
    for key, value in sorted(config.items()):
        default = defaults.get(key)
        if key in MEASUREMENT or value == default:
            continue
        if isinstance(value, dict) and isinstance(default, dict):
            out += [f"{key}.{k}={v}" for k, v in sorted(value.items()) if default.get(k) != v]
        else:
            out.append(key if value is True else f"{key}={value}")
    return out


def _plain(name: str, where: Path) -> None:
    """Refuse a name from ``where`` that is not one file name in its folder (a crafted
    ``../../elsewhere`` would have the board read records outside the folder named)."""
    if not isinstance(name, str) or name in ("", ".", "..") or any(c in name for c in "/\\\0"):
        raise UserError(f"{where} names {name!r}, which is not a file in its folder")


def seed_rows(latency: Path) -> Section:
    """The figures of a latency folder; one that is not as ``neurosnn latency`` wrote it is
    refused in one line (``UserError``)."""
    try:
        return _seed_rows(latency)
    except (UserError, SystemExit):
        raise
    except (KeyError, TypeError, ValueError, AttributeError, IndexError, ArithmeticError) as err:
        raise UserError(
            f"{latency / 'latency.json'} is not a latency summary neurosnn wrote: {err!r}"
        ) from err
    except FileNotFoundError as err:
        raise UserError(f"{latency}: a record its latency.json names is missing: {err}") from err


def _seed_rows(latency: Path) -> Section:
    summary_file = latency / "latency.json"
    if not summary_file.is_file():
        raise SystemExit(f"error: {latency} holds no latency.json (an experiments.latency --out)")
    try:
        summary = json.loads(summary_file.read_text())
        checkpoints = summary["checkpoints"]
        for name, ck in checkpoints.items():
            _plain(name, summary_file)
            for recipe in ck["recipes"]:
                _plain(f"{recipe}.h5", summary_file)
    except (UnicodeDecodeError, ValueError, KeyError, TypeError, AttributeError) as err:
        raise UserError(f"{summary_file} is not a latency summary neurosnn wrote: {err!r}") from err
    rows: dict[str, list[dict[str, Any]]] = {}
    network, kind, anns = None, "", []
    label = ", ".join(changed(summary.get("config", {})))
    for name, ck in summary["checkpoints"].items():
        folder, depth = latency / name, int(ck["depth"])
        anns.append(ck["ann_accuracy"])
        for recipe, r in ck["recipes"].items():
            m = r["metrics"]
            run = read_run(folder / f"{recipe}.h5")
            if network is None:
                spec = run.metadata["network"]
                network = f"{spec['name']} on {run.metadata.get('dataset', '?')}"
                kind = activation(spec.get("options", {}))
            acc = undelayed_accuracy(folder, recipe, depth, run)
            row = {f"t={t}": None if acc is None or len(acc) < t else acc[t - 1] for t in STEPS}
            # absent (a chain without the onset has no undelayed run): "–"; None: "> T"
            row["delay none"] = m.get("steps_to_ann_minus_1pct_delay_none", "–")
            # a recipe run without the layer delay (SRP) has no count with it
            delayed = run.simulation.get("delay", "layer") == "layer"
            row["layer delay"] = m.get("steps_to_ann_minus_1pct") if delayed else "–"
            row["spikes/image"] = m.get("spikes_per_image")
            row["T"] = summary["config"]["timesteps"]
            rows.setdefault(f"{recipe} [{label}]" if label else recipe, []).append(row)
    return Section(latency.name, network or "?", kind, list(summary["checkpoints"]), anns, rows)


def activation(options: dict[str, Any]) -> str:
    """What the network was trained with: "ReLU", "QCFS L=4", "NQ L=4"."""
    name = str(options.get("activation", "relu"))
    if name == "relu":
        return "ReLU"
    levels = options.get("levels")
    return f"{name.upper()} L={levels}" if levels else name.upper()


def merged(sections: list[Section]) -> list[tuple[Section, dict[str, str]]]:
    """Sections of the same network, checkpoints and ANN accuracies (the same test images)
    made one, in the order first named: ``(section, {recipe: the folder its row is from})``;
    a recipe run in several folders keeps the first folder's figures."""
    out: dict[tuple, tuple[Section, dict[str, str]]] = {}
    for s in sections:
        key = (s.network, tuple(s.checkpoints), tuple(s.anns))
        if key not in out:
            out[key] = (Section(s.folder, s.network, s.kind, s.checkpoints, s.anns, {}), {})
        section, source = out[key]
        for recipe, values in s.rows.items():
            if recipe not in section.rows:
                section.rows[recipe], source[recipe] = values, s.folder
    return list(out.values())


def _cell(values: list, key: str) -> str:
    """Mean (min–max) over seeds; a step count some seeds miss lists the others ("> T": not
    within the T simulated)."""
    got = [v[key] for v in values]
    if "–" in got:
        return "–"
    if key in ("delay none", "layer delay") and any(g is None for g in got):
        within = [f"{g:g}" for g in got if g is not None]
        missed = f"> {values[0]['T']}"
        if not within:
            return missed
        return f"{', '.join(within)}; {missed} on {len(got) - len(within)}/{len(got)} seeds"
    if any(g is None for g in got):
        return "–"
    scale = 100 if key.startswith("t=") else 1
    nums = [scale * float(g) for g in got]
    fmt = "{:,.0f}" if key == "spikes/image" else "{:.1f}" if scale == 100 else "{:g}"
    mean = fmt.format(float(np.mean(nums)))
    if fmt == "{:g}":  # steps: a mean to one decimal, whole counts as they are
        mean = f"{float(np.mean(nums)):.1f}".removesuffix(".0")
    if len(nums) == 1 or min(nums) == max(nums):
        return mean
    return f"{mean} ({fmt.format(min(nums))}–{fmt.format(max(nums))})"


def heading(section: Section) -> str:
    """A section's name, distinct on the page: its network, activation, seeds and first folder."""
    seeds = f"{len(section.anns)} seed{'s' * (len(section.anns) > 1)}"
    return f"{section.network}, {section.kind}, {seeds} (`{section.folder}`)"


def _mean_steps(values: list[dict[str, Any]], key: str) -> float:
    """The mean step count of a recipe over the seeds; infinite where a seed misses it or no
    run gives it (such a recipe is never the best)."""
    got = [v[key] for v in values]
    if any(g is None or g == "–" for g in got):
        return float("inf")
    return float(np.mean(got))


def best(rows: dict[str, list[dict[str, Any]]], key: str) -> str:
    """The recipe with the fewest mean steps for ``key``, as "steps — `recipe`"; "–" if none
    reaches ANN − 1% on every seed."""
    if not rows:
        return "–"
    recipe = min(rows, key=lambda r: _mean_steps(rows[r], key))
    if _mean_steps(rows[recipe], key) == float("inf"):
        return "–"
    return f"{_cell(rows[recipe], key)}: `{recipe}`"


SUMMARY = (
    "network",
    "ANN",
    "paper's baseline (`all`), no delay / layer delay",
    "paper's search (`all+search`), layer delay",
    "best recipe, no delay",
    "best recipe, layer delay",
)


def summary(sections: list[tuple[Section, dict[str, str]]]) -> str:
    """Network by method: steps to ANN − 1%, mean (range) over the seeds."""
    lines = ["| " + " | ".join(SUMMARY) + " |", "|" + "---|" * len(SUMMARY)]
    for section, _ in sections:
        rows = section.rows
        ann = f"{100 * float(np.mean(section.anns)):.2f}%"
        base = rows.get("all")
        baseline = f"{_cell(base, 'delay none')} / {_cell(base, 'layer delay')}" if base else "–"
        searched = _cell(rows["all+search"], "layer delay") if "all+search" in rows else "–"
        cells = [heading(section), ann, baseline, searched]
        cells += [best(rows, "delay none"), best(rows, "layer delay")]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def table(rows: dict[str, list[dict[str, Any]]], source: dict[str, str]) -> str:
    keys = [f"t={t}" for t in STEPS] + ["delay none", "layer delay", "spikes/image"]
    head = (
        ["recipe"]
        + [
            "ANN−1% (no delay)"
            if k == "delay none"
            else "ANN−1% (layer delay)"
            if k == "layer delay"
            else k
            for k in keys
        ]
        + ["folder"]
    )
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for recipe, values in rows.items():
        cells = [recipe] + [_cell(values, k) for k in keys] + [f"`{source[recipe]}`"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def leaderboard(folders: list[Path], command: str) -> str:
    parts = [
        "# Leaderboard",
        "",
        "Accuracy (%) at T steps without the layer delay (all layers within a step, as the "
        "field counts), steps to ANN − 1% counted both ways, spikes per image over T; mean "
        "(range) over the seeds of each network, on the same test images for every recipe. "
        '"> T": not within the T simulated; "–": no run gives it. Generated by',
        "",
        f"    {command}",
        "",
        "from the `neurosnn latency` folders named there (how each was run: "
        "[results](results.md#low-latency)).",
    ]
    sections = merged([seed_rows(folder) for folder in folders])
    parts += ["", "## Summary", "", "Steps to ANN − 1%, mean (range) over the seeds.", ""]
    parts += [summary(sections)]
    for section, source in sections:
        ann = ", ".join(f"{100 * a:.2f}%" for a in section.anns)
        checkpoints = ", ".join(section.checkpoints)
        parts += ["", f"## {heading(section)}", "", f"Checkpoints {checkpoints}; ANN on the same "]
        parts[-1] += f"test images: {ann}."
        parts += ["", table(section.rows, source)]
    return "\n".join(parts) + "\n"


def main(argv: list[str] | None = None) -> int:
    from neurosnn.experiments.parser import main as run_command
    from neurosnn.experiments.plots import LEADERBOARD

    return run_command(LEADERBOARD, argv)


def run(job) -> int:
    args = job.plot
    folders = [Path(f) for f in args.folders]
    for f in folders:
        if not f.is_dir():
            raise SystemExit(f"error: {f} is not a folder (a neurosnn latency --out)")
    text = leaderboard(folders, job.command_line)
    if args.out is None:
        print(text, end="")
        return 0
    page = Path(args.out)
    if page.suffix == ".md":
        print(f"note: --out {page} is 0.2's form; from 0.3 on --out DIR writes DIR/leaderboard.md")
    else:
        page.mkdir(parents=True, exist_ok=True)
        page = page / "leaderboard.md"
    with atomic(page) as tmp:
        tmp.write_text(text, encoding="utf-8")
    print(page)
    return 0


if __name__ == "__main__":
    sys.exit(main())
