"""`HubnessReduction`: :func:`latentgeo.reduce_hubness` as a graph -> graph pipeline step."""

from __future__ import annotations

import numpy as np

from .._validate import check_choice, check_int
from ..hubs._reduction import REDUCTIONS, reduce_hubness
from ..neighbors._knn import as_knn
from ._base import (
    Estimator,
    as_graph_input,
    as_vectors,
    row_sorted,
    rows_csr,
    same_graph,
    square_graph_input,
)

_SIGNED = ("csls", "dissim")  # methods whose values can be negative


class HubnessReduction(Estimator):
    """Re-weight a kNN graph by a hubness-reducing dissimilarity (a scikit-hubness style step).

    Sits between :class:`KNNTransformer` (or scikit-learn's ``KNeighborsTransformer``) and a
    consumer of precomputed neighbours (``Isomap``, ``TSNE``, ``KNeighborsClassifier`` with
    ``metric="precomputed"``). ``fit(graph)`` keeps the neighbour statistics of the fitted
    points; ``transform`` re-ranks each row's stored candidates by the method of
    :func:`latentgeo.reduce_hubness` (see it for the formulas).

    - The graph given to ``fit`` (``fit_transform(G)``, or ``transform`` of the same graph) is
      a self-join: its diagonal is the sample itself and is left out of the candidates, exactly
      as in ``reduce_hubness(G, method)``, whose values it returns (plus `offset_`). Each output
      row stores the sample itself first (value 0), then its `n_neighbors` re-ranked neighbours.
    - Any other graph, shape (n_queries, n_samples_fit_), holds new points among the fitted
      ones (e.g. ``KNNTransformer.transform(Y)``). A row's first entry at distance 0, if any, is
      taken as the query's own point: it is left out of the candidates and stored first at 0,
      as above (a row of the training graph gives the training row). The next
      `n_candidates_` entries (by distance) are the candidates; the query's statistics come
      from them, each candidate's from the fitted graph. ``"mp_empiric"`` counts over the whole
      set and is defined for the fitted graph only.

    Parameters
    ----------
    method : str, default="mp_gaussian"
        One of :data:`latentgeo.REDUCTIONS`.
    n_neighbors : int, optional
        Re-ranked neighbours to keep per row (default: all candidates).
    method_params : dict, optional
        ``ls_k``, ``nicdm_k``, ``csls_k`` or ``dissim_k`` for the method that takes it.

    Attributes
    ----------
    n_features_in_, n_samples_fit_ : int
        Number of fitted points (the columns of the graphs).
    n_candidates_ : int
        Candidates per fitted point (the fewest stored off-diagonal entries of a row).
    offset_ : float
        Added to every value so that the graph holds no negative distance (consumers such as
        ``TSNE`` and Dijkstra need that): minus the smallest reduced value of the fitted graph
        for ``"csls"`` and ``"dissim"`` when it is negative, else 0. Values of new points
        below ``-offset_`` are clipped to 0. A constant shift keeps every row's ranking.

    Notes
    -----
    ``"dissim"`` (DisSimLocal) needs the vectors, which a graph does not carry: pass them as
    ``fit(G, vectors=X)`` (in a ``Pipeline``: ``pipe.fit(X, hubnessreduction__vectors=X)``)
    and ``transform(G_new, vectors=Y)`` for new points (called directly; a ``Pipeline`` does
    not forward them). Squared Euclidean distances are computed from them; normalise the rows
    first for cosine neighbours. Without vectors it raises ValueError.

    Examples
    --------
    >>> import numpy as np, latentgeo
    >>> X = latentgeo.datasets.make_example(n=200, d=16)
    >>> G = latentgeo.KNNTransformer(n_neighbors=10).fit_transform(X)
    >>> H = latentgeo.HubnessReduction("mp_gaussian", n_neighbors=5).fit_transform(G)
    >>> H.shape, H.nnz                 # self + 5 neighbours per row
    ((200, 200), 1200)
    >>> ref = latentgeo.reduce_hubness(G, "mp_gaussian", k=5)
    >>> bool(np.array_equal(H.indices.reshape(200, 6)[:, 1:], ref.indices))
    True
    """

    metric = "precomputed"  # the input is a precomputed graph (read by scikit-learn's checks)

    def __init__(self, method="mp_gaussian", *, n_neighbors=None, method_params=None):
        self.method = method
        self.n_neighbors = n_neighbors
        self.method_params = method_params

    def __sklearn_tags__(self):
        return self._tags(["float64"], pairwise=True)

    def _checked_params(self):
        method = check_choice(self.method, "method", REDUCTIONS)
        params = self.method_params
        if params is None:
            params = {}
        elif not isinstance(params, dict):
            raise TypeError(f"method_params must be a dict or None, got {params!r}")
        k = None if self.n_neighbors is None else check_int(self.n_neighbors, "n_neighbors", low=1)
        return method, dict(params), k

    def fit(self, X, y=None, vectors=None):
        """Learn the neighbour statistics of the fitted points from their graph.

        Parameters
        ----------
        X : scipy.sparse matrix or array_like, shape (n_samples, n_samples)
            The kNN graph of the fitted points (a stored entry is a candidate, the diagonal is
            the sample itself), or a dense distance matrix.
        y : ignored
        vectors : array_like, shape (n_samples, n_features), optional
            The points, for ``method="dissim"`` only.

        Returns
        -------
        self
        """
        method, params, k = self._checked_params()
        G = square_graph_input(X)
        n = G.shape[0]
        if n < 2:
            raise ValueError(f"n_samples={n}: hubness reduction needs at least 2 points")
        V = self._vectors(method, vectors, n, "fit")
        cand = as_knn(G)
        if k is not None and k > cand.k:
            raise ValueError(f"n_neighbors={k} exceeds the {cand.k} candidates per point")
        res = reduce_hubness(cand, method, X=V, **params)
        low = float(res.distances.min()) if res.distances.size else 0.0
        self._graph, self._cand, self._res, self._vectors_fit = G, cand, res, V
        self.offset_ = max(0.0, -low) if method in _SIGNED else 0.0
        self.n_candidates_ = cand.k
        self.n_samples_fit_ = n
        self.n_features_in_ = n
        return self

    def _vectors(self, method, vectors, n, where):
        if method != "dissim":
            return None
        if vectors is None:
            raise ValueError(
                f"method 'dissim' (DisSimLocal) needs the vectors: call {where}(graph, "
                "vectors=X) (in a Pipeline, pass hubnessreduction__vectors=X to fit)"
            )
        V = as_vectors(vectors, "vectors")
        if V.shape[0] != n:
            raise ValueError(f"vectors has {V.shape[0]} rows but the graph has {n}")
        return V

    def transform(self, X, vectors=None):
        """The re-weighted graph of X (the fitted graph, or new points among the fitted ones).

        Parameters
        ----------
        X : scipy.sparse matrix or array_like, shape (n_queries, n_samples_fit_)
        vectors : array_like, shape (n_queries, n_features), optional
            The query points, for ``method="dissim"`` on new points.

        Returns
        -------
        scipy.sparse.csr_matrix of float64, shape (n_queries, n_samples_fit_)
            Rows nearest first (by the reduced value); see the class docstring for the self
            entry.
        """
        self._check_fitted()
        method, params, k = self._checked_params()
        G = as_graph_input(X)
        self._check_width(G.shape[1])
        if same_graph(G, self._graph):
            return self._training_graph(k)
        if method == "mp_empiric":
            raise ValueError(
                "method 'mp_empiric' counts over all points and is defined for the fitted graph "
                "only; transform new points with another method"
            )
        return self._query_graph(G, method, params, k, vectors)

    def fit_transform(self, X, y=None, vectors=None):
        """``fit(X, vectors=vectors)`` then the re-weighted fitted graph."""
        return self.fit(X, y, vectors=vectors)._training_graph(self._checked_params()[2])

    def _training_graph(self, k):
        res = self._res if k is None else self._res.head(k)
        n, kk = res.indices.shape
        idx = np.concatenate([np.arange(n, dtype=np.int64)[:, None], res.indices], axis=1)
        val = np.concatenate([np.zeros((n, 1)), res.distances + self.offset_], axis=1)
        return rows_csr(idx, val, self.n_samples_fit_)

    def _query_graph(self, G, method, params, k, vectors):
        m, n, c = G.shape[0], self.n_samples_fit_, self.n_candidates_
        V = self._vectors(method, vectors, m, "transform")
        rows, cols, vals = row_sorted(G)
        first = np.ones(rows.size, dtype=bool)
        first[1:] = rows[1:] != rows[:-1]
        own = first & (vals == 0)  # the query's own point: left out, stored first at 0
        own_col = np.full((m, 1), -1, dtype=np.int64)
        own_col[rows[own], 0] = cols[own]
        rows, cols, vals = rows[~own], cols[~own], vals[~own]
        counts = np.bincount(rows, minlength=m)
        if m and counts.min() < c:
            bad = int(np.argmin(counts))
            raise ValueError(
                f"row {bad} stores {counts[bad]} candidates, fewer than the {c} per point of "
                "the fitted graph"
            )
        start = np.concatenate([[0], np.cumsum(counts)[:-1]])
        take = (np.arange(rows.size) - start[rows]) < c
        q_idx = cols[take].reshape(m, c)
        q_val = vals[take].reshape(m, c)
        joint = (
            np.concatenate([self._cand.indices, q_idx]),
            np.concatenate([self._cand.distances.astype(np.float64), q_val]),
        )
        jv = None if V is None else np.concatenate([self._vectors_fit, V.astype(np.float64)])
        res = reduce_hubness(joint, method, k=k, X=jv, **params)
        idx = res.indices[n:]
        val = np.maximum(res.distances[n:] + self.offset_, 0.0)
        idx = np.concatenate([own_col, idx], axis=1)
        val = np.concatenate([np.zeros((m, 1)), val], axis=1)
        return rows_csr(idx, val, n)

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        """Output column names ``hubnessreduction0 ...`` (one per fitted point)."""
        self._check_fitted()
        return self._names_out(self.n_samples_fit_)
