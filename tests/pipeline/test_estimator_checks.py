"""scikit-learn's own estimator checks for every latentgeo estimator."""

import pytest

pytest.importorskip("sklearn", minversion="1.6")  # Tags and expected_failed_checks

from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

import latentgeo  # noqa: E402

ESTIMATORS = [
    latentgeo.KNNTransformer(),
    latentgeo.KNNTransformer(n_neighbors=3, mode="connectivity", metric="cosine"),
    latentgeo.HubnessReduction(),
    latentgeo.HubnessReduction("ls", n_neighbors=4),
    latentgeo.HubnessReduction("csls", method_params={"csls_k": 3}),
    latentgeo.GeodesicTransformer(),
    latentgeo.GeodesicTransformer(n_neighbors=4),
    latentgeo.Whitening(),
]
try:  # the approximate transformer keeps its HNSW index (optional usearch package)
    import usearch  # noqa: F401

    ESTIMATORS.append(latentgeo.KNNTransformer(n_neighbors=3, method="approximate", n_threads=1))
except ImportError:
    pass


@parametrize_with_checks(ESTIMATORS)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)
