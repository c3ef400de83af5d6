"""latentgeo: geometry of learned representation spaces.

One subpackage per capability, each with a public ``__init__`` over private modules:
:mod:`~latentgeo.neighbors` (exact kNN, kNN graphs, the graph gate), :mod:`~latentgeo.hubs`,
:mod:`~latentgeo.geodesics`, :mod:`~latentgeo.unargmax`, :mod:`~latentgeo.whitening`,
:mod:`~latentgeo.losses`, :mod:`~latentgeo.diffusion` and :mod:`~latentgeo.audits` (the report
that puts them together). The flat names below are the stable API.

They load on first use (PEP 562): ``import latentgeo`` imports only the compiled core, and
``latentgeo.knn`` imports :mod:`~latentgeo.neighbors` (and scipy) the first time it is read.
"""

import importlib
from typing import TYPE_CHECKING, Any, Dict, List

from ._core import __version__

#: Each flat name and the subpackage it comes from (a subpackage maps to itself).
_SOURCES: Dict[str, str] = {
    name: module
    for module, names in {
        "neighbors": "METRICS KNNResult as_knn knn as_graph connected_components knn_graph "
        "COMPONENT_POLICIES handle_components",
        "hubs": "HubnessReport antihub_occurrence atkinson gini groupie_ratio hub_occurrence "
        "hubness k_occurrence robinhood skewness REDUCTIONS reduce_hubness HubSample "
        "norm_truncation sample_hubs",
        "geodesics": "NO_PREDECESSOR geodesic geodesic_neighbors reconstruct_path geodesic_scores "
        "summarize GEODESIC_REDUCTIONS geodesic_blocks geodesic_reduce",
        "unargmax": "list_tensors load_weights UnargmaxReport unargmaxable",
        "whitening": "Whitening WhiteningGrid whitening_grid",
        "pipeline": "KNNTransformer HubnessReduction GeodesicTransformer",
        "audits": "audit AuditReport AuditSection",
        "datasets": "datasets",
        "diffusion": "diffusion",
        "losses": "losses",
    }.items()
    for name in names.split()
}

if TYPE_CHECKING:  # the same names, eagerly, for type checkers and IDEs
    from . import datasets, diffusion, losses
    from .audits import AuditReport, AuditSection, audit
    from .geodesics import (
        GEODESIC_REDUCTIONS,
        NO_PREDECESSOR,
        geodesic,
        geodesic_blocks,
        geodesic_neighbors,
        geodesic_reduce,
        geodesic_scores,
        reconstruct_path,
        summarize,
    )
    from .hubs import (
        REDUCTIONS,
        HubnessReport,
        HubSample,
        antihub_occurrence,
        atkinson,
        gini,
        groupie_ratio,
        hub_occurrence,
        hubness,
        k_occurrence,
        norm_truncation,
        reduce_hubness,
        robinhood,
        sample_hubs,
        skewness,
    )
    from .neighbors import (
        COMPONENT_POLICIES,
        METRICS,
        KNNResult,
        as_graph,
        as_knn,
        connected_components,
        handle_components,
        knn,
        knn_graph,
    )
    from .pipeline import GeodesicTransformer, HubnessReduction, KNNTransformer
    from .unargmax import UnargmaxReport, list_tensors, load_weights, unargmaxable
    from .whitening import Whitening, WhiteningGrid, whitening_grid


def __getattr__(name: str) -> Any:
    module = _SOURCES.get(name)
    if module is None:
        raise AttributeError(f"module 'latentgeo' has no attribute {name!r}")
    sub = importlib.import_module(f".{module}", __name__)
    value = sub if name == module else getattr(sub, name)
    globals()[name] = value
    return value


def __dir__() -> List[str]:
    return sorted(set(globals()) | set(__all__))


__all__ = [
    "__version__",
    "METRICS",
    "KNNResult",
    "as_knn",
    "knn",
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
    "datasets",
    "HubSample",
    "norm_truncation",
    "sample_hubs",
    "as_graph",
    "connected_components",
    "knn_graph",
    "NO_PREDECESSOR",
    "geodesic",
    "geodesic_neighbors",
    "reconstruct_path",
    "COMPONENT_POLICIES",
    "geodesic_scores",
    "handle_components",
    "summarize",
    "list_tensors",
    "load_weights",
    "GEODESIC_REDUCTIONS",
    "geodesic_blocks",
    "geodesic_reduce",
    "UnargmaxReport",
    "unargmaxable",
    "diffusion",
    "Whitening",
    "WhiteningGrid",
    "whitening_grid",
    "losses",
    "KNNTransformer",
    "HubnessReduction",
    "GeodesicTransformer",
    "audit",
    "AuditReport",
    "AuditSection",
]
