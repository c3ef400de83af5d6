"""`KNNTransformer`: latentgeo's exact kNN as a scikit-learn ``KNeighborsTransformer``."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from .._validate import check_choice, check_int, check_n_threads, float_dtype
from ..neighbors._approx import HnswIndex, check_method
from ..neighbors._knn import METRICS, _knn
from ._base import Estimator, as_vectors, rows_csr, self_first_csr

_MODES = ("distance", "connectivity")


class KNNTransformer(Estimator):
    """Exact k-nearest-neighbour graph, a drop-in for scikit-learn's ``KNeighborsTransformer``.

    ``fit(X)`` stores the points; ``transform(Y)`` returns the sparse CSR graph of shape
    ``(n_Y, n_fit)`` of each row of Y's nearest fitted points, computed by
    :func:`latentgeo.knn` (exact, ties broken by the lower index, the same for any
    `n_threads`). The output follows scikit-learn's convention, so that
    ``Isomap(metric="precomputed")``, ``TSNE(metric="precomputed")`` and
    ``SpectralEmbedding(affinity="precomputed_nearest_neighbors")`` take it unchanged:

    - ``mode="distance"``: ``n_neighbors + 1`` entries per row, nearest first. On the training
      data (``fit_transform(X)``, or ``transform`` of the same values), each sample is its own
      first neighbour, stored explicitly at distance 0, followed by its `n_neighbors` nearest
      other samples (duplicates of it included, at distance 0); this extra entry is what the
      consumers drop as "self".
    - ``mode="connectivity"``: `n_neighbors` entries per row, all 1.0; on the training data the
      sample itself and its ``n_neighbors - 1`` nearest others.

    New points (``transform(Y)`` of other values) get their ``n_neighbors + 1`` (distance) or
    `n_neighbors` (connectivity) nearest fitted points.

    Parameters
    ----------
    n_neighbors : int, default=5
        Neighbours per sample, not counting the sample itself (see above).
    mode : {"distance", "connectivity"}, default="distance"
        Store distances, or ones.
    metric : {"euclidean", "sqeuclidean", "cosine"}, default="euclidean"
        As :func:`latentgeo.knn`. ``"inner_product"`` (in :data:`latentgeo.METRICS`) is refused
        at ``fit``: it gives similarities, and graph consumers read entries as distances.
    n_threads : int, optional
        Threads for the search (default: all cores). Exact results do not depend on it.
    method : {"exact", "approximate"}, default="exact"
        As :func:`latentgeo.knn`: ``"approximate"`` takes candidates from an HNSW graph (the
        optional ``latentgeo[ann]`` extra) and re-ranks them exactly; same output format. The
        graph is built once, at ``fit``, and every ``transform`` searches it (a ``transform``
        after `metric` or `method_options` were changed builds a graph of its own; refit to
        keep one). It travels with the fitted
        estimator through ``pickle`` and ``copy.deepcopy`` (saved to bytes, about
        ``n_samples * (n_features + 150)`` bytes with the default int8 index), so an
        unpickled transformer answers as the original did. Use :func:`latentgeo.knn` to see
        its recall estimate.
    method_options : dict, optional
        Options of the approximate method (see :func:`latentgeo.knn`).

    Attributes
    ----------
    n_features_in_ : int
        Number of features of the fitted points.
    feature_names_in_ : ndarray of str, shape (n_features_in_,)
        Column names of a fitted DataFrame, when all of them are strings.
    n_samples_fit_ : int
        Number of fitted points (the columns of every transformed graph).
    effective_metric_ : str
        The metric used.

    Notes
    -----
    float32 input gives float32 distances, any other real input float64; connectivity weights
    are float64, as in scikit-learn.

    Examples
    --------
    >>> import numpy as np, latentgeo
    >>> X = np.array([[0.0], [1.0], [3.0], [6.0]])
    >>> G = latentgeo.KNNTransformer(n_neighbors=1).fit_transform(X)
    >>> G.toarray()
    array([[0., 1., 0., 0.],
           [1., 0., 0., 0.],
           [0., 2., 0., 0.],
           [0., 0., 3., 0.]])
    >>> G.nnz                          # self (stored, distance 0) + 1 neighbour per row
    8
    >>> latentgeo.KNNTransformer(n_neighbors=1).fit(X).transform([[2.4]]).toarray()
    array([[0. , 1.4, 0.6, 0. ]])
    """

    def __init__(
        self,
        n_neighbors=5,
        *,
        mode="distance",
        metric="euclidean",
        n_threads=None,
        method="exact",
        method_options=None,
    ):
        self.n_neighbors = n_neighbors
        self.mode = mode
        self.metric = metric
        self.n_threads = n_threads
        self.method = method
        self.method_options = method_options

    def __sklearn_tags__(self):
        keeps = ["float64", "float32"] if self.mode == "distance" else ["float64"]
        return self._tags(keeps, pairwise=False)

    def _checked_params(self):
        k = check_int(self.n_neighbors, "n_neighbors", low=1)
        mode = check_choice(self.mode, "mode", _MODES)
        metric = check_choice(self.metric, "metric", METRICS)
        if metric == "inner_product":
            raise ValueError(
                "metric='inner_product' gives similarities, but a neighbours graph holds "
                "distances; use 'cosine' (1 - cos) or 'euclidean'"
            )
        check_method(self.method, self.method_options)
        return k, mode, metric, check_n_threads(self.n_threads)

    def fit(self, X, y=None):
        """Store the points X, shape (n_samples, n_features); y is ignored.

        Returns
        -------
        self
        """
        _, _, metric, n_threads = self._checked_params()
        data = as_vectors(X)
        self._fit_X = data
        self._index = None
        if self.method == "approximate":
            _, options = check_method(self.method, self.method_options)
            self._index = HnswIndex(data, metric, options, n_threads)
        self.n_samples_fit_ = int(data.shape[0])
        self.effective_metric_ = self.metric
        self._set_feature_names(X)
        self.n_features_in_ = int(data.shape[1])
        return self

    def transform(self, X):
        """The neighbours graph of the rows of X among the fitted points.

        Parameters
        ----------
        X : array_like, shape (n_queries, n_features)

        Returns
        -------
        scipy.sparse.csr_matrix, shape (n_queries, n_samples_fit_)
            See the class docstring for the entries per row; rows hold their neighbours
            nearest first.
        """
        self._check_fitted()
        k, mode, metric, n_threads = self._checked_params()
        self._check_feature_names(X)
        Q = as_vectors(X, allow_empty=True)
        self._check_width(Q.shape[1])
        return self._graph(Q, k, mode, metric, n_threads)

    def fit_transform(self, X, y=None):
        """``fit(X).transform(X)``: the training graph, each sample its own first neighbour."""
        return self.fit(X, y).transform(X)

    def _graph(self, Q, k, mode, metric, n_threads) -> sp.csr_matrix:
        data, n = self._fit_X, self.n_samples_fit_
        want = k + 1 if mode == "distance" else k  # entries per row, self included
        if want > n:
            raise ValueError(
                f"Expected n_neighbors <= n_samples_fit, but n_neighbors = {want}, "
                f"n_samples_fit = {n}, n_samples = {Q.shape[0]} (n_neighbors={k} plus the "
                "sample itself in mode='distance')"
            )
        dtype = float_dtype(data, Q)
        if Q.shape[0] == 0:
            out = sp.csr_matrix((0, n), dtype=dtype if mode == "distance" else np.float64)
            return out
        if Q.shape == data.shape and np.array_equal(Q, data):
            # The training data: each sample first (distance 0), then its nearest others.
            if want > 1:
                res = _knn(data, want - 1, metric, None, True, n_threads, **self._method())
                g = self_first_csr(res.indices, res.distances, n, res.distances.dtype)
            else:
                g = self_first_csr(np.empty((n, 0), np.int64), np.empty((n, 0), dtype), n, dtype)
        else:
            res = _knn(
                data.astype(dtype, copy=False),
                want,
                metric,
                Q.astype(dtype, copy=False),
                False,
                n_threads,
                **self._method(),
            )
            g = rows_csr(res.indices, res.distances, n)
        if mode == "connectivity":
            g.data = np.ones_like(g.data, dtype=np.float64)
        return g

    def _method(self) -> dict:
        method, options = check_method(self.method, self.method_options)
        if method == "exact":
            return {"method": method, "options": options}
        # The index of fit; approx_search builds a new one if the metric or options changed.
        return {"method": method, "options": options, "index": getattr(self, "_index", None)}

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        """Output column names ``knntransformer0 ... knntransformer{n_samples_fit_ - 1}``."""
        self._check_fitted()
        return self._names_out(self.n_samples_fit_)
