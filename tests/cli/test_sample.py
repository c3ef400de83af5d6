"""Tests for ``latentgeo sample`` (diffusion sampling of an analytic Gaussian mixture)."""

import json
import os

import numpy as np
import pytest
from support.cli import assert_error, run, run_json

from latentgeo.cli import _sample as cli_sample
from latentgeo.diffusion import VP, GaussianMixture, sample

SPEC = {
    "weights": [0.3, 0.7],
    "means": [[-2.0, 0.0, 1.0], [2.0, 1.0, -1.0]],
    "covariances": [
        [[0.5, 0.1, 0.0], [0.1, 0.4, 0.0], [0.0, 0.0, 0.3]],
        [[0.3, 0.0, 0.0], [0.0, 0.6, -0.1], [0.0, -0.1, 0.2]],
    ],
    "covariance_type": "full",
}


def write_spec(tmp_path, spec, name="spec.json"):
    path = tmp_path / name
    path.write_text(spec if isinstance(spec, str) else json.dumps(spec))
    return path


@pytest.fixture
def spec(tmp_path):
    return write_spec(tmp_path, SPEC)


def leftovers(directory):
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


def true_moments(spec):
    w, mu, cov = (np.asarray(spec[k], dtype=float) for k in ("weights", "means", "covariances"))
    mean = w @ mu
    c = mu - mean
    return mean, np.einsum("k,kij->ij", w, cov) + (c.T * w) @ c


# --- output file and summary ------------------------------------------------------------------


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_writes_npy_of_right_shape_and_dtype(capsys, tmp_path, spec, dtype):
    out = tmp_path / "x.npy"
    rc, stdout, err = run(
        capsys, "sample", "--gmm", spec, "--n", 500, "--out", out, "--dtype", dtype
    )
    assert rc == 0, err
    x = np.load(out)
    assert x.shape == (500, 3) and x.dtype == np.dtype(dtype)
    assert np.isfinite(x).all()
    assert f"wrote {out} (500 x 3 {dtype})" in stdout
    assert leftovers(tmp_path) == []


def test_npy_suffix_is_added(capsys, tmp_path, spec):
    got = run_json(capsys, "sample", "--gmm", spec, "--n", 10, "--out", tmp_path / "samples")
    assert got["out"] == str(tmp_path / "samples.npy")
    assert np.load(tmp_path / "samples.npy").shape == (10, 3)


def test_json_fields_and_moments_near_truth(capsys, tmp_path, spec):
    out = tmp_path / "x.npy"
    got = run_json(
        capsys, "sample", "--gmm", spec, "--n", 20000, "--method", "heun", "--steps", 40,
        "--seed", 3, "--out", out,
    )  # fmt: skip
    for key in (
        "mixture", "n", "dim", "dtype", "process", "method", "steps", "grid", "seed", "nfe",
        "seconds", "t_final", "mean_error", "cov_error", "sample_mean", "true_mean",
        "sample_cov", "true_cov", "out",
    ):  # fmt: skip
        assert key in got, key
    assert got["mixture"] == {
        "source": str(spec),
        "n_components": 2,
        "dim": 3,
        "covariance_type": "full",
    }
    assert (got["n"], got["dim"], got["dtype"]) == (20000, 3, "float64")
    assert (got["process"], got["method"], got["steps"], got["grid"]) == (
        "vp",
        "heun",
        40,
        "uniform",
    )
    assert got["nfe"] == 80 and got["seconds"] > 0 and got["out"] == str(out)
    mean, cov = true_moments(SPEC)
    np.testing.assert_allclose(got["true_mean"], mean, atol=1e-12)
    np.testing.assert_allclose(got["true_cov"], cov, atol=1e-12)
    x = np.load(out)
    np.testing.assert_allclose(got["sample_mean"], x.mean(axis=0), rtol=1e-12, atol=1e-12)
    # The mean is within a few standard errors of the truth (sd of the mean ~ 0.015 here).
    np.testing.assert_allclose(x.mean(axis=0), mean, atol=0.08)
    np.testing.assert_allclose(np.cov(x, rowvar=False), cov, atol=0.12)
    assert got["mean_error"] < 0.05 and got["cov_error"] < 0.05


def test_same_as_library(capsys, tmp_path, spec):
    out = tmp_path / "x.npy"
    run_json(capsys, "sample", "--gmm", spec, "--n", 300, "--method", "rk4", "--steps", 20,
             "--seed", 9, "--out", out)  # fmt: skip
    gmm = GaussianMixture(SPEC["weights"], SPEC["means"], SPEC["covariances"])
    ref = sample(VP(), gmm, shape=(300, 3), method="rk4", steps=20, seed=9)
    np.testing.assert_array_equal(np.load(out), ref.x)


def test_text_output(capsys, spec):
    rc, out, err = run(capsys, "sample", "--gmm", spec, "--n", 100, "--steps", 10)
    assert rc == 0 and err == ""
    assert "GaussianMixture(n_components=2, dim=3, covariance_type='full')" in out
    assert "sampled 100 x 3 with process vp, method heun, 10 steps" in out
    assert "wrote" not in out


def test_reproducible_with_seed_and_independent_of_batching(capsys, tmp_path, spec):
    paths = [tmp_path / f"{i}.npy" for i in range(4)]
    common = ("sample", "--gmm", spec, "--n", 200, "--method", "euler_maruyama", "--steps", 20)
    run_json(capsys, *common, "--seed", 5, "--out", paths[0])
    run_json(capsys, *common, "--seed", 5, "--out", paths[1], "--batch-size", 33, "--threads", 1)
    run_json(capsys, *common, "--seed", 6, "--out", paths[2])
    a, b, c = (np.load(p) for p in paths[:3])
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


@pytest.mark.parametrize(
    "method, extra",
    [
        ("euler", ()),
        ("midpoint", ()),
        ("ddim", ("--eta", 0.5)),
        ("dpmpp_2m", ()),
        ("euler_maruyama", ("--r", 0.5)),
        ("ancestral", ()),
        ("pc", ("--snr", 0.1, "--n-corrector", 2)),
        ("dopri5", ("--rtol", 1e-4, "--atol", 1e-4)),
    ],
)
def test_methods(capsys, method, extra):
    got = run_json(capsys, "sample", "--n", 2000, "--method", method, "--steps", 30, *extra)
    assert got["method"] == method and got["n"] == 2000 and got["dim"] == 2
    assert got["mixture"]["source"] == "example"
    assert got["mean_error"] < 0.1 and got["cov_error"] < 0.1
    if method == "dopri5":
        assert got["accepted_steps_mean"] > 0 and "rejected_steps_mean" in got
    else:
        assert "accepted_steps_mean" not in got


@pytest.mark.parametrize("process", ["vp", "subvp", "cosine", "ve", "edm"])
def test_processes_and_grids(capsys, process):
    grid = "karras" if process in ("ve", "edm") else "logsnr"
    got = run_json(
        capsys, "sample", "--n", 2000, "--process", process, "--grid", grid, "--steps", 40,
        "--denoise-final",
    )  # fmt: skip
    assert got["process"] == process and got["grid"] == grid
    assert got["t_final"] is None  # denoised to the data
    assert got["nfe"] == 81
    assert got["mean_error"] < 0.1 and got["cov_error"] < 0.1


def test_builtin_example_explicit(capsys):
    a = run_json(capsys, "sample", "--n", 50)
    b = run_json(capsys, "sample", "--n", 50, "--gmm", "example")
    assert a["sample_mean"] == b["sample_mean"]
    assert a["mixture"] == {
        "source": "example",
        "n_components": 8,
        "dim": 2,
        "covariance_type": "spherical",
    }
    np.testing.assert_allclose(a["true_mean"], [0.0, 0.0], atol=1e-12)
    np.testing.assert_allclose(a["true_cov"], np.eye(2) * (8 + 0.05), rtol=1e-12, atol=1e-12)


def test_loglik(capsys):
    got = run_json(capsys, "sample", "--n", 300, "--loglik", 100)
    ll = got["loglik"]
    assert ll["samples"] == 100 and ll["nfe"] > 0
    assert ll["mean_log_prob"] == pytest.approx(ll["mean_true_log_prob"], abs=0.05)


def test_high_dimension_leaves_out_the_matrices(capsys, tmp_path):
    d = cli_sample.SAMPLE_JSON_MAX_DIM + 1
    spec = {"weights": [1.0], "means": [[0.0] * d], "covariances": [1.0]}
    got = run_json(capsys, "sample", "--gmm", write_spec(tmp_path, spec), "--n", 100, "--steps", 5)
    assert got["dim"] == d and got["mixture"]["covariance_type"] == "spherical"
    assert "sample_cov" not in got and "true_mean" not in got
    assert got["cov_error"] is not None


@pytest.mark.parametrize(
    "covariances, kind",
    [([0.5, 0.2], "spherical"), ([[0.5, 0.4], [0.2, 0.3]], "diag")],
)
def test_covariance_type_inferred(capsys, tmp_path, covariances, kind):
    spec = {"weights": [0.5, 0.5], "means": [[0, 0], [3, 3]], "covariances": covariances}
    got = run_json(capsys, "sample", "--gmm", write_spec(tmp_path, spec), "--n", 10)
    assert got["mixture"]["covariance_type"] == kind


# --- errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "spec, match",
    [
        ('{"weights": [1], ', "is not valid JSON"),
        ("[1, 2]", "must be a JSON object"),
        ({"weights": [1.0], "means": [[0.0]]}, "missing key(s) 'covariances'"),
        (
            {"weights": [1.0], "means": [[0.0]], "covariances": [1.0], "cov_type": "full"},
            "unknown key(s) 'cov_type'",
        ),
        (
            {"weights": [0.5, 0.6], "means": [[0.0], [1.0]], "covariances": [1.0, 1.0]},
            "weights must sum to 1",
        ),
        (
            {"weights": [1.0], "means": [[0.0, 0.0], [1.0]], "covariances": [1.0]},
            "'means' must be a number or a (nested) list",
        ),
        (
            {"weights": [1.0], "means": [[0.0]], "covariances": [["a"]]},
            "'covariances' must be a number",
        ),
        (
            {"weights": [1.0], "means": [[0.0, 0.0]], "covariances": [[[[1.0]]]]},
            "expected (K, d, d) full",
        ),
        (
            {"weights": [1.0], "means": [[0.0]], "covariances": [1.0], "covariance_type": "x"},
            "'covariance_type' must be one of",
        ),
        (
            {
                "weights": [1.0],
                "means": [[0.0, 0.0]],
                "covariances": [[[1.0, 2.0], [2.0, 1.0]]],
                "covariance_type": "full",
            },
            "positive semi-definite",
        ),
        (
            {"weights": [1.0], "means": [[0.0, 0.0]], "covariances": [[1.0, 1.0, 1.0]]},
            "dimension mismatch",
        ),
    ],
)
def test_bad_spec(capsys, tmp_path, spec, match):
    path = write_spec(tmp_path, spec)
    out = tmp_path / "x.npy"
    rc, stdout, err = run(capsys, "sample", "--gmm", path, "--out", out)
    assert_error(rc, stdout, err, match)
    assert str(path) in err
    assert not out.exists() and leftovers(tmp_path) == []


def test_missing_spec(capsys, tmp_path):
    assert_error(*run(capsys, "sample", "--gmm", tmp_path / "nope.json"), "no such file")
    assert_error(*run(capsys, "sample", "--gmm", tmp_path), "is a directory")


def test_unknown_method_and_process(capsys):
    assert_error(*run(capsys, "sample", "--method", "leapfrog"), "invalid choice: 'leapfrog'")
    assert_error(*run(capsys, "sample", "--process", "ddpm"), "invalid choice: 'ddpm'")
    assert_error(*run(capsys, "sample", "--grid", "cosine"), "invalid choice: 'cosine'")


@pytest.mark.parametrize(
    "args, match",
    [
        (("--n", 0), "--n must be at least 1"),
        (("--steps", 0), "steps must be at least 1"),
        (("--eta", 0.5), "--eta applies only to --method ddim"),
        (("--rtol", 1e-3), "--rtol applies only to --method dopri5"),
        (("--method", "ddim", "--eta", -1), "eta"),
        (("--batch-size", 0), "batch_size"),
        (("--threads", 0), "n_threads"),
        (("--seed", -1), "seed"),
        (("--n", 10, "--loglik", 11), "--loglik must be between 1 and --n"),
    ],
)
def test_bad_options(capsys, args, match):
    assert_error(*run(capsys, "sample", *args), match)


def test_unwritable_output_fails_before_sampling(capsys, tmp_path, monkeypatch):
    import latentgeo.diffusion as diffusion

    def boom(*a, **k):
        raise AssertionError("sampled before checking the output")

    monkeypatch.setattr(diffusion, "sample", boom)
    rc, out, err = run(capsys, "sample", "--out", tmp_path / "missing" / "x.npy")
    assert_error(rc, out, err, "no such directory")
    (tmp_path / "dir.npy").mkdir()
    assert_error(*run(capsys, "sample", "--out", tmp_path / "dir.npy"), "is a directory")


@pytest.mark.parametrize("exc, status", [(KeyboardInterrupt, 130), (RuntimeError, 2)])
def test_interrupted_run_leaves_no_file(capsys, tmp_path, monkeypatch, exc, status):
    import latentgeo.diffusion as diffusion

    def interrupted(*a, **k):
        raise exc("stopped")

    out = tmp_path / "x.npy"
    old = tmp_path / "old.npy"
    np.save(old, np.zeros(3))
    monkeypatch.setattr(diffusion, "sample", interrupted)
    rc, _, _ = run(capsys, "sample", "--out", out)
    assert rc == status
    assert not out.exists() and leftovers(tmp_path) == []
    # An existing destination is left untouched by a failed run.
    rc, _, _ = run(capsys, "sample", "--out", old)
    assert rc == status
    np.testing.assert_array_equal(np.load(old), np.zeros(3))


def test_output_replaces_existing_file_with_normal_permissions(capsys, tmp_path):
    out = tmp_path / "x.npy"
    np.save(out, np.zeros(3))
    run_json(capsys, "sample", "--n", 7, "--out", out)
    assert np.load(out).shape == (7, 2)
    umask = os.umask(0)
    os.umask(umask)
    assert os.stat(out).st_mode & 0o777 == 0o666 & ~umask


def test_progress_bar_only_on_a_terminal_and_not_with_json_or_quiet(capsys, monkeypatch):
    import sys

    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    rc, out, err = run(capsys, "sample", "--n", 20, "--steps", 5)
    assert rc == 0 and "sample heun [" in err and "100.0%" in err
    for flag in ("--quiet", "--no-progress", "--json"):
        monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
        rc, out, err = run(capsys, "sample", "--n", 20, "--steps", 5, flag)
        assert rc == 0 and err == "", flag
