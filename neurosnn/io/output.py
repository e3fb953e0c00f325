"""Output paths a run owns: an exclusive lock, so that a second run writing to the same file or
folder is refused instead of corrupting the first, and atomic writes through a temporary file
unique to its writer.

The lock is ``fcntl.flock`` on a hidden file beside the output (``.<name>.lock``): the kernel
releases it when its process ends, even by ``kill -9``, so a stale lock never blocks a new run.
"""

from __future__ import annotations

import atexit
import dataclasses
import errno
import fcntl
import functools
import json
import logging
import os
import secrets
import shutil
import signal
import stat
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from neurosnn.errors import UserError


class OutputInUse(UserError):
    """Another running process writes to this output."""


class ResumeMismatch(UserError):
    """A ``--resume`` whose saved state belongs to other settings, data or another network."""


def as_saved(data: Any) -> Any:
    """``data`` (a dataclass, a dict) as it reads back from a JSON file: dataclasses as dicts,
    tuples as lists, anything JSON has no type for as its ``str``; saved settings are compared
    with a run's in this form."""
    if dataclasses.is_dataclass(data) and not isinstance(data, type):
        data = dataclasses.asdict(data)
    return json.loads(json.dumps(data, default=str))


def with_defaults(saved: dict[str, Any], defaults: dict[str, Any]) -> dict[str, Any]:
    """``saved`` with the settings it lacks (in nested dicts too) taken from ``defaults``: a
    setting added after a file was written counts as its default, which is what the code
    that wrote the file did."""
    out = dict(saved)
    for key, value in defaults.items():
        if key not in out:
            out[key] = value
        elif isinstance(value, dict) and isinstance(out[key], dict):
            out[key] = with_defaults(out[key], value)
    return out


def changed_settings(saved: dict[str, Any], now: dict[str, Any]) -> str:
    """``"key old → new, …"`` of the settings that differ between two configs (empty: none)."""
    keys = sorted(set(saved) | set(now))
    return ", ".join(
        f"{k} {saved.get(k)!r} → {now.get(k)!r}" for k in keys if saved.get(k) != now.get(k)
    )


_held: dict[Path, int] = {}  # lock files this process holds → nesting depth


def lock_path(path: str | Path) -> Path:
    target = Path(path).absolute()
    return target.parent / f".{target.name}.lock"


@contextmanager
def exclusive(path: str | Path) -> Iterator[None]:
    """Hold ``path`` (a file or a folder, existing or not) for the block; raise
    ``OutputInUse`` at once if another process holds it. Re-entrant within a process."""
    lock = lock_path(path)
    if lock in _held:
        _held[lock] += 1
        try:
            yield
        finally:
            _held[lock] -= 1
        return
    lock.parent.mkdir(parents=True, exist_ok=True)
    while True:
        fd = open_no_link(lock, os.O_RDWR | os.O_CREAT, "lock file")
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise OutputInUse(
                f"{path} is in use by another run (pid {holder}): wait for it to finish or "
                f"choose another output"
            ) from None
        try:  # the holder may have removed the lock file between our open and flock
            if os.stat(lock).st_ino == os.fstat(fd).st_ino:
                break
        except FileNotFoundError:
            pass
        os.close(fd)
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    _held[lock] = 1
    try:
        yield
    finally:
        del _held[lock]
        lock.unlink(missing_ok=True)
        os.close(fd)


def open_no_link(path: Path, flags: int, what: str) -> int:
    """``os.open`` of a file the run owns (a lock, a log) that never writes through a link: a
    symbolic link planted at ``path`` is not followed, and a hard link (the file has other
    names) or anything but a regular file is refused, since writing it would change the file
    behind its other name. Raises ``UserError`` naming the path."""
    try:
        fd = os.open(path, flags | os.O_NOFOLLOW, 0o644)
    except OSError as err:
        if err.errno == errno.ELOOP:
            raise UserError(
                f"the {what} {path} is a symbolic link (to {os.readlink(path)}); neurosnn does "
                "not write through links: remove it"
            ) from err
        raise
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode) or info.st_nlink > 1:
        os.close(fd)
        kind = "not a regular file" if not stat.S_ISREG(info.st_mode) else "a hard link"
        raise UserError(
            f"the {what} {path} is {kind} ({info.st_nlink} names for one file); neurosnn does "
            "not write through links: remove it"
        )
    return fd


_process_holds = ExitStack()


def _release_holds() -> None:
    """At exit, release the outputs this process holds; a second Ctrl-C meanwhile (the first
    is ending the run) is ignored rather than printing a traceback from here."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    _process_holds.close()


atexit.register(_release_holds)


def hold(path: str | Path) -> None:
    """Hold ``path`` exclusively until this process ends (a command's output folder); raise
    ``OutputInUse`` if another process holds it. Holding it again is a no-op."""
    if lock_path(path) not in _held:
        _process_holds.enter_context(exclusive(path))


def temporary(path: str | Path) -> Path:
    """A temporary name beside ``path`` that no other writer uses."""
    path = Path(path)
    return path.with_name(f"{path.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")


# HDF5 crashes (a segfault in h5py's close) once a write has hit a full disk, so writers stop
# while this much room is still left, and close their file cleanly.
SPACE_MARGIN = 16 * 2**20


def ensure_space(path: str | Path, nbytes: int) -> None:
    """Raise the full-disk ``OSError`` unless the disk of ``path`` has room for ``nbytes``
    more and the safety margin."""
    folder = Path(path).absolute().parent
    while not folder.exists():  # a folder the write will create: its disk is its parent's
        folder = folder.parent
    free = shutil.disk_usage(folder).free
    if free < nbytes + SPACE_MARGIN:
        raise OSError(
            errno.ENOSPC,
            f"disk full while writing {path}: {free / 2**20:.1f} MiB free, the next "
            f"{nbytes / 2**20:.1f} MiB need {(nbytes + SPACE_MARGIN) / 2**20:.1f} MiB with the "
            "margin; free some space and run again",
        )


def disk_full(err: BaseException) -> bool:
    """Whether ``err`` is a full disk (h5py's errors carry it only in their text)."""
    if not isinstance(err, OSError):
        return False
    return err.errno in (errno.ENOSPC, errno.EDQUOT) or "No space left on device" in str(err)


def full_disk_error(path: str | Path, err: BaseException) -> OSError:
    """The one-line error for a write of ``path`` that the full disk stopped."""
    code = getattr(err, "errno", None) if disk_full(err) else None
    return OSError(code or errno.ENOSPC, f"disk full while writing {path}")


@contextmanager
def atomic(path: str | Path, fmt: str | None = None) -> Iterator[Path]:
    """Yield a temporary path to write; on success it replaces ``path``, on any error it is
    removed, so ``path`` is either the old file or the complete new one. Holds ``path``
    exclusively meanwhile. An existing ``path`` is replaced only if a neurosnn run wrote it
    (``fmt``: the HDF5 format this write makes; ``neurosnn.io.owned``). A full disk becomes an
    ``OSError`` that says so (torch's writer, for one, reports it as an unrelated
    ``RuntimeError``)."""
    from neurosnn.io.owned import check_replaceable

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ensure_space(path, 0)
    with exclusive(path):
        check_replaceable(path, fmt)
        tmp = temporary(path)
        try:
            yield tmp
            os.replace(tmp, path)
        except (OSError, RuntimeError) as err:
            if disk_full(err) or shutil.disk_usage(path.parent).free < SPACE_MARGIN:
                raise full_disk_error(path, err) from err
            raise
        finally:
            tmp.unlink(missing_ok=True)


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Write ``data`` as JSON atomically (a summary is either the old one or the new one)."""
    with atomic(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")


class Interrupted(BaseException):
    """SIGTERM, raised where the run is, so that every ``finally`` (temporary files, locks)
    runs as for Ctrl-C."""


def _terminate(signum, frame) -> None:
    raise Interrupted(signum)


INTERRUPTED = (
    "interrupted: finished files are kept and no partial one is left; run the same command "
    "again to go on (with --resume where it has one)"
)


def _to_log_files(line: str) -> None:
    """Write ``line`` to the log files a command set up (not its terminal: the error is printed
    there once), so a failed run's log says why it stopped."""
    for handler in logging.getLogger("neurosnn").handlers:
        if getattr(handler, "log_file", False):
            handler.stream.write(line + "\n")
            handler.flush()


def one_line_errors(main: Callable[..., int]) -> Callable[..., int]:
    """Wrap a command's ``main`` so that a ``neurosnn.errors.UserError`` (a bad value or
    file, an output in use, a resume that does not match) or a full disk ends it with
    ``error: …`` and a non-zero exit instead of a traceback; other errors (bugs) keep theirs.
    Ctrl-C and SIGTERM end it with one line (exit 130 and 143) after the temporary files of
    whatever was being written are removed."""

    @functools.wraps(main)
    def wrapped(*args, **kwargs) -> int:
        main_thread = threading.current_thread() is threading.main_thread()
        previous = signal.signal(signal.SIGTERM, _terminate) if main_thread else None
        previous_int = signal.getsignal(signal.SIGINT) if main_thread else None
        try:
            return main(*args, **kwargs)
        except UserError as err:
            _to_log_files(f"error: {err}")
            raise SystemExit(f"error: {err}") from err
        except BrokenPipeError:  # the reader went away (``neurosnn inspect … | head``)
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            raise SystemExit(141) from None
        except OSError as err:
            if not disk_full(err):
                raise
            raise SystemExit(f"error: {err.strerror or err}") from err
        except KeyboardInterrupt:
            if main_thread:  # a second Ctrl-C while the run cleans up: no traceback
                signal.signal(signal.SIGINT, signal.SIG_IGN)
            print(INTERRUPTED, file=sys.stderr)
            raise SystemExit(130) from None
        except Interrupted:
            print(INTERRUPTED, file=sys.stderr)
            raise SystemExit(143) from None
        finally:
            if main_thread:
                signal.signal(signal.SIGTERM, previous)
                signal.signal(signal.SIGINT, previous_int)

    return wrapped
