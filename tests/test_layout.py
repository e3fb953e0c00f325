"""The package's shape: stages without import cycles, small files, each folder saying what it
holds, a quick top-level import, and the 0.2 import paths still working with a warning."""

import ast
import graphlib
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

import neurosnn
from neurosnn import _moved

ROOT = Path(neurosnn.__file__).parent
REPO = ROOT.parent
MAX_LINES = 600


def modules() -> dict[str, Path]:
    out = {}
    for path in ROOT.rglob("*.py"):
        parts = path.relative_to(ROOT.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


def deprecated_bodies(tree: ast.AST) -> set[int]:
    """ids of the nodes inside functions marked ``@deprecated(...)`` (the 0.2 API's shims)."""
    inside = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and any(
            isinstance(d, ast.Call) and getattr(d.func, "id", None) == "deprecated"
            for d in node.decorator_list
        ):
            inside.update(id(n) for n in ast.walk(node))
    return inside


def import_graph() -> dict[str, set[str]]:
    """Module → the neurosnn modules it imports, at the top or inside functions alike."""
    mods = modules()

    def resolve(name: str) -> str | None:
        while name and name not in mods:
            name = name.rpartition(".")[0]
        return name or None

    graph = {}
    for name, path in mods.items():
        tree = ast.parse(path.read_text())
        skip = deprecated_bodies(tree)
        deps = set()
        for node in ast.walk(tree):
            if id(node) in skip:
                continue
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                # a submodule imported by name is the dependency, not its package
                targets = [
                    f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in mods else node.module
                    for a in node.names
                ]
            else:
                continue
            for target in targets:
                found = resolve(target) if target.startswith("neurosnn.") else None
                if found and found != name and not found.startswith("neurosnn.networks"):
                    deps.add(found)
        graph[name] = deps
    return graph


def test_no_import_cycle():
    graph = import_graph()
    try:
        order = list(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as err:
        pytest.fail(f"import cycle: {' -> '.join(err.args[1])}")
    assert set(order) >= set(graph)


def test_stages_import_one_way():
    """The stages, read from the imports: no stage imports one that imports it back."""
    stages: dict[str, set[str]] = {}
    for name, deps in import_graph().items():
        stage = name.split(".")[1] if name.count(".") else "neurosnn"
        stages.setdefault(stage, set()).update(
            d.split(".")[1] for d in deps if d.count(".") and d.split(".")[1] != stage
        )
    stages.pop("neurosnn")  # the top level re-exports every stage's public names
    helpers = {"errors", "_lazy", "_moved"}  # shared by all, importing no stage
    for helper in helpers:
        assert not stages.pop(helper, set()) - helpers, f"{helper} imports a stage"
    stages = {s: deps - helpers for s, deps in stages.items()}
    try:
        list(graphlib.TopologicalSorter(stages).static_order())
    except graphlib.CycleError as err:
        pytest.fail(f"stages import each other: {' -> '.join(err.args[1])}")
    # the pipeline's order: the SNN value first, the workflows last
    assert not stages["snn"]
    assert "jobs" not in set().union(*(deps for s, deps in stages.items() if s != "jobs"))


def test_files_stay_small():
    long = {
        str(p.relative_to(REPO)): n
        for p in ROOT.rglob("*.py")
        if (n := len(p.read_text().splitlines())) > MAX_LINES
    }
    assert not long, f"modules over {MAX_LINES} lines: {long}"


def test_every_folder_says_what_it_holds():
    for init in ROOT.rglob("__init__.py"):
        doc = ast.get_docstring(ast.parse(init.read_text()))
        assert doc, f"{init.relative_to(REPO)} has no docstring"


@pytest.mark.parametrize(
    "package", ["snn", "conversion", "simulation", "search", "learn", "measures", "io"]
)
def test_package_exports_resolve(package):
    """Every name a folder's ``__init__`` exports exists where it points."""
    module = __import__(f"neurosnn.{package}", fromlist=["__all__"])
    for name in module.__all__:
        assert getattr(module, name) is not None, f"neurosnn.{package}.{name}"


def test_top_level_api():
    import neurosnn as ns

    for name in ns.__all__:
        assert getattr(ns, name) is not None, name
    assert callable(ns.convert) and callable(ns.simulate)
    assert ns.SNNModule.__module__ == "neurosnn.simulation.module"


def test_import_is_light():
    """``import neurosnn`` and the configs load neither torch nor bindsnet (the command line
    answers --help before it imports them)."""
    code = (
        "import sys, neurosnn, neurosnn.config.search, neurosnn.simulation.options, "
        "neurosnn.snn.options, neurosnn.conversion.options; "
        "print(sorted(m for m in ('torch', 'bindsnet', 'numpy') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize(
    ("old", "name", "new"),
    [
        ("neurosnn.simulate", "SimResult", "neurosnn.simulation.run"),
        ("neurosnn.convert.biascal", "calibrate_biases", "neurosnn.conversion.biascal"),
        ("neurosnn.cost", "iso_accuracy_step", "neurosnn.simulation.curve"),
        ("neurosnn.cost", "LatencyAccuracyCost", "neurosnn.search.cost"),
        ("neurosnn.evolve", "run_search", "neurosnn.search.de"),
        ("neurosnn.files.snnfile", "save_snn", "neurosnn.io.snnfile"),
        ("neurosnn.engine", "DELAYS", "neurosnn.simulation.options"),
    ],
)
def test_old_paths_warn_and_forward(old, name, new):
    """Every 0.2 path still imports for this release, warns naming the new place, and gives
    the same object."""
    code = (
        "import warnings\n"
        "with warnings.catch_warnings(record=True) as caught:\n"
        "    warnings.simplefilter('always', DeprecationWarning)\n"
        f"    from {old} import {name}\n"
        "print('\\n'.join(f'{w.category.__name__}: {w.message} ({w.filename})' for w in caught))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert f"DeprecationWarning: {old} is deprecated" in out.stdout
    assert "(<string>)" in out.stdout  # attributed to the importing code, not to importlib
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        old_module = __import__(old, fromlist=[name])
    assert getattr(old_module, name) is getattr(__import__(new, fromlist=[name]), name)


def test_every_old_path_imports():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        for old, targets in _moved.MOVED.items():
            module = __import__(old, fromlist=["x"])
            assert module.__name__ == old
            for target in targets:
                __import__(target)


def test_old_convert_module_still_calls_the_function():
    """After old code imported ``neurosnn.convert.X``, ``ns.convert`` is the 0.2 module's
    stand-in: calling it still converts."""
    code = (
        "import warnings; warnings.simplefilter('ignore')\n"
        "import torch, neurosnn as ns, neurosnn.convert.trace\n"
        "m = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 3), torch.nn.ReLU(), "
        "torch.nn.Linear(3, 2))\n"
        "torch.nn.init.constant_(m[1].weight, 0.5)\n"
        "snn = ns.convert(m, [torch.rand(8, 1, 2, 2)], (1, 2, 2))\n"
        "print(type(snn).__name__, snn.layer_names)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.startswith("ConvertedSNN")


def test_deprecated_method_warns():
    import torch

    import neurosnn as ns

    m = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 3), torch.nn.ReLU())
    torch.nn.init.constant_(m[1].weight, 0.5)  # every unit active on positive inputs
    snn = ns.convert(m, [torch.rand(8, 1, 2, 2)], (1, 2, 2))
    with pytest.warns(DeprecationWarning, match="neurosnn.SNNModule"):
        net = snn.as_module()
    assert isinstance(net, ns.SNNModule)


def test_the_wheel_lists_every_package():
    """setup.cfg names each folder of neurosnn/, so the wheel holds all of them."""
    import configparser

    cfg = configparser.ConfigParser()
    cfg.read(REPO / "setup.cfg")
    listed = set(cfg["options"]["packages"].split())
    folders = {".".join(p.parent.relative_to(REPO).parts) for p in ROOT.rglob("__init__.py")}
    assert folders <= listed, f"not in setup.cfg's packages: {sorted(folders - listed)}"
