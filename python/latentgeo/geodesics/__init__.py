"""Geodesics on graphs: multi-source Dijkstra rows and paths, geodesic neighbours, chunked blocks
and reductions, and centre-based scoring (GeoSumm) with extractive selection."""

from ._chunks import GEODESIC_REDUCTIONS, geodesic_blocks, geodesic_reduce
from ._dijkstra import NO_PREDECESSOR, geodesic, geodesic_neighbors, reconstruct_path
from ._scores import geodesic_scores, summarize

__all__ = [
    "NO_PREDECESSOR",
    "geodesic",
    "geodesic_neighbors",
    "reconstruct_path",
    "GEODESIC_REDUCTIONS",
    "geodesic_blocks",
    "geodesic_reduce",
    "geodesic_scores",
    "summarize",
]
