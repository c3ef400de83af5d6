"""``--scheduler ADDRESS`` and ``--workers N``: the same output as the single-process command."""

import numpy as np
import pytest
from support.cli import assert_error, run, run_json

import latentgeo

pytest.importorskip("dask.array")
pytest.importorskip("distributed")

TIMES = ("seconds", "timings")


def without_times(d):
    if isinstance(d, dict):
        return {
            k: without_times(v)
            for k, v in d.items()
            if k not in TIMES and not (k.startswith("time_") and k.endswith("_s"))
        }
    return d


@pytest.fixture
def address(client):
    return client.scheduler.address


def test_hubness_on_a_running_scheduler(capsys, example_npy, address):
    ref = run_json(capsys, "hubness", example_npy, "--k", 5, "--full")
    got = run_json(capsys, "hubness", example_npy, "--k", 5, "--full", "--scheduler", address)
    assert got == ref
    ref = run_json(capsys, "hubness", example_npy, "--k", 5, "--reduction", "mp")
    got = run_json(
        capsys, "hubness", example_npy, "--k", 5, "--reduction", "mp", "--scheduler", address
    )
    assert got == ref


def test_unargmax_geodesic_sample(capsys, tmp_path, example, address):
    rng = np.random.default_rng(0)
    W = rng.normal(size=(300, 4))
    W[3] = 0.5 * (W[1] + W[2])
    np.save(tmp_path / "W.npy", W)
    ref = run_json(capsys, "unargmax", tmp_path / "W.npy")
    got = run_json(capsys, "unargmax", tmp_path / "W.npy", "--scheduler", address)
    assert without_times(got) == without_times(ref) and 3 in got["unargmaxable"]

    np.save(tmp_path / "X.npy", example[:200])
    common = ("geodesic", tmp_path / "X.npy", "--sources", "0,5,5,150", "--top", 3)
    ref = run_json(capsys, *common, "--out", tmp_path / "a.npy")
    got = run_json(capsys, *common, "--out", tmp_path / "b.npy", "--scheduler", address)
    assert without_times(got)["sources"] == ref["sources"]
    assert np.array_equal(np.load(tmp_path / "a.npy"), np.load(tmp_path / "b.npy"))

    common = ("sample", "--n", 300, "--method", "euler_maruyama", "--steps", 10, "--loglik", 150)
    ref = run_json(capsys, *common, "--batch-size", 64, "--out", tmp_path / "s.npy")
    got = run_json(capsys, *common, "--batch-size", 64, "--out", tmp_path / "t.npy",
                   "--scheduler", address)  # fmt: skip
    assert without_times(got) == {**without_times(ref), "out": got["out"]}
    assert got["loglik"]["nfe"] > 0 and np.isfinite(got["loglik"]["mean_log_prob"])
    assert np.array_equal(np.load(tmp_path / "s.npy"), np.load(tmp_path / "t.npy"))


@pytest.mark.slow
def test_workers_start_a_local_cluster(capsys, example_npy):
    ref = latentgeo.hubness(np.load(example_npy), 5)
    got = run_json(capsys, "hubness", example_npy, "--k", 5, "--workers", 1, "--full")
    assert got["k_occurrence"] == ref.k_occurrence.tolist()


def test_errors(capsys, example_npy):
    assert_error(
        *run(capsys, "hubness", example_npy, "--workers", 0), "--workers must be at least 1"
    )
    assert_error(
        *run(capsys, "geodesic", example_npy, "--centre", "mean", "--workers", 1),
        "apply to --sources",
    )
