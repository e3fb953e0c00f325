"""The fuzzer of tests/fuzzing.py for as long as it is given: every reader in turn, rounds of
mutated files, until the time is up; prints each round and, at the end, the files tried, how
many were read and refused, the seconds and every failure (Hypothesis's falsifying example).

    python scripts/fuzz_readers.py --minutes 30 [--log fuzz.log] [--keep last/]

A failure is a breach of the readers' contract (another exception than the one-line user error,
a read through a link, a runaway allocation, non-finite values read); exit status 1 if any.
A read that takes longer than --hang seconds is a failure too (its stack is printed).
"""

from __future__ import annotations

import argparse
import faulthandler
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from tests.fuzzing import ROOT_KINDS, check_read, fuzz_settings, mutated, samples  # noqa: E402


def fuzz_one(kind, args, outcomes: Counter):
    """``args.round`` mutated files of one kind, read under the contract."""

    @fuzz_settings(args.round)
    @given(st.data())
    def one(data):
        with tempfile.TemporaryDirectory() as folder:
            path, what = mutated(kind, Path(folder), data.draw)
            if args.keep:  # the file about to be read survives a crash of the process
                shutil.rmtree(args.keep, ignore_errors=True)
                shutil.copytree(path.parent, args.keep)
                (args.keep / "WHAT").write_text(f"{kind.name} {path.name} {what}\n")
            faulthandler.dump_traceback_later(args.hang, exit=True)
            try:
                outcomes[(kind.name, check_read(kind, path, what))] += 1
            finally:
                faulthandler.cancel_dump_traceback_later()

    return one


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=30.0, help="how long to run (30)")
    parser.add_argument("--round", type=int, default=200, help="files per reader per round")
    parser.add_argument("--hang", type=float, default=120.0, help="seconds one read may take")
    parser.add_argument("--log", type=Path, help="also append every line to this file")
    parser.add_argument(
        "--keep", type=Path, help="copy each file here before it is read (left by a crash)"
    )
    args = parser.parse_args(argv)
    faulthandler.enable()  # a crash in a C library prints the Python stack that reached it
    log = args.log.open("a") if args.log else None

    def say(line: str) -> None:
        print(line, flush=True)
        if log:
            log.write(line + "\n")
            log.flush()

    kinds = samples(Path(tempfile.mkdtemp(prefix="fuzz-samples-")))
    outcomes: Counter[str] = Counter()
    failures: list[str] = []
    start = time.perf_counter()
    deadline = start + 60 * args.minutes
    rounds = 0
    while time.perf_counter() < deadline:
        rounds += 1
        for name in ROOT_KINDS:
            if time.perf_counter() >= deadline:
                break

            one = fuzz_one(kinds[name], args, outcomes)
            try:
                one()
            except Exception as err:  # Hypothesis re-raises the breach it found, shrunk
                failures.append(f"{name}: {err!r}"[:2000])
                say(f"FAILURE {failures[-1]}")
        tried = sum(outcomes.values())
        say(f"round {rounds}: {tried:,} files tried, {time.perf_counter() - start:.0f} s")
    seconds = time.perf_counter() - start
    say(f"{sum(outcomes.values()):,} files tried in {seconds:.0f} s; {len(failures)} failures")
    for name in ROOT_KINDS:
        read, refused = outcomes[(name, "read")], outcomes[(name, "refused")]
        say(f"  {name:<13} {read + refused:>7,} files: {read:,} read, {refused:,} refused")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
