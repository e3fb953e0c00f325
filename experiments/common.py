"""What the commands share once they run: the network and data they read, the output they claim,
the log they write and the summary they end with."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from neurosnn.errors import UserError
from neurosnn.io.data import Dataset, load_dataset
from neurosnn.io.output import OutputInUse, hold, open_no_link, write_json

# The folder of the small Fashion-MNIST subset shipped with the repository.
SUBSET_ROOT = Path(__file__).resolve().parent.parent / "data" / "fashion-mnist-subset"


def finish(
    out: Path, summary: dict[str, Any], plots: list[Path] | None = None, name="summary.json"
) -> None:
    """The end of a command: its ``plots`` (if any) join the summary the job wrote, which is
    written again as ``out/name``, and where it is is printed."""
    if plots is not None:
        summary["plots"] = [str(p) for p in plots]
    write_json(out / name, summary)
    say(f"summary in {out / name}")


def load_network(source, which: int = 0) -> tuple[Any, Dataset, str]:
    """``(checkpoint, data normalised as the network expects, the file it came from)`` of a
    ``neurosnn.config.common.Source``: its ``which``-th checkpoint, or its model with its
    ``which``-th weights (normalised with its data set's own statistics)."""
    from neurosnn.io.checkpoint import resolve, user_checkpoint
    from neurosnn.io.data import with_normalisation

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
    if not source.normalise:  # the model normalises its input: pixels in [0, 1] go in
        data = with_normalisation(data, (0.0,) * data.in_channels, (1.0,) * data.in_channels)
    mean, std = data.mean, data.std
    ckpt = user_checkpoint(
        source.model, weights, data.name, mean, std, shape, output=source.output_key
    )
    if source.normalise:
        from neurosnn.conversion.pipeline import input_normalisation

        where = input_normalisation(ckpt.build(), shape)
        if where is not None:
            say(
                f"warning: {source.model} normalises its own input ({where}) and the images "
                f"are normalised with {data.name}'s statistics too; pass --no-normalise if "
                "the model expects pixels in [0, 1]"
            )
    return ckpt, data, str(Path(weights).resolve())


def tensorboard_scalars(folder: str | None):
    """``neurosnn.io.tensorboard.Scalars`` writing to ``folder`` (``--tensorboard DIR``), or
    ``None`` where none is given; a context manager either way."""
    from contextlib import nullcontext

    from neurosnn.io.tensorboard import Scalars

    if folder is None:
        return nullcontext(None)
    return Scalars(folder)


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
    _check_length(out, option)
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
    from neurosnn.io.owned import foreign
    from neurosnn.io.record import SNN_FORMAT

    for written in ((out,) if kind == "file" else ()) + tuple(beside):
        written = Path(written)
        if written.suffix == ".log" or (kind == "file" and written == out and formats):
            continue  # a log is appended to; the output itself is checked against formats
        what = foreign(written, SNN_FORMAT if written.name.endswith(".snn.h5") else None)
        if what is not None:
            raise SystemExit(
                f"error: {option} {out} would replace {written}, which is {what}; a run "
                "replaces only files neurosnn wrote there: move it or choose another output"
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


# room a name needs beside it for the lock (".NAME.lock") and temporary files
# ("NAME.<pid>-<random>.tmp") the run writes
NAME_ROOM = 32


def _check_length(out: Path, option: str) -> None:
    """Refuse, before any folder is made, an output whose name (or one of its folders') is too
    long for the file system with the lock and temporary names a run adds, or whose path is."""
    existing = out.absolute()
    while not existing.exists():
        existing = existing.parent
    name_max = os.pathconf(existing, "PC_NAME_MAX")
    path_max = os.pathconf(existing, "PC_PATH_MAX")
    for part in out.absolute().parts:
        if len(os.fsencode(part)) > name_max - NAME_ROOM:
            raise SystemExit(
                f"error: {option}: the name {part[:40]}… is {len(os.fsencode(part))} bytes; "
                f"at most {name_max - NAME_ROOM} here"
            )
    if len(os.fsencode(str(out.absolute()))) > path_max - 2 * name_max:
        raise SystemExit(
            f"error: {option}: the path is {len(os.fsencode(str(out.absolute())))} bytes; "
            f"at most {path_max - 2 * name_max} here"
        )


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
