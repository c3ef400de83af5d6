"""latentgeo: geometry of learned representation spaces.

Exact kNN and hubness today; geodesics, unargmaxable classes, whitening, losses and diffusion
build on the same substrate.
"""

from ._core import __version__
from .knn import METRICS, KNNResult, as_knn, knn

__all__ = ["__version__", "METRICS", "KNNResult", "as_knn", "knn"]
