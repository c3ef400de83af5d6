"""latentgeo: geometry of learned representation spaces.

Exact kNN and hubness today; geodesics, unargmaxable classes, whitening, losses and diffusion
build on the same substrate.
"""

from . import datasets
from ._core import __version__
from .geodesic import NO_PREDECESSOR, geodesic, geodesic_neighbors, reconstruct_path
from .geodesic_chunks import GEODESIC_REDUCTIONS, geodesic_blocks, geodesic_reduce
from .geodesic_scores import COMPONENT_POLICIES, geodesic_scores, handle_components, summarize
from .graph import as_graph, connected_components, knn_graph
from .hubness import (
    HubnessReport,
    antihub_occurrence,
    atkinson,
    gini,
    groupie_ratio,
    hub_occurrence,
    hubness,
    k_occurrence,
    robinhood,
    skewness,
)
from .knn import METRICS, KNNResult, as_knn, knn
from .reduction import REDUCTIONS, reduce_hubness
from .sampling import HubSample, norm_truncation, sample_hubs
from .weights import list_tensors, load_weights

__all__ = ["__version__", "METRICS", "KNNResult", "as_knn", "knn"]
__all__ += [
    "HubnessReport",
    "antihub_occurrence",
    "atkinson",
    "gini",
    "groupie_ratio",
    "hub_occurrence",
    "hubness",
    "k_occurrence",
    "robinhood",
    "skewness",
    "REDUCTIONS",
    "reduce_hubness",
]
__all__ += ["datasets", "HubSample", "norm_truncation", "sample_hubs"]
__all__ += ["as_graph", "connected_components", "knn_graph"]
__all__ += ["NO_PREDECESSOR", "geodesic", "geodesic_neighbors", "reconstruct_path"]
__all__ += ["COMPONENT_POLICIES", "geodesic_scores", "handle_components", "summarize"]
__all__ += ["list_tensors", "load_weights"]
__all__ += ["GEODESIC_REDUCTIONS", "geodesic_blocks", "geodesic_reduce"]
from .unargmax import UnargmaxReport, unargmaxable  # noqa: E402

__all__ += ["UnargmaxReport", "unargmaxable"]
from . import diffusion  # noqa: E402

__all__ += ["diffusion"]
from .whitening import Whitening, WhiteningGrid, whitening_grid  # noqa: E402

__all__ += ["Whitening", "WhiteningGrid", "whitening_grid"]
from . import losses  # noqa: E402

__all__ += ["losses"]
