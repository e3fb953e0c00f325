"""The fuzzer of ``tests/fuzzing.py`` over every reader, for a bounded time: each mutated file
is read or refused in one line, never another exception, a read through a link or a runaway
allocation (``scripts/fuzz_readers.py`` runs the same for as long as it is given)."""

import tempfile
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.fuzzing import ROOT_KINDS, check_read, fuzz_settings, mutated, samples


@pytest.fixture(scope="module")
def kinds(tmp_path_factory):
    return samples(tmp_path_factory.mktemp("samples"))


@pytest.mark.parametrize("name", ROOT_KINDS)
def test_every_reader_reads_or_refuses_each_mutated_file(kinds, name):
    @fuzz_settings(40, derandomize=True)  # the same files every run: CI stays reproducible
    @given(st.data())
    def one(data):
        with tempfile.TemporaryDirectory() as folder:
            path, what = mutated(kinds[name], Path(folder), data.draw)
            check_read(kinds[name], path, what)

    one()
