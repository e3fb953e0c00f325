"""Command-line helpers shared by the experiment modules."""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import torch

from neurosnn.errors import UserError
from neurosnn.io.data import DATASETS, Dataset, load_dataset
from neurosnn.io.output import OutputInUse, hold, open_no_link, write_json
from neurosnn.simulation.tf32 import set_tf32

# The folder of the small Fashion-MNIST subset shipped with the repository.
SUBSET_ROOT = Path(__file__).resolve().parent.parent / "data" / "fashion-mnist-subset"


def parse_value(text: str) -> Any:
    """``true``/``false``/numbers/JSON become Python values; anything else stays a string."""
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def option_item(text: str) -> tuple[str, Any]:
    """An argparse type: ``"width=0.25"`` → ``("width", 0.25)``."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key, parse_value(value)


def add_option_arg(parser: argparse.ArgumentParser, what: str) -> None:
    """``--option KEY=VALUE`` (repeatable): the network's options, a list of pairs (``dict()``
    of it gives the options; None when none was given)."""
    parser.add_argument(
        "--option", action="append", type=option_item, default=None, metavar="KEY=VALUE", help=what
    )


def comma_list(parse: Callable[[str], Any], what: str) -> Callable[[str], tuple]:
    """An argparse type: ``"a,b"`` → ``(parse("a"), parse("b"))``; ``what`` names the items
    in the error."""

    def parsed(text: str) -> tuple:
        try:
            return tuple(parse(t.strip()) for t in text.split(",") if t.strip())
        except ValueError as err:
            raise argparse.ArgumentTypeError(
                f"expected {what} separated by commas, got {text!r} ({err})"
            ) from None

    parsed.__name__ = f"list of {what}"
    return parsed


int_list = comma_list(int, "integers")  # "5,25,50" → (5, 25, 50)
float_list = comma_list(float, "numbers")  # "1e-5,3e-5" → (1e-05, 3e-05)


def name_list(choices) -> Callable[[str], tuple]:
    """An argparse type: names separated by commas, each one of ``choices``."""

    def name(text: str) -> str:
        if text not in choices:
            raise ValueError(f"unknown {text!r}")
        return text

    return comma_list(name, f"names among {', '.join(choices)}")


class _Parser(argparse.ArgumentParser):
    """Parses as argparse does, then applies ``--allow-tf32`` where the command has it (one
    place for every command with ``--device``, so none can forget it)."""

    def parse_args(self, args=None, namespace=None):  # type: ignore[override]
        parsed = super().parse_args(args, namespace)
        if hasattr(parsed, "allow_tf32"):
            set_tf32(parsed.allow_tf32)
        if getattr(parsed, "gpu_memory", None) is not None:
            device = torch.device(parsed.device)
            if device.type != "cuda":
                self.error(f"--gpu-memory: needs a CUDA --device, found {parsed.device!r}")
            from neurosnn.simulation.engine.fast import cuda_index

            torch.cuda.set_per_process_memory_fraction(parsed.gpu_memory, cuda_index(device))
        return parsed


def new_parser(prog: str, description: str | None) -> argparse.ArgumentParser:
    """A command's parser: ``description`` (its module docstring) shown as written; ``prog``
    (``python -m experiments.X``) is shown as the ``neurosnn`` subcommand that runs it."""
    from neurosnn.experiments.commands import COMMANDS

    module = "neurosnn." + prog.removeprefix("python -m ")
    names = [name for name, (mod, _) in COMMANDS.items() if mod == module]
    return _Parser(
        prog=f"neurosnn {names[0]}" if names else prog,
        description=description,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def add_out_arg(
    parser: argparse.ArgumentParser, what: str = "output folder", default: str | None = None
) -> None:
    """``--out``: required unless it has a ``default``."""
    if default is not None:
        what += " (default: %(default)s)"
    parser.add_argument("--out", required=default is None, default=default, help=what)


def finish(
    out: Path, summary: dict[str, Any], plots: list[Path] | None = None, name="summary.json"
) -> None:
    """The end of a command: its ``plots`` (if any) join the summary the job wrote, which is
    written again as ``out/name``, and where it is is printed."""
    if plots is not None:
        summary["plots"] = [str(p) for p in plots]
    write_json(out / name, summary)
    say(f"summary in {out / name}")


def config_from(args: argparse.Namespace, cls: type, **given: Any) -> Any:
    """The config dataclass ``cls`` with each field an option of the same name was parsed
    into (``--test-images`` → ``test_images``; the pairs of ``--option``, when given, as the
    dict ``options``), then ``given``; other fields keep their defaults."""
    fields = {f.name for f in dataclasses.fields(cls)}
    parsed = {name: value for name, value in vars(args).items() if name in fields}
    if "options" in fields and getattr(args, "option", None):
        parsed["options"] = dict(args.option)
    return cls(**{**parsed, **given})


def add_checkpoint_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", required=True, help="checkpoint.pt or its run folder")


def add_source_args(
    parser: argparse.ArgumentParser, group=None, repeat: bool = False, dataset: bool = True
) -> None:
    """``--checkpoint`` (neurosnn's training), or ``--model`` with ``--weights`` and
    ``--dataset`` (a network of the user's own); ``group``: a mutually exclusive group to join
    (default: a new required one); ``repeat``: checkpoints and weights may be given several
    times (seeds); ``dataset``: add ``--dataset`` (a command that has one already: False)."""
    group = group or parser.add_mutually_exclusive_group(required=True)
    action = "append" if repeat else "store"
    more = "; repeat for several seeds" if repeat else ""
    group.add_argument("--checkpoint", action=action, help=f"checkpoint.pt or its run folder{more}")
    group.add_argument(
        "--model",
        help="MODULE.PATH:FACTORY, a network of your own: FACTORY() builds it (your code, "
        "imported from MODULE.PATH, the current folder included); with --weights and --dataset",
    )
    parser.add_argument(
        "--weights",
        action=action,
        help="with --model: its state dict, saved by torch.save(model.state_dict(), PATH) "
        f"(loaded without running pickled code){more}",
    )
    parser.add_argument(
        "--input-shape",
        type=comma_list(int, "sizes"),
        default=None,
        help="with --model: C,H,W of one input (default: the data set's; checked against it)",
    )
    if dataset:
        parser.add_argument(
            "--dataset",
            choices=DATASETS,
            default=None,
            help="with --model: the data set to calibrate and test on (a checkpoint records "
            "its own)",
        )


def load_source(args: argparse.Namespace, which: int = 0) -> tuple[Any, Dataset, str]:
    """``(checkpoint, data normalised as the network expects, the file it came from)`` of
    ``--checkpoint`` or ``--model``/``--weights`` (the ``which``-th where repeatable); a user's
    model is normalised with its data set's own statistics."""
    from neurosnn.io.checkpoint import resolve, user_checkpoint

    weights = args.weights[which] if isinstance(args.weights, list) else args.weights
    if not args.model:
        if weights or args.input_shape or getattr(args, "dataset", None):
            raise SystemExit(
                "error: --weights, --input-shape and --dataset go with --model (a checkpoint "
                "records its network and data set)"
            )
        path = args.checkpoint[which] if isinstance(args.checkpoint, list) else args.checkpoint
        ckpt, data = load_checkpoint_and_data(path, args.data_root)
        return ckpt, data, str(resolve(path))
    if not weights:
        raise SystemExit("error: --model needs --weights FILE (the model's state dict)")
    if not getattr(args, "dataset", None):
        raise SystemExit("error: --model needs --dataset NAME (the data to calibrate and test on)")
    data = load_data(args.dataset, args.data_root)
    shape = (data.in_channels, data.input_size, data.input_size)
    if args.input_shape is not None and tuple(args.input_shape) != shape:
        raise SystemExit(
            f"error: --input-shape {','.join(map(str, args.input_shape))} does not match "
            f"{data.name}'s images, {','.join(map(str, shape))}"
        )
    ckpt = user_checkpoint(args.model, weights, data.name, data.mean, data.std, shape)
    return ckpt, data, str(Path(weights).resolve())


def load_network(source, which: int = 0) -> tuple[Any, Dataset, str]:
    """``(checkpoint, data normalised as the network expects, the file it came from)`` of a
    ``neurosnn.config.common.Source``: its ``which``-th checkpoint, or its model with its
    ``which``-th weights (normalised with its data set's own statistics)."""
    from neurosnn.io.checkpoint import resolve, user_checkpoint

    source.require()
    if not source.model:
        path = source.checkpoint[which]
        ckpt, data = load_checkpoint_and_data(path, source.data_root)
        return ckpt, data, str(resolve(path))
    weights = source.weights[which]
    data = load_data(source.dataset, source.data_root)
    shape = (data.in_channels, data.input_size, data.input_size)
    if source.input_shape is not None and tuple(source.input_shape) != shape:
        raise UserError(
            f"input_shape {','.join(map(str, source.input_shape))} does not match "
            f"{data.name}'s images, {','.join(map(str, shape))}"
        )
    ckpt = user_checkpoint(source.model, weights, data.name, data.mean, data.std, shape)
    return ckpt, data, str(Path(weights).resolve())


def add_progress_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def add_tensorboard_arg(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument(
        "--tensorboard",
        metavar="DIR",
        default=None,
        help=f"also write {what} as TensorBoard scalars to DIR (needs the optional extra: "
        "pip install 'neurosnn[tensorboard]'; view with tensorboard --logdir DIR)",
    )


def tensorboard_scalars(folder: str | None):
    """``neurosnn.io.tensorboard.Scalars`` writing to ``folder`` (``--tensorboard DIR``), or
    ``None`` where none is given; a context manager either way."""
    from contextlib import nullcontext

    from neurosnn.io.tensorboard import Scalars

    if folder is None:
        return nullcontext(None)
    return Scalars(folder)


def add_data_args(parser: argparse.ArgumentParser, dataset: bool = True) -> None:
    if dataset:
        parser.add_argument(
            "--dataset",
            default="fashion-mnist",
            choices=DATASETS,
            help="dataset name (default: %(default)s)",
        )
    parser.add_argument(
        "--data-root",
        default=None,
        help="folder with the dataset files (default: the Debian location for "
        "(fashion-)mnist; required for cifar10/cifar100/imagenet)",
    )


def add_device_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--device",
        default="cuda" if torch.cuda.is_available() else "cpu",
        help="torch device, e.g. cpu or cuda:0 (default: %(default)s)",
    )
    parser.add_argument(
        "--allow-tf32",
        action="store_true",
        help="let CUDA's float32 convolutions and matmuls use TF32 (faster, but the spikes are "
        "no longer the CPU's: off by default)",
    )
    parser.add_argument(
        "--gpu-memory",
        type=_fraction,
        default=None,
        metavar="FRACTION",
        help="the share of the GPU's memory this process may take, for jobs sharing one GPU; "
        "the simulation sizes its time blocks within it (default: the whole GPU, its blocks "
        "taking a quarter of what is free)",
    )


def _fraction(text: str) -> float:
    value = float(text)
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"expected a fraction in (0, 1], found {text}")
    return value


def load_data(name: str, root: str | None, allow_subset: bool = False) -> Dataset:
    """Load a dataset; with ``allow_subset``, fall back to the shipped Fashion-MNIST subset
    (saying so) when the full set is not installed."""
    try:
        return load_dataset(name, root)
    except FileNotFoundError as err:
        if not (allow_subset and name == "fashion-mnist" and root is None):
            raise SystemExit(f"error: {err}") from err
        print(
            f"note: {err}\nnote: using the Fashion-MNIST subset shipped in {SUBSET_ROOT} "
            "(4,000 training and 1,000 test images)"
        )
        return load_dataset(name, SUBSET_ROOT)


def data_of(data) -> Dataset:
    """The data set of a ``neurosnn.config.common.Data`` (Fashion-MNIST: the shipped subset
    when the full set is not installed)."""
    return load_data(data.dataset, data.data_root, allow_subset=data.dataset == "fashion-mnist")


def claim_output(
    path: str,
    kind: str = "folder",
    option: str = "--out",
    inputs: Iterable[str | Path | None] = (),
    beside: Iterable[Path] = (),
    formats: Iterable[str] | None = None,
) -> Path:
    """Check that ``path`` (given as ``option``) can be the command's output (a ``"folder"`` or
    a ``"file"``) and hold it for the rest of the process, so that a bad location or a second
    run into it is refused with one line before any work is done.

    Also refused: an output that is one of the run's ``inputs`` (or whose files written
    ``beside`` it are); anything but a regular file or a folder (a device, a pipe); an existing
    file of another kind than ``formats`` (the HDF5 ``format`` attributes it may hold, ``"hdf5"``
    for another tool's HDF5 file) — the run would replace it."""
    from neurosnn.io.record import file_format

    out = Path(path)
    if out.exists() and not (out.is_file() or out.is_dir()):
        raise SystemExit(f"error: {option} {out} is not a regular file or folder")
    if kind == "folder" and out.exists() and not out.is_dir():
        raise SystemExit(f"error: {option} {out} is a file; expected a folder")
    if kind == "file" and out.is_dir():
        raise SystemExit(f"error: {option} {out} is a folder; expected a file name")
    for written in (out, *beside):
        for given in inputs:
            if given and written.exists() and Path(given).exists():
                if os.path.samefile(written, given):
                    raise SystemExit(
                        f"error: {option} {out} would overwrite the input {given}; choose "
                        "another output"
                    )
    if kind == "file" and formats is not None and out.is_file():
        found = file_format(out)
        if found not in set(formats):
            what = "not an HDF5 file" if found is None else f"a file of format {found!r}"
            raise SystemExit(
                f"error: {option} {out} exists and is {what}, not what this command writes; "
                "choose another output"
            )
    try:
        hold(out)
    except OutputInUse as err:
        raise SystemExit(f"error: {option} {err}") from err
    except OSError as err:  # the lock beside it cannot be made
        raise SystemExit(f"error: {option} {out}: cannot write beside it: {err.strerror}") from err
    folder = out if kind == "folder" else out.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise SystemExit(f"error: {option} {out}: cannot create {folder}: {err.strerror}") from err
    if not os.access(folder, os.W_OK | os.X_OK):
        raise SystemExit(f"error: {option} {out}: {folder} is not writable")
    return out


def say(*lines: str) -> None:
    """Print result lines, and write them to the command's log file too (as written, without
    the time of day the progress lines carry)."""
    for line in lines:
        print(line)
    for handler in logging.getLogger("neurosnn").handlers:
        if isinstance(handler, _LogFile):
            for line in lines:
                handler.stream.write(line + "\n")
            handler.flush()


class _LogFile(logging.StreamHandler):
    """A log file opened without following links; closing the handler closes the file."""

    log_file = True  # neurosnn.io.output writes a command's one-line error to it too

    def close(self) -> None:
        try:
            self.flush()
            self.stream.close()
        finally:
            super().close()


def setup_logging(log_file: Path, terminal: str = "%(asctime)s %(message)s") -> None:
    """Send neurosnn's progress lines (``logging`` under ``"neurosnn"``) to stdout (formatted as
    ``terminal``) and to ``log_file`` (appended, with the time of day); replaces an earlier
    call's handlers."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    fmt = logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S")
    root = logging.getLogger("neurosnn")
    root.setLevel(logging.INFO)
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
    fd = open_no_link(log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, "log file")
    to_file = _LogFile(os.fdopen(fd, "a", encoding="utf-8"))
    to_file.setFormatter(fmt)
    to_terminal = logging.StreamHandler(sys.stdout)
    to_terminal.setFormatter(logging.Formatter(terminal, "%H:%M:%S"))
    for handler in (to_terminal, to_file):
        root.addHandler(handler)


def load_checkpoint_and_data(path: str, root: str | None, allow_subset: bool = False):
    """A checkpoint and its dataset, normalised with the checkpoint's statistics."""
    from neurosnn.io.checkpoint import load_checkpoint
    from neurosnn.io.data import fingerprint, split_fingerprint, with_normalisation

    ckpt = load_checkpoint(path)  # a CheckpointError: the command's one line
    data = load_data(ckpt.dataset, root, allow_subset)
    spec = ckpt.spec
    if (spec.in_channels, spec.input_size) != (data.in_channels, data.input_size):
        raise SystemExit(
            f"error: {path} takes {spec.in_channels}×{spec.input_size}² images, the data given "
            f"({data.name}) are {data.in_channels}×{data.input_size}²"
        )
    if ckpt.data_fingerprint is not None and ckpt.data_fingerprint != fingerprint(data):
        # logged: in the run's log file as on the terminal
        logging.getLogger("neurosnn.io.data").warning(
            "WARNING: the %s data given are not those %s was tested on (their test labels or "
            "sizes differ); its accuracy here need not match %s",
            data.name,
            path,
            ckpt.test_accuracy,
        )
    if ckpt.train_fingerprint is not None and ckpt.train_fingerprint != split_fingerprint(
        data.train
    ):
        logging.getLogger("neurosnn.io.data").warning(
            "WARNING: the %s training images given are not those %s was trained on (their "
            "labels or number differ); calibration and searches draw from them",
            data.name,
            path,
        )
    return ckpt, with_normalisation(data, ckpt.mean, ckpt.std)
