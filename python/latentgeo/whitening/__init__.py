"""Generalised BERT-whitening with the beta, gamma and k knobs, and a grid search over them."""

from ._estimator import NotFittedError, Whitening
from ._grid import WhiteningGrid, whitening_grid

__all__ = ["NotFittedError", "Whitening", "WhiteningGrid", "whitening_grid"]
