"""Properties of latentgeo.audit on arbitrary small matrices (duplicates, zero rows, constant
columns included)."""

import json

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from support.strategies import examples

import latentgeo
from latentgeo.audits._verdicts import ALL_LEVELS


@st.composite
def matrices(draw):
    n = draw(st.integers(3, 24))
    d = draw(st.integers(1, 6))
    values = st.sampled_from([0.0, 1.0, -1.0, 0.5, 2.0, -3.0]) | st.floats(-100, 100, width=32)
    X = np.array(draw(st.lists(values, min_size=n * d, max_size=n * d))).reshape(n, d)
    k = draw(st.integers(1, min(4, n - 1)))
    return X, k


@examples(25)
@given(matrices())
def test_audit_report_is_consistent(case):
    X, k = case
    n, d = X.shape
    report = latentgeo.audit(X, k=k)
    out = report.to_dict()
    json.dumps(out, allow_nan=False)  # JSON-plain, no NaN
    assert [s.name for s in report.sections] == ["array", "hubness", "whitening", "geodesic"]
    assert all(s.level in ALL_LEVELS for s in report.sections)
    assert all(s.verdict for s in report.sections)

    arr = report["array"].values
    norms = np.linalg.norm(X, axis=1)
    assert (arr["rows"], arr["dims"]) == (n, d)
    assert arr["zero_rows"] == int((norms == 0).sum())
    assert arr["duplicate_rows"] == n - np.unique(X, axis=0).shape[0]
    assert sum(report["array"].data["norm_hist"]["counts"]) == n

    counts = np.array(report["hubness"].data["k_occurrence_counts"])
    assert counts.sum() == n and (counts * np.arange(counts.size)).sum() == n * k

    w = report["whitening"].values
    assert 0 <= w["rank"] <= d and w["effective_rank"] <= d + 1e-9
    assert w["effective_rank"] <= w["rank"] + 1e-3 or w["rank"] == 0
    assert 0 <= w["k90"] <= w["k95"] <= w["k99"] <= d

    g = report["geodesic"].values
    assert 1 <= g["n_components"] <= n and sum(g["component_sizes"]) <= n
    assert g["pairs"] + g["unreachable_pairs"] <= g["sampled_sources"] * (n - 1)
    if g["ratio_median"] is not None:
        assert g["ratio_median"] >= 1 - 1e-6

    text = report.to_text()
    assert all(f"== {s.name} ==" in text for s in report.sections)
