"""The scikit-learn estimator contract without scikit-learn: parameters, repr, fitted state,
feature names, and the one input gate for graphs (sparse kNN graphs or dense distance matrices).

scikit-learn is imported only inside ``__sklearn_tags__``, which only scikit-learn calls.
"""

from __future__ import annotations

import inspect
import warnings

import numpy as np
import scipy.sparse as sp

from .._validate import as_float_matrix
from ..neighbors._gate import _check_structure
from ..whitening import NotFittedError

__all__ = ["Estimator", "NotFittedError", "as_vectors", "as_graph_input", "square_graph_input"]


class Estimator:
    """Base of the pipeline estimators: ``get_params``/``set_params`` over the constructor's
    keyword arguments (stored unchanged, validated in ``fit``), a scikit-learn style repr, the
    fitted-state protocol and feature-name bookkeeping."""

    #: Set by ``fit``; its presence means "fitted".
    _fitted_attr = "n_features_in_"

    @classmethod
    def _param_names(cls):
        sig = inspect.signature(cls.__init__)
        return sorted(p for p in sig.parameters if p != "self")

    @classmethod
    def _defaults(cls):
        sig = inspect.signature(cls.__init__)
        return {k: p.default for k, p in sig.parameters.items() if k != "self"}

    def get_params(self, deep: bool = True) -> dict:
        """The constructor parameters, as given (``deep`` is accepted for compatibility)."""
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params):
        """Set constructor parameters; they are validated when next used (in ``fit``)."""
        valid = self._param_names()
        for name in params:
            if name not in valid:
                raise ValueError(
                    f"invalid parameter {name!r} for estimator {type(self).__name__}; valid "
                    f"parameters are: {valid}"
                )
        for name, value in params.items():
            setattr(self, name, value)
        return self

    def __repr__(self) -> str:
        parts = []
        for name, default in self._defaults().items():
            value = getattr(self, name)
            try:
                same = value is default or (type(value) is type(default) and value == default)
            except (TypeError, ValueError):
                same = False
            if not same:
                parts.append(f"{name}={value!r}")
        return f"{type(self).__name__}({', '.join(parts)})"

    def __sklearn_is_fitted__(self) -> bool:
        return self._fitted_attr in vars(self)

    def _check_fitted(self) -> None:
        if not self.__sklearn_is_fitted__():
            raise NotFittedError(
                f"this {type(self).__name__} instance is not fitted yet; call 'fit' with "
                "appropriate arguments before using this estimator"
            )

    def _tags(self, preserves_dtype, pairwise: bool):
        from sklearn.utils import InputTags, Tags, TargetTags, TransformerTags

        return Tags(
            estimator_type=None,
            target_tags=TargetTags(required=False),
            transformer_tags=TransformerTags(preserves_dtype=list(preserves_dtype)),
            input_tags=InputTags(pairwise=pairwise, sparse=pairwise, positive_only=pairwise),
        )

    # -- feature names (scikit-learn's rules: string column names of a DataFrame) -------------

    def _set_feature_names(self, X) -> None:
        names = _feature_names(X)
        if names is None:
            vars(self).pop("feature_names_in_", None)
        else:
            self.feature_names_in_ = names

    def _check_feature_names(self, X) -> None:
        fitted = getattr(self, "feature_names_in_", None)
        names = _feature_names(X)
        me = type(self).__name__
        if fitted is None and names is None:
            return
        if names is not None and fitted is None:
            warnings.warn(
                f"X has feature names, but {me} was fitted without feature names", stacklevel=3
            )
            return
        if names is None:
            warnings.warn(
                f"X does not have valid feature names, but {me} was fitted with feature names",
                stacklevel=3,
            )
            return
        if len(names) != len(fitted) or (names != fitted).any():
            unseen = sorted(set(names) - set(fitted))
            missing = sorted(set(fitted) - set(names))
            msg = "The feature names should match those that were passed during fit.\n"
            if unseen:
                msg += f"Feature names unseen at fit time:\n- {unseen}\n"
            if missing:
                msg += f"Feature names seen at fit time, yet now missing:\n- {missing}\n"
            if not unseen and not missing:
                msg += "Feature names must be in the same order as they were in fit.\n"
            raise ValueError(msg)

    def _check_width(self, width: int) -> None:
        if width != self.n_features_in_:
            raise ValueError(
                f"X has {width} features, but {type(self).__name__} is expecting "
                f"{self.n_features_in_} features as input"
            )

    def _names_out(self, n: int) -> np.ndarray:
        prefix = type(self).__name__.lower()
        return np.asarray([f"{prefix}{i}" for i in range(n)], dtype=object)


def _feature_names(X):
    cols = getattr(X, "columns", None)
    if cols is None or sp.issparse(X):
        return None
    names = np.asarray(list(cols), dtype=object)
    if names.size == 0 or not all(isinstance(c, str) for c in names):
        return None
    return names


def _check_2d(X, name: str) -> None:
    """ValueError for 1-D (or 0-D) input, and for input without features."""
    ndim, shape = X.ndim, X.shape
    if ndim < 2:
        raise ValueError(
            f"Expected a 2-D array for {name}, got a {ndim}-D one. Reshape your data either "
            "using array.reshape(-1, 1) if your data has a single feature or "
            "array.reshape(1, -1) if it contains a single sample."
        )
    if ndim == 2 and shape[1] == 0:
        raise ValueError(
            f"0 feature(s) (shape={shape}) while a minimum of 1 is required: {name} has no features"
        )


def _numeric(X, name: str):
    """`X` as an array: complex data refused, numbers held in an object array converted."""
    if sp.issparse(X):
        if X.dtype.kind == "c":
            raise ValueError(f"Complex data not supported: {name} has dtype {X.dtype}")
        return X
    arr = np.asarray(X)
    if arr.dtype.kind == "c":
        raise ValueError(f"Complex data not supported: {name} has dtype {arr.dtype}")
    if arr.dtype.kind == "O":
        arr = arr.astype(np.float64)  # TypeError naming the culprit for non-numbers
    return arr


def as_vectors(X, name: str = "X", *, allow_empty: bool = False) -> np.ndarray:
    """`X` as a finite 2-D float32/float64 array (:func:`latentgeo._validate.as_float_matrix`)."""
    X = _numeric(X, name)
    _check_2d(X, name)
    return as_float_matrix(X, name, allow_empty=allow_empty)


def as_graph_input(G, name: str = "X") -> sp.csr_matrix:
    """A graph given to a pipeline step, as a CSR matrix of float64 weights.

    Sparse input: every stored entry is an edge (explicit zeros included), duplicates of a COO
    matrix are summed by ``tocsr()``. Dense input is a full distance matrix, scikit-learn's
    ``metric="precomputed"`` convention: every entry is an edge, zeros included. Weights must be
    finite and non-negative.
    """
    G = _numeric(G, name)
    _check_2d(G, name)
    if sp.issparse(G):
        if G.dtype.kind not in "biuf":
            raise TypeError(f"{name} must hold real numbers, got dtype {G.dtype}")
        if G.ndim != 2:
            raise ValueError(f"{name} must be 2-D. Reshape your data")
        _check_structure(G)
        g = sp.csr_matrix(G, dtype=np.float64, copy=True)
        g.sort_indices()
        if g.shape[0] == 0:
            raise ValueError(f"{name} is empty: it has shape {g.shape}")
        if g.shape[1] == 0:
            raise ValueError(f"{name} has no features: it has shape {g.shape}")
        data = g.data
    else:
        arr = as_float_matrix(G, name, dtype=np.dtype(np.float64))
        n, m = arr.shape
        g = sp.csr_matrix(
            (arr.ravel(), np.tile(np.arange(m), n), np.arange(0, n * m + 1, m)), shape=(n, m)
        )
        data = g.data
    if not np.isfinite(data).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    if data.size and data.min() < 0:
        raise ValueError(
            f"Negative values in data passed to {name}: distance {data.min():g}; graph weights "
            "must be >= 0"
        )
    return g


def row_sorted(g: sp.csr_matrix):
    """(rows, cols, values) of the stored entries, each row's entries by (value, column)."""
    rows = np.repeat(np.arange(g.shape[0], dtype=np.int64), np.diff(g.indptr))
    order = np.lexsort((g.indices, g.data, rows))
    return rows[order], g.indices[order].astype(np.int64), g.data[order]


def same_graph(a: sp.csr_matrix, b: sp.csr_matrix) -> bool:
    """Whether two canonical (sorted-index) CSR graphs store the same entries and values."""
    return (
        a.shape == b.shape
        and a.nnz == b.nnz
        and np.array_equal(a.indptr, b.indptr)
        and np.array_equal(a.indices, b.indices)
        and np.array_equal(a.data, b.data)
    )


def self_first_csr(idx: np.ndarray, dist: np.ndarray, n_index: int, dtype) -> sp.csr_matrix:
    """CSR rows ``[i at 0, idx[i, 0], idx[i, 1], ...]`` (self first, stored explicitly) of a
    self-join; entries with index -1 (padding) are left out."""
    m = idx.shape[0]
    full_idx = np.concatenate([np.arange(m, dtype=np.int64)[:, None], idx], axis=1)
    full = np.concatenate([np.zeros((m, 1), dtype=dtype), dist.astype(dtype, copy=False)], axis=1)
    return rows_csr(full_idx, full, n_index)


def rows_csr(idx: np.ndarray, dist: np.ndarray, n_index: int) -> sp.csr_matrix:
    """CSR matrix of shape (len(idx), n_index) holding each row's entries in the given order,
    padding (index -1) left out."""
    keep = idx >= 0
    indptr = np.zeros(idx.shape[0] + 1, dtype=np.int64)
    np.cumsum(keep.sum(axis=1), out=indptr[1:])
    return sp.csr_matrix((dist[keep], idx[keep], indptr), shape=(idx.shape[0], n_index))


def square_graph_input(G) -> sp.csr_matrix:
    """:func:`as_graph_input` of the graph a step is fitted on: the fitted points among
    themselves, so square."""
    g = as_graph_input(G)
    if g.shape[1] != g.shape[0]:
        raise ValueError(
            f"fit needs the square graph of the fitted points among themselves; got shape {g.shape}"
        )
    return g
