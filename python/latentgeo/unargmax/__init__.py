"""Unargmaxable classes of a low-rank softmax: the exact detector with certificates both ways, its
report, and reading weights from .npy / .npz / .safetensors files."""

from ._detector import DEFAULT_PATIENCE, DEFAULT_TOL, unargmaxable
from ._report import UnargmaxReport
from ._weights import SUPPORTED_DTYPES, list_tensors, load_weights, save_safetensors

__all__ = [
    "UnargmaxReport",
    "unargmaxable",
    "DEFAULT_TOL",
    "DEFAULT_PATIENCE",
    "load_weights",
    "list_tensors",
    "save_safetensors",
    "SUPPORTED_DTYPES",
]
