"""The recipe grammar: every name of the latency tables parses to the recipe it always meant,
any valid combination parses and prints back canonically, a bad one is one line."""

import subprocess
import sys

import pytest

from neurosnn.config.recipe import ALIASES, RECIPES, Recipe, explain
from neurosnn.errors import UserError

# The latency tables' recipes as 0.2 enumerated them (neurosnn/jobs/latency.py), field by field.
OLD = {
    "positive": Recipe(percentile_of="positive"),
    "all": Recipe(),
    "all+search": Recipe(search="eq11"),
    "phi": Recipe(phi=0.5),
    "channelwise": Recipe(channelwise=True),
    "onset": Recipe(bias_onset="input"),
    "phi+onset": Recipe(phi=0.5, bias_onset="input"),
    "phi+onset+channelwise": Recipe(phi=0.5, bias_onset="input", channelwise=True),
    "phi+onset+search": Recipe(phi=0.5, bias_onset="input", search="theta-phi"),
    "phi+onset+channelwise+search": Recipe(
        phi=0.5, bias_onset="input", channelwise=True, search="theta-phi"
    ),
    "phi+onset+light": Recipe(phi=0.5, bias_onset="input", calibration="light"),
    "phi+onset+channelwise+light": Recipe(
        phi=0.5, bias_onset="input", channelwise=True, calibration="light"
    ),
    "phi+onset+balanced": Recipe(thresholds="balanced", phi=0.5, bias_onset="input"),
    "phi+onset+balanced200": Recipe(
        thresholds="balanced", phi=0.5, bias_onset="input", balance_iterations=200
    ),
    "phi+onset+balanced+search": Recipe(
        thresholds="balanced", phi=0.5, bias_onset="input", search="theta-phi"
    ),
    "phi+onset+advanced": Recipe(phi=0.5, bias_onset="input", calibration="advanced"),
    "phi+onset+channelwise+advanced": Recipe(
        phi=0.5, bias_onset="input", channelwise=True, calibration="advanced"
    ),
    "phi+onset+channelwise+delayed": Recipe(
        phi=0.5, bias_onset="input", channelwise=True, delayed=True
    ),
    "phi+onset+channelwise+weights": Recipe(
        phi=0.5, bias_onset="input", channelwise=True, calibration="weights"
    ),
    "phi+onset+channelwise+weights+delayed": Recipe(
        phi=0.5, bias_onset="input", channelwise=True, calibration="weights", delayed=True
    ),
    "phi+onset+channelwise+search+delayed": Recipe(
        phi=0.5, bias_onset="input", channelwise=True, search="theta-phi", delayed=True
    ),
    "phi+onset+channelwise+search+advanced+delayed": Recipe(
        phi=0.5,
        bias_onset="input",
        channelwise=True,
        search="theta-phi",
        calibration="advanced",
        delayed=True,
    ),
    "phi+onset+channelwise+advanced+delayed": Recipe(
        phi=0.5, bias_onset="input", channelwise=True, calibration="advanced", delayed=True
    ),
    "phi+onset+balanced+delayed": Recipe(
        thresholds="balanced", phi=0.5, bias_onset="input", delayed=True
    ),
    "trained+phi+onset+delayed": Recipe(
        thresholds="trained", phi=0.5, bias_onset="input", delayed=True
    ),
    "trained+phi+onset": Recipe(thresholds="trained", phi=0.5, bias_onset="input"),
    "trained+phi+onset+advanced": Recipe(
        thresholds="trained", phi=0.5, bias_onset="input", calibration="advanced"
    ),
    "trained+phi+onset+advanced+delayed": Recipe(
        thresholds="trained", phi=0.5, bias_onset="input", calibration="advanced", delayed=True
    ),
    "trained+phi+onset+search": Recipe(
        thresholds="trained", phi=0.5, bias_onset="input", search="theta-phi"
    ),
    "trained+phi+onset+search+delayed": Recipe(
        thresholds="trained", phi=0.5, bias_onset="input", search="theta-phi", delayed=True
    ),
    "phi+onset+channelwise+search-k+delayed": Recipe(
        phi=0.5, bias_onset="input", channelwise=True, search="theta-phi-delayed", delayed=True
    ),
    "phi+onset+channelwise+search-k+advanced+delayed": Recipe(
        phi=0.5,
        bias_onset="input",
        channelwise=True,
        search="theta-phi-delayed",
        calibration="advanced",
        delayed=True,
    ),
    "trained+phi+onset+search-k+delayed": Recipe(
        thresholds="trained", phi=0.5, bias_onset="input", search="theta-phi-delayed", delayed=True
    ),
    "trained+phi+search-k+delayed": Recipe(
        thresholds="trained", phi=0.5, delay="none", search="theta-phi-delayed", delayed=True
    ),
    "phi+channelwise+search-k+delayed": Recipe(
        phi=0.5, channelwise=True, delay="none", search="theta-phi-delayed", delayed=True
    ),
    "trained+phi+srp2": Recipe(thresholds="trained", phi=0.5, delay="none", presim=2),
    "trained+phi+srp4": Recipe(thresholds="trained", phi=0.5, delay="none", presim=4),
    "phi+channelwise+srp4": Recipe(phi=0.5, channelwise=True, delay="none", presim=4),
    "phi+channelwise+srp4+search": Recipe(
        phi=0.5, channelwise=True, delay="none", presim=4, search="theta-phi"
    ),
    "trained+phi+srp4+search": Recipe(
        thresholds="trained", phi=0.5, delay="none", presim=4, search="theta-phi"
    ),
}


def test_every_old_name_means_what_it_meant():
    assert set(ALIASES) == set(OLD) and len(OLD) == 40
    for name, recipe in OLD.items():
        assert Recipe.parse(name) == recipe, name
        assert RECIPES[name] == recipe
        assert recipe.name == name  # its runs keep their file names
        assert Recipe.parse(str(recipe)) == recipe  # the canonical tokens mean it too


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("onset+phi=0.5+channelwise", "channelwise+phi=0.5+onset"),
        ("readout=delayed+trained+phi=0.25", "trained+phi=0.25+readout=delayed"),
        ("p=99.9+of=positive", "p=99.9+of=positive"),
        ("balance=50+phi", "balance=50+phi=0.5"),
        ("srp=3+channelwise", "channelwise+srp=3"),
        ("calib-steps=8+calib=light+onset", "onset+calib=light+calib-steps=8"),
        ("p=99.7", "p=99.7"),
        ("delay=none+phi=0.5+search=theta-phi", "phi=0.5+delay=none+search=theta-phi"),
    ],
)
def test_canonical_order(text, expected):
    recipe = Recipe.parse(text)
    assert str(recipe) == expected
    assert Recipe.parse(expected) == recipe


def test_a_new_combination_is_its_own_name():
    recipe = Recipe.parse("of=positive+phi=0.25+onset+readout=delayed")
    assert recipe == Recipe(percentile_of="positive", phi=0.25, bias_onset="input", delayed=True)
    assert recipe.name == "of=positive+phi=0.25+onset+readout=delayed"
    assert Recipe.parse("phi=0.5+onset").name == "phi+onset"  # the same recipe keeps its name


def test_srp_runs_without_the_layer_delay():
    assert Recipe.parse("srp=4").delay == "none"
    assert Recipe.parse("srp=4+delay=none") == Recipe.parse("srp=4")


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("trained+balance", ["'trained'", "'balance'"]),
        ("phi=0.5+phi=0.25", ["'phi=0.5'", "'phi=0.25'"]),
        ("trained+p=99", ["'trained'", "'p=99'"]),
        ("onset+delay=none", ["'onset'", "'delay=none'"]),
        ("srp=4+delay=layer", ["'srp=4'", "'delay=layer'"]),
        ("srp=4+readout=delayed", ["'srp=4'", "'readout=delayed'"]),
        ("srp=4+search=eq11", ["'srp=4'", "'search=eq11'"]),
        ("phi+search=theta-phi-k", ["'search=theta-phi-k'", "readout=delayed"]),
        ("calib-steps=8", ["'calib-steps=8'", "calib="]),
        ("phi=x", ["'phi=x'", "number"]),
        ("phi=1.5", ["phi must be in [0, 1)"]),
        ("p=120", ["percentile must be in (0, 100]"]),
        ("of=some", ["percentile_of"]),
        ("warp", ["unknown token 'warp'", "--list-recipes"]),
        ("phi+search", ["'search'", "search=eq11|theta-phi|theta-phi-k"]),
        ("calib=heavy", ["calibration must be one of"]),
    ],
)
def test_a_bad_recipe_is_one_line_naming_its_tokens(text, named):
    with pytest.raises(UserError) as err:
        Recipe.parse(text)
    message = str(err.value)
    assert "\n" not in message
    for part in named:
        assert part in message, message


def test_explain_lists_every_token_and_name():
    text = explain()
    for token in ("p=P", "of=all|positive", "trained", "balance[=N]", "channelwise", "phi=F",
                  "delay=layer|none", "onset", "srp=N", "search=eq11", "search=theta-phi-k",
                  "calib=light|advanced|weights", "readout=delayed"):  # fmt: skip
        assert token in text
    assert "Bu, Li & Yu, CVPR 2025" in text and "Hao et al., AAAI 2023" in text
    for name in ALIASES:
        assert f"  {name} " in text


def test_the_grammar_needs_no_torch():
    code = (
        "import sys; from neurosnn.config.recipe import Recipe; "
        "Recipe.parse('trained+phi+onset+search-k+delayed'); "
        "print('torch' in sys.modules, 'bindsnet' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False False"


@pytest.mark.slow
def test_an_unlisted_recipe_runs_in_latency_and_convert(tmp_path):
    """A combination no table listed runs in the latency job and applies to a checkpoint in
    one option of convert, to the same SNN and the same curve."""
    import json

    from neurosnn.experiments import convert, latency
    from neurosnn.io.record import read_run
    from neurosnn.io.snnfile import load_snn
    from tests.test_experiments import train_synthetic

    ann = tmp_path / "ann"
    train_synthetic(ann)
    recipe = "onset+phi=0.25+of=positive+readout=delayed"  # in no table, in no canonical order
    name = str(Recipe.parse(recipe))
    assert name == "of=positive+phi=0.25+onset+readout=delayed"
    common = ["--checkpoint", str(ann), "--timesteps", "16", "--test-images", "48"]
    common += ["--calib-images", "128", "--no-progress"]
    # the search's size and T as convert prepares a recipe: the latency job's defaults
    lat = ["--recipes", recipe, "--long-horizon", "1"]
    assert latency.main([*common, *lat, "--out", str(tmp_path / "lat")]) == 0
    rows = json.loads((tmp_path / "lat" / "latency.json").read_text())["checkpoints"]["ann"]
    k = rows["recipes"][name]["metrics"]["readout_after_delay_layer"]
    measured = read_run(tmp_path / "lat" / "ann" / f"{name}.h5")
    assert measured.simulation["readout_after"] == k

    out = tmp_path / "snn"
    args = [*common, "--recipe", recipe, "--batch-size", "250", "--out", str(out)]
    assert convert.main(args) == 0
    run = read_run(out / "convert.h5")
    assert run.simulation["readout_after"] == k and run.simulation["bias_onset"] == "input"
    assert (run.accuracy == measured.accuracy).all()
    snn, meta = load_snn(out / "convert.snn.h5")
    kept, _ = load_snn(tmp_path / "lat" / "ann" / f"{name}.snn.h5")
    assert snn.thresholds == kept.thresholds and snn.phi == kept.phi == [0.25] * len(snn.phi)
    assert meta["source"]["simulation"]["readout_after"] == {"layer": k}
    with pytest.raises(SystemExit, match="recipe 'phi' sets phi"):  # one or the other
        convert.main([*common, "--recipe", "phi", "--phi", "0.3", "--out", str(tmp_path / "x")])
