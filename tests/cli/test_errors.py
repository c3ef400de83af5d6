"""Every failure of the command line is one ``latentgeo: error:`` line and exit status 2, never a
traceback, whatever the exception (issue 13)."""

import numpy as np
import pytest
from support.cli import assert_error, run

from latentgeo.cli import _hubness as cli_hubness


@pytest.mark.parametrize(
    "exc, match",
    [
        (MemoryError("cannot allocate 8 TB"), "out of memory: cannot allocate 8 TB"),
        (MemoryError(), "out of memory"),
        (KeyError("k"), "internal error (KeyError: 'k'); please report it"),
        (IndexError("line\nbreak"), "internal error (IndexError: line break)"),
    ],
)
def test_any_exception_is_one_line(capsys, tmp_path, monkeypatch, exc, match):
    path = tmp_path / "X.npy"
    np.save(path, np.random.default_rng(0).standard_normal((20, 3)))

    def boom(*args, **kwargs):
        raise exc

    monkeypatch.setattr(cli_hubness, "hubness", boom)
    assert_error(*run(capsys, "hubness", path, "--k", "3"), match)
