"""``latentgeo geodesic`` and the opt-in ``geodesic`` audit section, against the library."""

import numpy as np
import pytest
from scipy.sparse.csgraph import dijkstra
from scipy.spatial.distance import cdist
from support.cli import run, run_json

import latentgeo
from latentgeo.datasets import make_example


@pytest.fixture(scope="module")
def X():
    return make_example(n=600, d=32, seed=3)  # 8 clusters: disconnected at k = 10


@pytest.fixture
def npy(tmp_path, X):
    path = tmp_path / "emb.npy"
    np.save(path, X)
    return path


def test_sources_json_and_out_agree_with_library(capsys, tmp_path, npy, X):
    out = tmp_path / "dist"
    got = run_json(capsys, "geodesic", npy, "--sources", "0,5,9,5", "--k", 7, "--out", out)
    g = latentgeo.knn_graph(X, 7)
    n_comp, labels = latentgeo.connected_components(g)
    assert got["n_components"] == n_comp > 1
    assert got["largest_component"] == np.bincount(labels).max()
    assert (got["k"], got["metric"], got["policy"]) == (7, "euclidean", "inf")
    assert got["out"] == str(out) + ".npy"
    D = dijkstra(g, indices=[0, 5, 9, 5])
    saved = np.load(got["out"])
    assert saved.dtype == np.float32 and saved.shape == (4, 600)
    np.testing.assert_array_equal(saved, D.astype(np.float32))
    assert [row["source"] for row in got["sources"]] == [0, 5, 9, 5]
    for row, d, s in zip(got["sources"], D, [0, 5, 9, 5]):
        others = np.delete(d, s)
        finite = others[np.isfinite(others)]
        assert row["reachable"] == finite.size == (labels == labels[s]).sum() - 1
        assert row["min"] == pytest.approx(finite.min(), rel=1e-12)
        assert row["median"] == pytest.approx(np.median(finite), rel=1e-12)
        assert row["max"] == pytest.approx(finite.max(), rel=1e-12)
        assert "nearest" not in row


def test_sources_top_are_geodesic_neighbours(capsys, npy, X):
    got = run_json(capsys, "geodesic", npy, "--sources", "3,40", "--top", 6)
    idx, dist = latentgeo.geodesic_neighbors(
        latentgeo.knn_graph(X, 10), 6, sources=[3, 40], dtype=np.float64
    )
    for row, i, d in zip(got["sources"], idx, dist):
        assert [e["index"] for e in row["nearest"]] == i.tolist()
        np.testing.assert_allclose([e["distance"] for e in row["nearest"]], d, rtol=1e-12)


def test_sources_text(capsys, tmp_path, npy):
    rc, out, err = run(
        capsys, "geodesic", npy, "--sources", "2", "--top", 2, "--out", tmp_path / "d.npy"
    )
    assert rc == 0 and err == ""
    assert out.startswith(f"{npy}: 600 x 32 float32\nk-NN union graph: k=10, euclidean, ")
    assert "source 2: " in out and " of 599 reachable, distance min " in out
    assert "  nearest: " in out and "wrote " in out and "(1 x 600 float32 distances)" in out


def test_centre_mean_matches_summarize_and_scores(capsys, tmp_path, npy, X):
    out = tmp_path / "scores.npy"
    got = run_json(capsys, "geodesic", npy, "--centre", "mean", "--top", 5, "--k", 8, "--out", out)
    centre = X.mean(axis=0, dtype=np.float64)
    scores, dist = latentgeo.geodesic_scores(X, centre, 8, return_distances=True)
    want = latentgeo.summarize(X, 5, centre=centre, k=8, metric="euclidean")
    assert [e["index"] for e in got["top"]] == want.tolist()
    np.testing.assert_allclose([e["score"] for e in got["top"]], scores[want], rtol=1e-12)
    np.testing.assert_allclose([e["distance"] for e in got["top"]], dist[want], rtol=1e-12)
    np.testing.assert_array_equal(np.load(out), scores)
    assert got["centre"] == "mean" and got["reachable"] == np.isfinite(dist).sum() < 600
    assert got["min"] == pytest.approx(dist.min(), rel=1e-12)
    # Default --top is 10; text output lists them.
    assert len(run_json(capsys, "geodesic", npy, "--centre", "mean")["top"]) == 10
    rc, text, _ = run(capsys, "geodesic", npy, "--centre", "mean", "--top", 3)
    assert rc == 0 and "top 3 by geodesic score:" in text and "centre mean: " in text


def test_policies(capsys, npy, X):
    got = run_json(capsys, "geodesic", npy, "--sources", "0", "--policy", "connect")
    assert got["sources"][0]["reachable"] == 599 and got["n_components"] > 1
    centre = run_json(capsys, "geodesic", npy, "--centre", "mean", "--policy", "connect")
    assert centre["reachable"] == 600
    labels = latentgeo.connected_components(latentgeo.knn_graph(X, 10))[1]
    big = int(np.argmax(np.bincount(labels)))
    inside = int(np.flatnonzero(labels == big)[0])
    outside = int(np.flatnonzero(labels != big)[0])
    got = run_json(capsys, "geodesic", npy, "--sources", inside, "--policy", "largest")
    assert got["sources"][0]["reachable"] == np.bincount(labels).max() - 1
    rc, out, err = run(capsys, "geodesic", npy, "--sources", outside, "--policy", "largest")
    assert rc == 2 and out == "" and f"source {outside} is not in the largest" in err
    rc, out, err = run(capsys, "geodesic", npy, "--sources", 0, "--policy", "raise")
    assert rc == 2 and "connected components" in err


@pytest.mark.parametrize(
    "argv, match",
    [
        ([], "one of the arguments --sources --centre is required"),
        (["--sources", "1", "--centre", "mean"], "not allowed with"),
        (["--sources", "a,b"], "invalid source list"),
        (["--sources", "-1"], "must be >= 0"),
        (["--sources", "600"], "source 600 is out of range"),
        (["--sources", "1", "--top", "0"], "--top"),
        (["--centre", "median"], "invalid choice"),
        (["--centre", "mean", "--k", "600"], "k"),
        (["--sources", "1", "--metric", "inner_product"], "inner_product"),
        (["--sources", "1", "--policy", "nope"], "invalid choice"),
    ],
)
def test_errors(capsys, npy, argv, match):
    rc, out, err = run(capsys, "geodesic", npy, *argv)
    assert rc == 2 and out == ""
    assert err.startswith("latentgeo: error: ") and err.count("\n") == 1
    assert match in err


def test_audit_geodesic_section(capsys, npy, X):
    assert "geodesic" not in run_json(capsys, "audit", npy, "--no-geodesic")["sections"]
    sec = run_json(capsys, "audit", npy, "--k", 6)["sections"]["geodesic"]
    g = latentgeo.knn_graph(X, 6)
    n_comp, labels = latentgeo.connected_components(g)
    assert (sec["k"], sec["n_components"]) == (6, n_comp)
    assert sec["largest_component"] == np.bincount(labels).max()
    src = np.unique(np.round(np.linspace(0, 599, 32)).astype(int))
    D = dijkstra(g, indices=src)
    E = cdist(X[src].astype(np.float64), X.astype(np.float64))
    pairs = [(r, j) for r, s in enumerate(src) for j in range(600) if j != s]
    ratio = np.array([D[r, j] / E[r, j] for r, j in pairs if np.isfinite(D[r, j])])
    assert sec["sampled_sources"] == src.size and sec["pairs"] == ratio.size
    assert sec["unreachable_pairs"] == len(pairs) - ratio.size
    assert sec["ratio_median"] == pytest.approx(np.median(ratio), rel=1e-9)
    assert sec["ratio_p90"] == pytest.approx(np.percentile(ratio, 90), rel=1e-9)
    assert ratio.min() >= 1 - 1e-6  # a path is never shorter than the chord
    rc, out, _ = run(capsys, "audit", npy, "--metric", "inner_product")
    assert rc == 0 and "== geodesic ==\n  skipped" in out


def test_audit_geodesic_on_the_example(capsys):
    rc, out, err = run(capsys, "audit")
    assert rc == 0 and err == "" and "== geodesic ==" in out and "ratio_p90" in out
