"""Neighbours and graphs: exact kNN, precomputed-kNN input, the kNN graph, and the one graph gate
(validation, CSR conversion, symmetrisation, connected components and the component policies).

The data path of the package starts here: vectors -> kNN -> CSR graph, which :mod:`latentgeo.hubs`
(k-occurrence) and :mod:`latentgeo.geodesics` (Dijkstra) consume.
"""

from ._approx import KNN_METHODS, ApproxInfo
from ._components import COMPONENT_POLICIES, handle_components
from ._gate import as_graph, connected_components
from ._graph import knn_graph
from ._knn import METRICS, KNNResult, as_knn, knn

__all__ = [
    "METRICS",
    "KNNResult",
    "KNN_METHODS",
    "ApproxInfo",
    "knn",
    "as_knn",
    "knn_graph",
    "as_graph",
    "connected_components",
    "COMPONENT_POLICIES",
    "handle_components",
]
