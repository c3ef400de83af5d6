"""Every CLI command that writes a file writes it atomically: the destination is checked before
the work starts, and a failed or interrupted run leaves neither the file nor a temporary one."""

import numpy as np
import pytest
from support.cli import assert_error, run

import latentgeo
from latentgeo._files import AtomicFile
from latentgeo.cli import _geodesic as cli_geodesic
from latentgeo.cli import _hubness as cli_hubness

COMMANDS = [
    ["sample-hubs", "{npy}", "--k", "3", "--top", "5"],
    ["geodesic", "{npy}", "--k", "5", "--sources", "0,1"],
    ["sample", "--n", "50", "--steps", "5"],
]


def _argv(cmd, npy, out):
    return [a.format(npy=npy) for a in cmd] + ["--out", str(out)]


@pytest.fixture
def npy(tmp_path, rng):
    path = tmp_path / "X.npy"
    np.save(path, rng.standard_normal((60, 4)).astype(np.float32))
    return path


@pytest.mark.parametrize("cmd", COMMANDS, ids=lambda c: c[0])
def test_missing_directory_fails_before_the_work(capsys, tmp_path, npy, cmd, monkeypatch):
    def boom(*args, **kwargs):
        raise AssertionError("the work started although the output cannot be written")

    monkeypatch.setattr(cli_geodesic, "load_matrix", boom)
    monkeypatch.setattr(cli_hubness, "load_matrix", boom)
    monkeypatch.setattr(latentgeo.diffusion, "sample", boom)
    out = tmp_path / "missing" / "out.npy"
    assert_error(*run(capsys, *_argv(cmd, npy, out)), "no such directory")
    assert not out.parent.exists()


@pytest.mark.parametrize("cmd", COMMANDS, ids=lambda c: c[0])
def test_output_is_whole_and_no_temporary_is_left(capsys, tmp_path, npy, cmd):
    out = tmp_path / "out.npy"
    out.write_bytes(b"old")
    rc, _, err = run(capsys, *_argv(cmd, npy, out))
    assert rc == 0, err
    assert np.load(out).ndim in (1, 2)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["X.npy", "out.npy"])


@pytest.mark.parametrize("cmd", COMMANDS[:2], ids=lambda c: c[0])
def test_failed_run_leaves_nothing(capsys, tmp_path, cmd):
    bad = tmp_path / "bad.npy"
    np.save(bad, np.array([[np.nan, 1.0], [0.0, 1.0]]))
    out = tmp_path / "out.npy"
    assert_error(*run(capsys, *_argv(cmd, bad, out)), "NaN")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.npy"]


def test_atomic_file_commit_and_abandon(tmp_path):
    target = tmp_path / "f.bin"
    with AtomicFile(target) as f:
        assert not target.exists()
        assert f.commit(lambda fh: fh.write(b"abc")) == target
    assert target.read_bytes() == b"abc"
    with pytest.raises(RuntimeError):
        with AtomicFile(target) as f:
            raise RuntimeError("interrupted")
    assert target.read_bytes() == b"abc"
    assert [p.name for p in tmp_path.iterdir()] == ["f.bin"]
    with pytest.raises(ValueError, match="is a directory"):
        AtomicFile(tmp_path)
