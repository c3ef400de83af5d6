"""Tests for the command line (latentgeo.cli) and the built-in examples (latentgeo.datasets)."""

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
from scipy.optimize import linprog
from support.cli import assert_error, run, run_json

import latentgeo
from latentgeo.cli import _audit as cli_audit
from latentgeo.datasets import make_example

# --- latentgeo hubness ----------------------------------------------------------------------


def test_hubness_text(capsys, example_npy, example):
    rc, out, err = run(capsys, "hubness", example_npy, "--k", 7)
    assert rc == 0 and err == ""
    first, rest = out.split("\n", 1)
    assert first == f"{example_npy}: 600 x 32 float32"
    assert rest.strip() == latentgeo.hubness(example, 7).summary()


def test_hubness_json_agrees_with_library(capsys, example_npy, example):
    got = run_json(capsys, "hubness", example_npy, "--k", 7, "--metric", "cosine", "--hub-size", 3)
    report = latentgeo.hubness(example, 7, metric="cosine", hub_size=3)
    assert got["input"] == {
        "path": str(example_npy),
        "key": None,
        "shape": [600, 32],
        "dtype": "float32",
    }
    for name in ("k", "n", "metric", "hub_size", "robinhood", "gini", "atkinson", "groupie_ratio"):
        assert got[name] == pytest.approx(getattr(report, name)), name
    assert got["skewness"] == pytest.approx(report.skewness)
    assert got["n_hubs"] == report.hubs.size and got["n_antihubs"] == report.antihubs.size
    assert [h["index"] for h in got["top_hubs"]] == report.hubs[:10].tolist()
    assert [h["k_occurrence"] for h in got["top_hubs"]] == report.k_occurrence[
        report.hubs[:10]
    ].tolist()
    assert "k_occurrence" not in got and "hubs" not in got and "antihubs" not in got


def test_hubness_json_full(capsys, example_npy, example):
    got = run_json(capsys, "hubness", example_npy, "--full")
    report = latentgeo.hubness(example, 10)
    assert got["k_occurrence"] == report.k_occurrence.tolist()
    assert got["hubs"] == report.hubs.tolist() and got["antihubs"] == report.antihubs.tolist()


def test_hubness_reduction_is_passed_on(capsys, example_npy, example):
    got = run_json(capsys, "hubness", example_npy, "--reduction", "mp")
    report = latentgeo.hubness(example, 10, reduction="mp")
    assert report.reduction is not None and got["reduction"] == report.reduction
    assert got["skewness"] == pytest.approx(report.skewness)


def test_npz_with_key(capsys, tmp_path, example):
    path = tmp_path / "two.npz"
    np.savez(path, emb=example, other=np.zeros(3))
    got = run_json(capsys, "hubness", path, "--key", "emb", "--k", 5)
    assert got["input"]["key"] == "emb"
    assert got["skewness"] == pytest.approx(latentgeo.hubness(example, 5).skewness)
    assert_error(*run(capsys, "hubness", path), "choose one with --key")
    assert_error(*run(capsys, "hubness", path, "--key", "nope"), "no array 'nope'")
    one = tmp_path / "one.npz"
    np.savez(one, emb=example)
    assert run_json(capsys, "hubness", one, "--k", 5)["input"]["key"] == "emb"


def test_key_on_npy_is_an_error(capsys, example_npy):
    assert_error(*run(capsys, "hubness", example_npy, "--key", "emb"), "only to .npz")


# --- latentgeo audit ------------------------------------------------------------------------


def test_audit_without_file_uses_the_example(capsys):
    rc, out, err = run(capsys, "audit")
    assert rc == 0 and err == ""
    assert out.startswith("no FILE given: auditing the built-in example")
    assert "== array ==" in out and "== hubness ==" in out and "== geodesic ==" in out


def test_audit_json_without_file(capsys):
    got = run_json(capsys, "audit")
    assert got["input"]["path"] is None and "make_example" in got["input"]["example"]
    X = make_example()
    assert got["sections"]["array"]["rows"] == X.shape[0]
    assert got["sections"]["hubness"]["skewness"] == pytest.approx(latentgeo.hubness(X).skewness)
    softmax = run_json(capsys, "audit", "--example", "softmax", "--k", 5)
    assert "softmax" in softmax["input"]["example"]


def test_audit_file(capsys, example_npy, example):
    got = run_json(capsys, "audit", example_npy, "--k", 5)
    assert list(got["sections"]) == ["array", "hubness", "whitening", "geodesic"]
    no_geo = run_json(capsys, "audit", example_npy, "--k", 5, "--no-geodesic")
    assert list(no_geo["sections"]) == ["array", "hubness", "whitening"]
    arr = got["sections"]["array"]
    norms = np.linalg.norm(example.astype(np.float64), axis=1)
    assert (arr["rows"], arr["dims"], arr["dtype"]) == (600, 32, "float32")
    assert arr["norm_mean"] == pytest.approx(norms.mean())
    assert arr["norm_max"] == pytest.approx(norms.max())
    assert arr["zero_rows"] == 0 and arr["duplicate_rows"] == 0
    ratio = np.linalg.norm(example.astype(np.float64).mean(0)) / norms.mean()
    assert arr["mean_direction_ratio"] == pytest.approx(ratio)
    report = latentgeo.hubness(example, 5)
    assert got["sections"]["hubness"]["gini"] == pytest.approx(report.gini)

    rc, out, err = run(capsys, "audit", example_npy, "--k", 5)
    assert rc == 0 and out.startswith(f"auditing {example_npy}: 600 x 32 float32")


def test_audit_counts_duplicates_and_zero_rows(capsys, tmp_path):
    Y = np.random.default_rng(0).standard_normal((50, 4))
    Y[10] = Y[3]
    Y[11] = Y[3]
    Y[20] = 0.0
    path = tmp_path / "dup.npy"
    np.save(path, Y)
    arr = run_json(capsys, "audit", path, "--k", 3)["sections"]["array"]
    assert arr["duplicate_rows"] == 2 and arr["zero_rows"] == 1 and arr["dtype"] == "float64"


def test_audit_sections_plug_in(capsys, example_npy, monkeypatch):
    def extra(X, args):
        return {"rows_times_k": X.shape[0] * args.k}

    monkeypatch.setattr(cli_audit, "AUDIT_SECTIONS", cli_audit.AUDIT_SECTIONS + [("extra", extra)])
    got = run_json(capsys, "audit", example_npy, "--k", 4)
    assert got["sections"]["extra"] == {"rows_times_k": 2400}
    rc, out, _ = run(capsys, "audit", example_npy, "--k", 4)
    assert "== extra ==\n  rows_times_k  2400" in out


def test_audit_example_with_file_is_an_error(capsys, example_npy):
    assert_error(*run(capsys, "audit", example_npy, "--example", "softmax"), "no FILE")


# --- latentgeo sample-hubs ------------------------------------------------------------------


@pytest.fixture(scope="module")
def Z():
    return np.random.default_rng(5).standard_normal((1500, 128)).astype(np.float32)


def test_sample_hubs_writes_kept_latents(capsys, tmp_path, Z):
    src = tmp_path / "z.npy"
    np.save(src, Z)
    out = tmp_path / "kept"
    rc, text, err = run(capsys, "sample-hubs", src, "--threshold", 15, "--out", out)
    expected = latentgeo.sample_hubs(Z, k=5, threshold=15)
    assert rc == 0 and err == ""
    assert 0 < expected.n_kept < 300
    assert f"kept {expected.n_kept} of 1500 latents" in text and "N_5 >= 15" in text
    kept = np.load(tmp_path / "kept.npy")
    assert kept.dtype == np.float32
    np.testing.assert_array_equal(kept, expected.latents)


def test_sample_hubs_json(capsys, tmp_path, Z):
    src = tmp_path / "z.npy"
    np.save(src, Z)
    got = run_json(capsys, "sample-hubs", src, "--k", 4, "--top", 30)
    expected = latentgeo.sample_hubs(Z, k=4, top=30)
    assert got["draw_index"] == expected.draw_index.tolist()
    assert got["k_occurrence"] == expected.k_occurrence.tolist()
    assert got["n_kept"] == 30 and got["threshold"] is None and got["out"] is None
    default = run_json(capsys, "sample-hubs", src)
    assert default["threshold"] == 50 and default["k"] == 5


# --- errors ---------------------------------------------------------------------------------


@pytest.fixture
def bad_files(tmp_path):
    files = {}
    for name, arr in [
        ("vec.npy", np.arange(5.0)),
        ("nan.npy", np.array([[0.0, 1.0], [np.nan, 2.0], [3.0, 4.0]])),
        ("str.npy", np.array([["a", "b"], ["c", "d"]])),
        ("small.npy", np.zeros((3, 2))),
    ]:
        np.save(tmp_path / name, arr)
        files[name] = tmp_path / name
    (tmp_path / "text.npy").write_text("not an array\n")
    files["text.npy"] = tmp_path / "text.npy"
    return files


@pytest.mark.parametrize(
    "argv, match",
    [
        (["hubness", "{missing}"], "no such file"),
        (["hubness", "{vec.npy}"], "must be a 2-D array"),
        (["audit", "{vec.npy}"], "got 1-D"),
        (["sample-hubs", "{vec.npy}"], "2-D"),
        (["hubness", "{nan.npy}"], "NaN"),
        (["hubness", "{str.npy}"], "real numbers"),
        (["hubness", "{text.npy}"], "cannot read"),
        (["hubness", "{dir}"], "is a directory"),
        (["hubness", "{small.npy}"], "k=10 must be smaller"),
        (["hubness", "{small.npy}", "--k", "x"], "invalid int value"),
        (["hubness", "{small.npy}", "--metric", "manhattan"], "invalid choice"),
        (["hubness", "{small.npy}", "--reduction", "nope"], "invalid choice: 'nope'"),
        (["sample-hubs", "{small.npy}", "--top", "1", "--threshold", "1"], "not allowed"),
        (["sample-hubs", "{small.npy}", "--k", "1", "--threshold", "-1"], "at least 0"),
        (["hubness"], "required"),
        ([], "required"),
        (["frobnicate"], "invalid choice"),
        (["hubness", "{small.npy}", "--bogus"], "unrecognized arguments"),
    ],
)
def test_errors_are_one_line_with_status_2(capsys, tmp_path, bad_files, argv, match):
    names = {"missing": tmp_path / "missing.npy", "dir": tmp_path, **bad_files}
    argv = [names[a[1:-1]] if a.startswith("{") else a for a in argv]
    assert_error(*run(capsys, *argv), match)


def test_help_and_version(capsys):
    rc, out, _ = run(capsys, "--help")
    assert rc == 0 and "hubness" in out and "audit" in out and "sample-hubs" in out
    rc, out, _ = run(capsys, "sample-hubs", "--help")
    assert rc == 0 and "--threshold" in out
    rc, out, _ = run(capsys, "--version")
    assert rc == 0 and out.strip() == f"latentgeo {latentgeo.__version__}"


# --- as a program ---------------------------------------------------------------------------


@pytest.mark.slow
def test_python_dash_m(example_npy):
    proc = subprocess.run(
        [sys.executable, "-m", "latentgeo", "hubness", str(example_npy), "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["n"] == 600


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("latentgeo") is None, reason="console script not on PATH")
def test_console_script(tmp_path):
    proc = subprocess.run(
        ["latentgeo", "hubness", str(tmp_path / "missing.npy")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"latentgeo: error: no such file: {tmp_path / 'missing.npy'}"
    assert "Traceback" not in proc.stderr
    proc = subprocess.run(["latentgeo", "audit"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "== hubness ==" in proc.stdout


# --- built-in examples ----------------------------------------------------------------------


def test_example_is_deterministic():
    a = make_example()
    assert a.shape == (2000, 64) and a.dtype == np.float32
    np.testing.assert_array_equal(a, make_example())
    assert not np.array_equal(a, make_example(seed=1))
    assert make_example(n=100, d=5, seed=2).shape == (100, 5)


def test_example_shows_hubness():
    report = latentgeo.hubness(make_example(), 10)
    assert report.skewness > 1.5
    assert report.antihubs.size > 0 and report.hubs.size > 0


def test_softmax_example_plants_unargmaxable_rows():
    W = make_example(n=400, d=16, kind="softmax")
    assert W.shape == (400, 16) and W.dtype == np.float32

    def inside_hull(j):
        # Feasibility of W[j] = sum_i lam_i W[i] over i != j, lam >= 0, sum lam = 1.
        others = np.delete(W, j, axis=0).astype(np.float64)
        A = np.vstack([others.T, np.ones(len(others))])
        b = np.append(W[j].astype(np.float64), 1.0)
        res = linprog(np.zeros(len(others)), A_eq=A, b_eq=b, bounds=(0, None), method="highs")
        return res.status == 0

    assert inside_hull(399) and inside_hull(396)  # the last 400 // 100 rows are planted
    # Rows maximising a linear function or the distance to the mean are hull vertices.
    far = int(np.argmax(np.linalg.norm(W - W.mean(0), axis=1)))
    assert not inside_hull(far) and not inside_hull(int(np.argmax(W[:, 0])))


def test_example_rejects_bad_kind():
    with pytest.raises(ValueError, match="unknown kind"):
        make_example(kind="images")


def test_hubness_reads_npy_memory_mapped(example_npy, example):
    """The CLI hands the memory map itself (not an in-memory copy) to the search."""
    from latentgeo.cli import _io

    X, info = _io.load_matrix(str(example_npy))
    assert isinstance(X, np.memmap) and info["dtype"] == "float32"
    assert np.array_equal(np.asarray(X), example)


def test_hubness_method_approximate(capsys, example_npy, monkeypatch):
    pytest.importorskip("usearch", reason="--method approximate needs pip install 'latentgeo[ann]'")
    out = run_json(capsys, "hubness", example_npy, "--method", "approximate", "--threads", "1")
    assert out["approx"]["n_checked"] == 300 and 0 <= out["approx"]["recall"] <= 1
    monkeypatch.setitem(sys.modules, "usearch", None)
    rc, out, err = run(capsys, "hubness", example_npy, "--method", "approximate")
    assert_error(rc, out, err, "pip install 'latentgeo[ann]'")
