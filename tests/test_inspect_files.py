"""``neurosnn inspect`` on every file kind neurosnn writes: a run record, a saved SNN, a NIR
file, a threshold search, a checkpoint and a folder of them, each summarised with the values
the file holds; anything else is one line."""

import shutil

import pytest

import neurosnn as ns
from neurosnn.analysis import inspect
from neurosnn.io.record import write_search
from tests.fuzzing import samples


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("kinds")
    samples(folder)
    shutil.copy(folder / "run.h5", folder / "run2.h5")  # two records: a folder to list
    history = [
        {
            "best_cost": 5.0 - g,
            "mean_cost": 6.0 - g,
            "evaluations": 6,
            "seconds": 0.5,
            "population": [[99.0, 99.5]] * 6,
            "costs": [5.0 - g] * 6,
        }
        for g in range(3)
    ]
    (folder / "search").mkdir()
    write_search(
        folder / "search" / "search.h5",
        config={"search": {"population": 6, "images": 8, "timesteps": 4}},
        layers=["features.0", "features.4"],
        history=history,
        best={"candidate": [99.25, 99.75], "thresholds": [1.5, 2.5]},
        metrics={},
    )
    return folder


def said(capsys, path) -> str:
    assert inspect.main([str(path)]) == 0
    return capsys.readouterr().out


def test_a_saved_snn_and_a_nir_file_list_their_layers_thresholds_and_phi(files, capsys):
    snn = ns.load_snn(files / "a.snn.h5")[0]
    for name in ("a.snn.h5", "a.nir"):
        out = said(capsys, files / name)
        first = snn.if_names[0]
        assert f"{first:<20}" in out and f"{snn.thresholds[0]:.4f}" in out, out
        assert ("NIR file" if name.endswith("nir") else "saved SNN") in out


def test_a_search_shows_its_costs_and_best_thresholds(files, capsys):
    out = said(capsys, files / "search")
    assert "population=6, images=8, timesteps=4" in out
    assert "generations   3; best cost 5.0000 -> 3.0000; 1.5 s" in out
    assert "features.4" in out and "99.750" in out and "2.5000" in out


def test_a_checkpoint_and_a_folder_say_what_they_hold(files, capsys):
    out = said(capsys, files / "checkpoint.pt")
    assert "network       vgg5" in out and "on synthetic" in out and "1 epochs" in out
    out = said(capsys, files)
    for line in (
        "run      run.h5",
        "run      run2.h5",
        "snn      a.snn.h5",
        "nir      a.nir",
        "search   search",
    ):
        assert line in out, out
    assert "ann      checkpoint.pt" in out
    assert "run file" in said(capsys, files / "run.h5")  # one record: the full report
    assert "run file" in said(capsys, files / "latency" / "s0")  # a folder with one record


def test_anything_else_is_one_line(files, tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(SystemExit, match="notes.txt is not a file neurosnn inspect reads"):
        inspect.main([str(tmp_path / "notes.txt")])
    with pytest.raises(SystemExit, match="holds no record, saved SNN, NIR file, search"):
        inspect.main([str(tmp_path)])
