"""latentgeo.audit on constructed data whose answers are known, and the report's forms."""

import json
import pickle
import re
import sys

import numpy as np
import pytest

import latentgeo
from latentgeo.audits import REFERENCES, read_vocab
from latentgeo.audits._spectrum import spectrum_stats


@pytest.fixture(scope="module")
def gaussian():
    """Isotropic Gaussian in 100 dimensions: strong hubness, a full-rank, even spectrum."""
    return np.random.default_rng(0).standard_normal((1000, 100))


def subspace(n=400, d=30, r=5, seed=1, equal=True):
    """Rows on an r-dimensional subspace of R^d; with `equal`, the r directions have exactly
    equal variance (coefficients whitened exactly), so the effective rank is exactly r."""
    rng = np.random.default_rng(seed)
    C = rng.standard_normal((n, r))
    C -= C.mean(axis=0)
    if equal:
        q, _ = np.linalg.qr(C)
        C = q * np.sqrt(n)  # covariance (1/n) C^T C = I exactly
    else:
        C *= np.arange(1, r + 1)
    B = np.linalg.qr(rng.standard_normal((d, r)))[0].T  # orthonormal rows
    return C @ B + rng.standard_normal(d)


def test_isotropic_gaussian_has_strong_hubness_and_a_full_rank_spectrum(gaussian):
    report = latentgeo.audit(gaussian, sections=["hubness", "whitening"])
    hub = report["hubness"]
    assert hub.level == "problem" and hub.verdict.startswith("Strong hubness")
    assert hub.values["skewness"] >= 3
    assert hub.values["skewness"] == pytest.approx(latentgeo.hubness(gaussian, 10).skewness)
    # The reductions really reduce it, and the next step names the best one.
    best = min(("mp", "ls", "csls"), key=lambda r: hub.values[f"skewness_{r}"])
    assert hub.values[f"skewness_{best}"] < hub.values["skewness"] / 2
    assert f"latentgeo.reduce_hubness(X, {best!r}, k=10" in hub.next_step
    white = report["whitening"]
    assert white.values["rank"] == 100 and white.values["effective_rank"] > 90
    assert white.level == "ok"
    assert white.values["k99"] > 90


def test_low_dimensional_data_has_low_hubness():
    X = np.random.default_rng(2).standard_normal((800, 3))
    hub = latentgeo.audit(X, sections=["hubness"])["hubness"]
    assert hub.level == "ok" and hub.verdict.startswith("Low hubness")


def test_five_dimensional_subspace_has_effective_rank_five():
    white = latentgeo.audit(subspace(), sections=["whitening"])["whitening"]
    assert white.values["rank"] == 5
    assert white.values["effective_rank"] == pytest.approx(5.0, abs=1e-6)
    assert white.values["k90"] == white.values["k95"] == white.values["k99"] == 5
    assert white.level == "warning" and "5-dimensional subspace" in white.verdict
    assert "n_components=5" in white.next_step
    uneven = latentgeo.audit(subspace(equal=False), sections=["whitening"])["whitening"]
    assert uneven.values["rank"] == 5 and 1 < uneven.values["effective_rank"] < 5


def test_spectrum_stats_definitions():
    st = spectrum_stats(np.array([4.0, 4.0, 0.0, 0.0]), rank=2)
    assert st["effective_rank"] == pytest.approx(2.0) and st["k99"] == 2
    st = spectrum_stats(np.full(7, 3.0), rank=7)
    assert st["effective_rank"] == pytest.approx(7.0)
    assert (st["k90"], st["k95"], st["k99"]) == (7, 7, 7)  # 6/7 = 0.857 < 0.90
    st = spectrum_stats(np.array([90.0, 5.0, 4.0, 1.0]), rank=4)
    assert (st["k90"], st["k95"], st["k99"]) == (1, 2, 3)
    p = np.array([0.9, 0.05, 0.04, 0.01])
    assert st["effective_rank"] == pytest.approx(np.exp(-(p * np.log(p)).sum()))
    assert spectrum_stats(np.zeros(3), rank=0)["effective_rank"] == 0


def test_two_far_clusters_give_two_components():
    rng = np.random.default_rng(3)
    X = np.vstack([rng.standard_normal((150, 6)), rng.standard_normal((100, 6)) + 100.0])
    geo = latentgeo.audit(X, sections=["geodesic"])["geodesic"]
    assert geo.values["n_components"] == 2
    assert geo.values["component_sizes"] == [150, 100]
    assert geo.level == "warning" and "2 disconnected pieces" in geo.verdict
    assert "policy='connect'" in geo.next_step
    one = latentgeo.audit(X[:150], sections=["geodesic"])["geodesic"]
    assert one.values["n_components"] == 1 and "connected" in one.findings[0]
    assert one.values["ratio_median"] >= 1.0  # a path is never shorter than the chord


@pytest.fixture(scope="module")
def head():
    """A softmax head with rows on the unit sphere (all argmaxable) and one planted interior
    row (row 7: a convex combination of three others, so never the argmax)."""
    rng = np.random.default_rng(4)
    W = rng.standard_normal((40, 6))
    W /= np.linalg.norm(W, axis=1, keepdims=True)
    W[7] = 0.5 * W[1] + 0.3 * W[2] + 0.2 * W[3]
    return W


def test_softmax_head_lists_exactly_the_planted_row(head):
    vocab = [f"tok{i}" for i in range(40)]
    sec = latentgeo.audit(head, softmax=True, vocab=vocab, sections=["unargmaxable"])[
        "unargmaxable"
    ]
    assert sec.values["unargmaxable"] == [7]
    assert sec.values["unargmaxable_tokens"] == ["tok7"]
    assert sec.values["certificate_sizes"] == [3]
    assert sec.level == "problem" and sec.verdict.startswith("1 of 40 classes")
    assert "7 'tok7'" in sec.findings[0]
    assert sec.values["margin_min"] > 0 and sum(sec.data["margin_hist"]["counts"]) == 39
    # A large enough bias for row 7 makes it reachable.
    b = np.zeros(40)
    b[7] = 1.0
    ok = latentgeo.audit(head, softmax=True, bias=b, sections=["unargmaxable"])["unargmaxable"]
    assert ok.values["unargmaxable"] == [] and ok.level == "ok"


def test_array_section_counts_and_the_cone():
    rng = np.random.default_rng(5)
    X = rng.standard_normal((60, 8))
    X[10] = X[3]
    X[20] = 0.0
    arr = latentgeo.audit(X, sections=["array"])["array"]
    assert arr.values["zero_rows"] == 1 and arr.values["duplicate_rows"] == 1
    assert arr.level == "problem" and "all zeros" in arr.verdict
    centred = latentgeo.audit(X[:10] - X[:10].mean(0), sections=["array"])["array"]
    assert centred.level == "ok" and abs(centred.values["mean_cosine_to_mean"]) < 0.3
    cone = latentgeo.audit(X[:10] + 10.0, sections=["array"])["array"]
    assert cone.values["mean_cosine_to_mean"] > 0.6 and cone.level == "problem"
    assert "strong cone" in cone.verdict and "Whitening(beta=1, gamma=0)" in cone.next_step


def test_read_vocab(tmp_path):
    tj = tmp_path / "tokenizer.json"
    tj.write_text(json.dumps({"model": {"vocab": {"a": 0, "b": 2}},
                              "added_tokens": [{"id": 3, "content": "<eos>"}]}))  # fmt: skip
    assert read_vocab(tj) == ["a", None, "b", "<eos>"]
    uni = tmp_path / "unigram.json"
    uni.write_text(json.dumps({"model": {"vocab": [["x", -1.0], ["y", -2.0]]}}))
    assert read_vocab(uni) == ["x", "y"]
    txt = tmp_path / "vocab.txt"
    txt.write_text("one\n two\n\nfour\n")
    assert read_vocab(txt) == ["one", " two", "", "four"]
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    with pytest.raises(ValueError, match="model.vocab"):
        read_vocab(bad)


def run_next_step(section, X, b=None):
    """Execute a section's suggested call as written (X is the data, W the same as a head)."""
    ns = {"np": np, "latentgeo": latentgeo, "X": X, "X_train": X, "W": X, "b": b}
    exec(section.next_step, ns)


def test_every_next_step_runs(gaussian, head):
    X = np.random.default_rng(6).standard_normal((80, 5))
    X[3] = X[2]
    cases = [
        (latentgeo.audit(gaussian[:300]), gaussian[:300]),
        (latentgeo.audit(X), X),
        (latentgeo.audit(X + 50.0, sections=["array", "hubness"]), X + 50.0),
        (latentgeo.audit(subspace(), sections=["whitening"]), subspace()),
        (latentgeo.audit(np.vstack([X, X + 100.0]), sections=["geodesic"]),
         np.vstack([X, X + 100.0])),
        (latentgeo.audit(head, sections=["unargmaxable"]), head),
    ]  # fmt: skip
    seen = set()
    for report, data in cases:
        for sec in report.sections:
            assert "latentgeo." in sec.next_step, sec.name
            run_next_step(sec, data)
            seen.add((sec.name, sec.level))
    assert {name for name, _ in seen} == {"array", "hubness", "whitening", "geodesic",
                                          "unargmaxable"}  # fmt: skip
    assert len(seen) >= 9, seen


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"sections": ["nope"]}, "section"),
        ({"sections": []}, "no section"),
        ({"bias": np.zeros(30)}, "only to the softmax"),
        ({"k": 30}, "k=30 must be smaller"),
        ({"metric": "manhattan"}, "metric"),
        ({"hub_size": 0}, "hub_size"),
    ],
)
def test_errors(kwargs, match):
    X = np.random.default_rng(0).standard_normal((30, 4))
    with pytest.raises(ValueError, match=match):
        latentgeo.audit(X, **kwargs)


@pytest.fixture(scope="module")
def report():
    X = latentgeo.datasets.make_example(n=400, d=24, seed=2)
    return latentgeo.audit(X, k=8)


def test_forms_json_text_pickle(report):
    d = report.to_dict()
    json.dumps(d, allow_nan=False)
    assert list(d["sections"]) == ["array", "hubness", "whitening", "geodesic"]
    for name, sec in d["sections"].items():
        assert sec["level"] in ("ok", "warning", "problem") and sec["verdict"], name
        assert sec["next_step"].lstrip().split("(")[0] and "latentgeo" in sec["next_step"]
        assert sec["sources"] and all(s in REFERENCES.values() for s in sec["sources"])
    text = report.to_text()
    for sec in report.sections:
        assert f"== {sec.name} ==" in text and f"[{sec.level}] {sec.verdict}" in text
        assert f"next step: {sec.next_step}" in text
    again = pickle.loads(pickle.dumps(report))
    assert again.to_dict() == d and again.to_text() == text


def test_html_is_self_contained_and_deterministic(report, tmp_path):
    pytest.importorskip("matplotlib")
    html = report.to_html(tmp_path / "r.html")
    assert (tmp_path / "r.html").read_text(encoding="utf-8") == html
    for bad in ("http://", "https://", "src=", "<script", "<link", "@import", "<iframe"):
        assert bad not in html, bad
    assert re.findall(r"url\((?!#)", html) == []  # only the SVG's own clip paths
    figures = re.findall(r'<figure class="plot" id="plot-(\w+)-\d">(.*?)</figure>', html, re.S)
    assert sorted({name for name, _ in figures}) == ["array", "geodesic", "hubness", "whitening"]
    assert len(figures) == 5 and all(body.startswith("<svg") for _, body in figures)
    from html import escape

    for sec in report.sections:
        assert escape(sec.verdict) in html
    assert html == latentgeo.audit(latentgeo.datasets.make_example(n=400, d=24, seed=2),
                                   k=8).to_html()  # fmt: skip
    assert report._repr_html_().startswith('<div class="lg-audit">')


def test_without_matplotlib_text_and_json_still_work(report, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    with pytest.raises(ImportError, match=re.escape("pip install 'latentgeo[report]'")):
        report.to_html()
    assert report.to_text() and report.to_dict()
    frag = report._repr_html_()
    assert "<svg" not in frag and "latentgeo[report]" in frag


@pytest.mark.parametrize("scale", [1e300, 1e-300, 1e307])
def test_the_verdicts_do_not_depend_on_the_scale(scale):
    """Huge and tiny magnitudes (squares overflow or underflow float64) give the same report."""
    X = np.random.default_rng(7).standard_normal((60, 5))
    base, big = latentgeo.audit(X, k=4), latentgeo.audit(X * scale, k=4)
    json.dumps(big.to_dict(), allow_nan=False)
    assert [s.level for s in big.sections] == [s.level for s in base.sections]
    for name, key in [("array", "mean_cosine_to_mean"), ("hubness", "skewness"),
                      ("whitening", "effective_rank"), ("geodesic", "ratio_median")]:  # fmt: skip
        assert big[name].values[key] == pytest.approx(base[name].values[key], rel=1e-9), key
    assert big["array"].values["norm_mean"] == pytest.approx(
        base["array"].values["norm_mean"] * scale, rel=1e-9
    )
