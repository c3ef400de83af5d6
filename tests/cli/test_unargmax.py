"""Tests for ``latentgeo unargmax`` and the opt-in ``unargmaxable`` audit section."""

import re

import numpy as np
import pytest
from support.cli import assert_error, run, run_json

import latentgeo
from latentgeo.unargmax import save_safetensors

needs_unargmaxable = pytest.mark.skipif(
    not hasattr(latentgeo, "unargmaxable"), reason="latentgeo.unargmaxable is not available yet"
)

V, D = 160, 6
PLANTED = [17, 60, 123]


@pytest.fixture(scope="module")
def W():
    """Distinct unit-norm rows (all hull vertices) plus rows planted strictly inside the hull.

    Each planted row is a convex combination, with positive weights, of three other
    (unit-norm) rows; its norm is below 1, so it is inside the hull and unargmaxable without a
    bias, while every unit-norm row stays a vertex.
    """
    rng = np.random.default_rng(7)
    X = rng.standard_normal((V, D))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    others = [i for i in range(V) if i not in PLANTED]
    for k in PLANTED:
        idx = rng.choice(others, size=3, replace=False)
        lam = rng.dirichlet(np.ones(3)) * 0.9 + 0.1 / 3  # strictly positive, sums to 1
        X[k] = lam @ X[idx]
    W = X.astype(np.float32)
    assert all(np.linalg.norm(W[k]) < 0.99 for k in PLANTED)
    return W


@pytest.fixture(scope="module")
def model(tmp_path_factory, W):
    """A safetensors file: the head, a Voronoi bias -|w|^2/2, a zero bias and an unrelated
    tensor."""
    path = tmp_path_factory.mktemp("unargmax") / "model.safetensors"
    W64 = W.astype(np.float64)
    save_safetensors(
        path,
        {
            "lm_head.weight": W,
            "lm_head.bias": (-0.5 * np.einsum("ij,ij->i", W64, W64)).astype(np.float32),
            "zero.bias": np.zeros(V, np.float32),
            "short.bias": np.zeros(V - 1, np.float32),
            "embed.weight": np.ones((4, D), np.float16),
        },
    )
    return path


# --- latentgeo unargmax ---------------------------------------------------------------------


@needs_unargmaxable
def test_reports_exactly_the_planted_rows(capsys, model):
    rc, out, err = run(capsys, "unargmax", model, "--weight", "lm_head.weight", "--no-progress")
    assert rc == 0, err
    lines = out.splitlines()
    assert lines[0] == f"{model}[lm_head.weight]: {V} x {D} F32, no bias"
    assert f"unargmaxable: {len(PLANTED)} of {V} classes checked" in lines
    assert f"ids: {', '.join(map(str, PLANTED))}" in lines
    assert any(line.startswith("time screen: ") for line in lines)
    assert lines[-1].startswith("time total: ")
    assert sum(line.startswith("time total") for line in lines) == 1


@needs_unargmaxable
def test_json(capsys, model, W):
    got = run_json(capsys, "unargmax", model, "--weight", "lm_head.weight")
    assert got["input"] == {
        "path": str(model),
        "weight": "lm_head.weight",
        "bias": None,
        "shape": [V, D],
        "dtype": "F32",
        "bias_dtype": None,
    }
    assert got["unargmaxable"] == PLANTED
    assert got["n_unargmaxable"] == len(PLANTED)
    assert got["undecided"] == [] and got["n_undecided"] == 0
    assert all(seconds >= 0 for seconds in got["timings"].values())
    report = latentgeo.unargmaxable(W)
    assert report.unargmaxable.tolist() == PLANTED


@needs_unargmaxable
def test_bias(capsys, model):
    # With b_j = -|w_j|^2 / 2 the argmax of W x + b is the nearest row to x: every class wins.
    head = ["unargmax", model, "--weight", "lm_head.weight"]
    got = run_json(capsys, *head, "--bias", "lm_head.bias")
    assert got["unargmaxable"] == [] and got["input"]["bias"] == "lm_head.bias"
    assert got["input"]["bias_dtype"] == "F32"
    # A zero bias changes nothing.
    got = run_json(capsys, *head, "--bias", "zero.bias")
    assert got["unargmaxable"] == PLANTED


@needs_unargmaxable
def test_classes_bounds_threads_and_npy(capsys, model, tmp_path, W):
    got = run_json(
        capsys, "unargmax", model, "--weight", "lm_head.weight", "--classes", "0-20,60,61"
    )
    assert got["unargmaxable"] == [17, 60]
    boxed = run_json(
        capsys, "unargmax", model, "--weight", "lm_head.weight", "--bounds", 100, "--threads", 1
    )
    assert boxed["unargmaxable"] == PLANTED
    npy = tmp_path / "W.npy"
    np.save(npy, W.astype(np.float16))
    got = run_json(capsys, "unargmax", npy)
    assert got["input"]["dtype"] == "float16" and got["input"]["weight"] is None
    report = latentgeo.unargmaxable(W.astype(np.float16).astype(np.float32))
    assert got["unargmaxable"] == report.unargmaxable.tolist()


# --- errors (these run before latentgeo.unargmaxable is called) ------------------------------


@pytest.mark.parametrize(
    "argv, match",
    [
        (["{missing}"], "no such file"),
        (["{model}", "--weight", "lm_head.weigth"], "no tensor 'lm_head.weigth'"),
        (["{model}", "--weight", "lm_head.weight", "--bias", "nope"], "no tensor 'nope'"),
        (["{model}"], "choose the weight by name"),
        (["{model}", "--weight", "lm_head.bias"], "must be 2-D"),
        (["{model}", "--weight", "lm_head.weight", "--bias", "short.bias"], "shape mismatch"),
        (["{model}", "--classes", "1,x"], "invalid class list"),
        (["{model}", "--classes", "9-3"], "invalid class range"),
        (["{model}", "--bounds", "-1"], "positive"),
        (["{model}", "--bounds", "inf"], "positive"),
        (["{text}"], "unknown file extension"),
        (["{trunc}"], "truncated or corrupt"),
    ],
)
def test_errors_are_one_line_with_status_2(capsys, tmp_path, model, argv, match):
    (tmp_path / "w.txt").write_text("1 2\n3 4\n")
    (tmp_path / "t.safetensors").write_bytes(model.read_bytes()[:40])
    names = {
        "missing": tmp_path / "missing.safetensors",
        "model": model,
        "text": tmp_path / "w.txt",
        "trunc": tmp_path / "t.safetensors",
    }
    argv = [names[a[1:-1]] if a.startswith("{") else a for a in argv]
    assert_error(*run(capsys, "unargmax", *argv), match)


def test_help_lists_the_command(capsys):
    rc, out, _ = run(capsys, "--help")
    assert rc == 0 and "unargmax" in out
    rc, out, _ = run(capsys, "unargmax", "--help")
    assert rc == 0 and "--weight" in out and "--bounds" in out and "safetensors" in out
    rc, out, _ = run(capsys, "audit", "--help")
    assert rc == 0 and "--softmax" in out


# --- latentgeo audit --softmax --------------------------------------------------------------


def test_audit_section_is_opt_in(capsys, tmp_path, W):
    npy = tmp_path / "W.npy"
    np.save(npy, W)
    got = run_json(capsys, "audit", npy, "--k", 5)
    assert "unargmaxable" not in got["sections"]


@needs_unargmaxable
def test_audit_softmax_section(capsys, tmp_path, W):
    npy = tmp_path / "W.npy"
    np.save(npy, W)
    got = run_json(capsys, "audit", npy, "--k", 5, "--softmax")
    section = got["sections"]["unargmaxable"]
    assert section["unargmaxable"] == PLANTED and section["n_unargmaxable"] == len(PLANTED)
    assert section["classes_checked"] == V and section["n_undecided"] == 0
    rc, out, err = run(capsys, "audit", npy, "--k", 5, "--softmax")
    assert rc == 0 and "== unargmaxable ==" in out
    assert re.search(rf"^  unargmaxable +{', '.join(map(str, PLANTED))}$", out, re.MULTILINE)
