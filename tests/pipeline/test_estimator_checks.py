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


# Whitening validates with latentgeo._validate.as_float_matrix, whose messages differ from the
# ones these checks look for (the behaviour is right: each input is refused with an exception).
WHITENING_EXPECTED = {
    "check_complex_data": "complex input raises TypeError, not ValueError('Complex data ...')",
    "check_dtype_object": "an object array of numbers is refused (TypeError), not converted",
    "check_estimators_empty_data_messages": "(n, 0) input: 'X has no features', another wording",
    "check_fit2d_predict1d": "1-D input: 'must be a 2-D array', without 'Reshape your data'",
}


def expected_failed_checks(estimator):
    if isinstance(estimator, latentgeo.Whitening):
        return WHITENING_EXPECTED
    return {}


@parametrize_with_checks(ESTIMATORS, expected_failed_checks=expected_failed_checks)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)
