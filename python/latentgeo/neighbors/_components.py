"""Explicit policies for graphs with several connected components (inf, raise, connect, largest)."""

from __future__ import annotations

from typing import Optional, Tuple

import numpy as np
import scipy.sparse as sp

from .._validate import (
    as_float_matrix,
    check_choice,
    check_n_threads,
)
from ._gate import _as_csr, _as_sources, as_graph, connected_components
from ._graph import _apply_weight, _check_metric, _check_weight
from ._knn import _knn

#: Accepted values of ``policy`` for disconnected graphs.
COMPONENT_POLICIES = ("inf", "raise", "connect", "largest")


def handle_components(
    graph,
    policy: str = "inf",
    *,
    X=None,
    metric: str = "euclidean",
    weight="distance",
    n_threads: Optional[int] = None,
) -> Tuple[sp.csr_matrix, dict]:
    """Apply an explicit policy to a graph with several connected components.

    Components are weak ones (edges followed in both directions), numbered as
    :func:`latentgeo.connected_components` numbers them.

    Parameters
    ----------
    graph : scipy.sparse matrix, shape (n, n)
        Any graph :func:`latentgeo.as_graph` accepts.
    policy : {"inf", "raise", "connect", "largest"}
        - ``"inf"``: return `graph` unchanged (distances across components are ``inf``).
        - ``"raise"``: raise ValueError (naming the number of components) if there is more than
          one component.
        - ``"connect"``: as scikit-learn's Isomap does
          (``sklearn.utils.graph._fix_connected_components``): for **every pair** of
          components, add an edge (both directions) between their closest pair of
          points, measured with `metric` on `X`: C(C-1)/2 edges for C components.
          The closest pair is found exactly with :func:`latentgeo.knn` (k=1); ties go to the lower
          point index (first in the first component, then in the second).
        - ``"largest"``: keep the subgraph induced by the largest component (ties: the
          component with the smallest node).
    X : array_like, shape (n, d), optional
        The points of the graph's nodes; required for ``"connect"``.
    metric : {"euclidean", "sqeuclidean", "cosine"}
        Distance used by ``"connect"``.
    weight : {"distance", "unit"} or float
        Weight of an added edge as in :func:`latentgeo.knn_graph`: the distance, 1, or
        ``distance ** p``.
    n_threads : int, optional
        Threads for the kNN searches of ``"connect"``.

    Returns
    -------
    graph : scipy.sparse matrix, shape (n, n) or (n_kept, n_kept)
        ``"inf"``/``"raise"``: the input object itself. ``"connect"``: the canonical
        (:func:`latentgeo.as_graph`) form of the input plus the added edges. ``"largest"``: the
        canonical form restricted to the kept nodes, in increasing node order.
    info : dict
        ``"n_components"`` (before the policy) and ``"labels"`` (int64, shape (n,)) always;
        ``"added_edges"`` (int64, shape (e, 2), i < j, one row per undirected edge) and
        ``"added_weights"`` (float64, shape (e,)) for ``"connect"``; ``"kept"`` (int64 node ids
        of the returned subgraph) for ``"largest"``.

    Raises
    ------
    ValueError
        Unknown policy; ``"raise"`` on a disconnected graph; ``"connect"`` without `X` or with
        `X` of the wrong length.

    Examples
    --------
    >>> import numpy as np, latentgeo
    >>> X = np.array([[0.0], [1.0], [10.0], [11.0]])
    >>> g = latentgeo.knn_graph(X, 1)
    >>> g2, info = latentgeo.handle_components(g, "connect", X=X)
    >>> info["n_components"], info["added_edges"].tolist(), info["added_weights"].tolist()
    (2, [[1, 2]], [9.0])
    """
    policy = check_choice(policy, "policy", COMPONENT_POLICIES)
    if policy == "connect":
        if X is None:
            raise ValueError(
                "policy='connect' needs the vectors X to measure distances between components"
            )
        X = as_float_matrix(X, "X")
        metric = _check_metric(metric)
    n_threads = check_n_threads(n_threads)
    return _handle_components(graph, policy, X, metric, _check_weight(weight), n_threads)


def _handle_components(graph, policy, X, metric, power, n_threads):
    """:func:`handle_components` on checked arguments (`X` a checked matrix when policy is
    "connect"; `power` the weight exponent, None for unit weights)."""
    n_comp, labels = connected_components(graph)
    info = {"n_components": n_comp, "labels": labels}
    if policy == "inf":
        return graph, info
    if policy == "raise":
        if n_comp > 1:
            sizes = np.bincount(labels).tolist()
            raise ValueError(
                f"the graph has {n_comp} connected components (sizes {sizes}); geodesic "
                "distances across them are infinite. Increase k, or use policy='connect', "
                "'largest' or 'inf'"
            )
        return graph, info
    g = as_graph(graph)
    n = g.shape[0]
    if policy == "largest":
        sizes = np.bincount(labels, minlength=max(n_comp, 1))
        kept = np.flatnonzero(labels == int(np.argmax(sizes))).astype(np.int64)
        info["kept"] = kept
        return g[kept][:, kept].tocsr(), info
    # policy == "connect"
    if X.shape[0] != n:
        raise ValueError(f"X has {X.shape[0]} rows but the graph has {n} nodes; they must match")
    members = [np.flatnonzero(labels == c) for c in range(n_comp)]
    pairs, dists = [], []
    for a in range(n_comp):
        for b in range(a + 1, n_comp):
            ia, ib = members[a], members[b]
            res = _knn(np.ascontiguousarray(X[ib]), 1, metric, X[ia], n_threads=n_threads)
            d = np.asarray(res.distances[:, 0], dtype=np.float64)
            r = int(np.argmin(d))  # first (lowest index in a) of the closest pairs
            pairs.append((int(ia[r]), int(ib[res.indices[r, 0]])))
            dists.append(float(d[r]))
    edges = np.array(pairs, dtype=np.int64).reshape(-1, 2)
    edges.sort(axis=1)
    w = _apply_weight(np.array(dists, dtype=np.float64), power)
    info["added_edges"] = edges
    info["added_weights"] = w
    coo = g.tocoo()
    rows = np.concatenate([coo.row, edges[:, 0], edges[:, 1]]).astype(np.int64)
    cols = np.concatenate([coo.col, edges[:, 1], edges[:, 0]]).astype(np.int64)
    data = np.concatenate([coo.data, w, w])
    return as_graph(sp.coo_matrix((data, (rows, cols)), shape=(n, n))), info


def _geodesic_policy(graph, sources, policy, X, metric, n_threads):
    """``(graph, sources)`` for :func:`latentgeo.geodesic` under a component `policy`.

    ``"inf"``: unchanged. ``"raise"``: unchanged, after checking there is one (weak) component.
    ``"connect"``: the graph with the bridging edges of :func:`handle_components`.
    ``"largest"``: the graph unchanged (a Dijkstra from a node of the largest component never
    leaves it), `sources` checked to lie in that component; ``None`` becomes its nodes.
    """
    policy = check_choice(policy, "policy", COMPONENT_POLICIES)
    if policy == "inf":
        return graph, sources
    n, indptr, indices, weights = _as_csr(graph)  # validates; dense input becomes CSR
    g = sp.csr_matrix((weights, indices, indptr), shape=(n, n))
    g2, info = handle_components(g, policy, X=X, metric=metric, n_threads=n_threads)
    if policy == "connect":
        return g2, sources
    if policy == "largest":
        kept = info["kept"]
        if sources is None:
            return graph, kept
        src, _ = _as_sources(sources, n)
        outside = ~np.isin(src, kept)
        if outside.any():
            s = int(src[np.argmax(outside)])
            raise ValueError(
                f"source {s} is not in the largest connected component ({kept.size} of {n} "
                "nodes); policy='largest' only answers for sources inside it"
            )
    return graph, sources
