"""`GeodesicTransformer`: graph -> geodesic distances (Isomap's second step) as a pipeline step."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from .._validate import check_int, check_n_threads
from ..geodesics._dijkstra import geodesic, geodesic_neighbors
from ..neighbors._gate import _symmetrise
from ._base import (
    Estimator,
    as_graph_input,
    rows_csr,
    same_graph,
    self_first_csr,
    square_graph_input,
)


class GeodesicTransformer(Estimator):
    """Shortest-path (geodesic) distances over a neighbours graph, as a pipeline step.

    ``fit(graph)`` keeps the graph of the fitted points (e.g. from :class:`KNNTransformer`);
    ``transform`` returns, per row, the geodesic distances to the fitted points computed by
    :func:`latentgeo.geodesic` (exact Dijkstra, bitwise equal to scipy's), either all of them
    (a dense matrix: Isomap's geodesic matrix) or the `n_neighbors` nearest (a geodesic kNN
    graph in :class:`KNNTransformer`'s convention, so it can feed any graph consumer).

    - The fitted graph itself (``fit_transform(G)``, or ``transform`` of the same graph): the
      distances among the fitted points, ``geodesic(G, directed=directed)``; in graph form each
      row stores the point itself first (at 0), then its `n_neighbors` geodesically nearest
      others, as ``geodesic_neighbors(G, n_neighbors)``.
    - Any other graph, shape (n_queries, n_samples_fit_), holds new points: row r's stored
      entries are edges from the new point to fitted points (as ``Isomap.transform`` does, the
      geodesic to j is ``min_i (G[r, i] + D[i, j])``); in graph form ``n_neighbors + 1``
      nearest fitted points are kept. A row of the training graph that stores its diagonal at 0
      (as KNNTransformer's do) gives the training row.

    Sparse input: a stored entry is an edge (explicit zeros included). Dense input is a full
    distance matrix (scikit-learn's ``metric="precomputed"``): every entry is an edge.

    Parameters
    ----------
    n_neighbors : int, optional
        None (default): return the dense (n_queries, n_samples_fit_) float64 matrix, ``inf``
        where a fitted point is unreachable. An int: return a sparse CSR geodesic kNN graph.
    directed : bool, default=False
        Follow edges from row to column only; by default a graph edge joins both ways (the
        smaller weight when both are stored), as scikit-learn's Isomap does.
    n_threads : int, optional
        Threads for Dijkstra (default: all cores). Results do not depend on it.

    Attributes
    ----------
    n_features_in_, n_samples_fit_ : int
        Number of fitted points.

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp, latentgeo
    >>> line = sp.csr_matrix(([1.0, 2.0], ([0, 1], [1, 2])), shape=(3, 3))
    >>> latentgeo.GeodesicTransformer().fit_transform(line)
    array([[0., 1., 3.],
           [1., 0., 2.],
           [3., 2., 0.]])
    >>> new = sp.csr_matrix(([0.5], ([0], [2])), shape=(1, 3))   # a point 0.5 from node 2
    >>> latentgeo.GeodesicTransformer().fit(line).transform(new)
    array([[3.5, 2.5, 0.5]])
    """

    metric = "precomputed"  # the input is a precomputed graph (read by scikit-learn's checks)

    def __init__(self, n_neighbors=None, *, directed=False, n_threads=None):
        self.n_neighbors = n_neighbors
        self.directed = directed
        self.n_threads = n_threads

    def __sklearn_tags__(self):
        return self._tags(["float64"], pairwise=True)

    def _checked_params(self):
        k = None if self.n_neighbors is None else check_int(self.n_neighbors, "n_neighbors", low=1)
        if not isinstance(self.directed, (bool, np.bool_)):
            raise TypeError(f"directed must be a bool, got {self.directed!r}")
        return k, bool(self.directed), check_n_threads(self.n_threads)

    def fit(self, X, y=None):
        """Keep the graph X of the fitted points, shape (n_samples, n_samples); y is ignored.

        Returns
        -------
        self
        """
        k, _, _ = self._checked_params()
        G = square_graph_input(X)
        n = G.shape[0]
        if k is not None and k >= n:
            raise ValueError(
                f"n_neighbors={k} must be below n_samples={n}, the number of fitted points"
            )
        self._graph = G
        self.n_samples_fit_ = n
        self.n_features_in_ = n
        return self

    def transform(self, X):
        """Geodesic distances from the rows of X to the fitted points (see the class docstring).

        Parameters
        ----------
        X : scipy.sparse matrix or array_like, shape (n_queries, n_samples_fit_)

        Returns
        -------
        ndarray of float64, shape (n_queries, n_samples_fit_), or scipy.sparse.csr_matrix
            The dense matrix (``n_neighbors=None``) or the geodesic kNN graph.
        """
        self._check_fitted()
        k, directed, n_threads = self._checked_params()
        G = as_graph_input(X)
        self._check_width(G.shape[1])
        if same_graph(G, self._graph):
            return self._training(k, directed, n_threads)
        return self._queries(G, k, directed, n_threads)

    def fit_transform(self, X, y=None):
        """``fit(X)``, then the geodesic distances among the fitted points."""
        k, directed, n_threads = self.fit(X)._checked_params()
        return self._training(k, directed, n_threads)

    def _training(self, k, directed, n_threads):
        G, n = self._graph, self.n_samples_fit_
        if k is None:
            return geodesic(G, directed=directed, dtype=np.float64, n_threads=n_threads)
        if k >= n:
            raise ValueError(
                f"n_neighbors={k} must be below n_samples={n}, the number of fitted points"
            )
        idx, dist = geodesic_neighbors(
            G, k, directed=directed, dtype=np.float64, n_threads=n_threads
        )
        return self_first_csr(idx, dist, n, np.float64)

    def _queries(self, Q, k, directed, n_threads):
        """Dijkstra from each new point over the fitted graph plus the new points' own edges,
        which only leave them (so no path runs through another new point)."""
        G, n, m = self._graph, self.n_samples_fit_, Q.shape[0]
        if m == 0:
            return np.empty((0, n)) if k is None else sp.csr_matrix((0, n))
        indptr, indices, weights = G.indptr, G.indices, G.data
        if not directed:
            indptr, indices, weights = _symmetrise(n, indptr, indices, weights)
        total = n + m
        aug = sp.csr_matrix(
            (
                np.concatenate([weights, Q.data]),
                np.concatenate([indices, Q.indices]).astype(np.int64),
                np.concatenate([indptr, indptr[-1] + Q.indptr[1:]]),
            ),
            shape=(total, total),
        )
        sources = np.arange(n, total, dtype=np.int64)
        if k is None:
            out = geodesic(aug, sources, directed=True, dtype=np.float64, n_threads=n_threads)
            return np.ascontiguousarray(out[:, :n])
        kk = min(k + 1, n)
        idx, dist = geodesic_neighbors(
            aug, kk, sources=sources, directed=True, dtype=np.float64, n_threads=n_threads
        )
        return rows_csr(idx, dist, n)

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        """Output column names ``geodesictransformer0 ...`` (one per fitted point)."""
        self._check_fitted()
        return self._names_out(self.n_samples_fit_)
