"""Unargmaxable classes of a softmax layer: exact, certified verdicts for real vocabularies.

For logits ``z = W x + b`` (W is V x d), class k is *argmaxable* when some input x gives
``z_k > z_j`` for every ``j != k`` (strict), otherwise *unargmaxable*: no input can make it the
greedy prediction. Without a bias, k is unargmaxable iff ``w_k`` lies in the convex hull of the
other rows; with a bias, iff ``(w_k, b_k)`` lies below the upper hull of the lifted rows.

Every verdict carries a certificate that was checked in float64: a witness x (argmaxable), or
weights ``lambda >= 0`` summing to one with ``sum_j lambda_j w_j = w_k`` and
``sum_j lambda_j b_j >= b_k`` (unargmaxable, within a relative tolerance). Classes that cannot be
certified are reported as ``"undecided"``, never guessed. :meth:`UnargmaxReport.verify` re-checks
all of them independently.
"""

from __future__ import annotations

import numbers
import time
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from . import _core
from ._progress import Progress
from ._validate import check_int, check_n_threads

__all__ = ["UnargmaxReport", "unargmaxable", "DEFAULT_TOL", "DEFAULT_PATIENCE"]

#: Default relative tolerance of unargmaxability certificates.
DEFAULT_TOL = 1e-9
#: Default number of reflections of the heuristic per class (the reference's default).
DEFAULT_PATIENCE = 100

_STATUS = np.array(["argmaxable", "unargmaxable", "undecided"])
_STAGE = np.array(["screen", "heuristic", "lp"])
_U = np.finfo(np.float64).eps / 2
# Classes per float64 GEMM block in verify().
_VERIFY_BLOCK = 256


@dataclass(frozen=True, eq=False)
class UnargmaxReport:
    """Per-class verdicts on ``z = W x + b`` with their certificates.

    Attributes
    ----------
    V, d : int
        Shape of W.
    has_bias : bool
        Whether a bias was given.
    semantics : str
        ``"box-free"`` (any x) or ``"box [-R, R]^d"`` (x restricted to a box, as the reference
        implementation does with R = 100).
    tol : float
        Relative tolerance of unargmaxability certificates: ``||sum lambda_j w_j - w_k|| <=
        tol * sum lambda_j ||w_j - w_k||`` and ``sum lambda_j b_j - b_k >= -tol * sum lambda_j
        |b_j - b_k|`` (plus float64 rounding). Exact duplicates have residual 0.
    classes : ndarray of int64
        The class ids that were checked, in the order the other arrays use.
    status : ndarray of str
        ``"argmaxable"``, ``"unargmaxable"`` or ``"undecided"`` per class.
    stage : ndarray of str
        The stage that decided the class (or last tried it): ``"screen"`` (x = alpha * w_k, or
        the whitened ``alpha (Sigma + eps I)^-1 (w_k - mean(W))`` with an explicit witness),
        ``"heuristic"`` (reflections) or ``"lp"`` (exact LP with constraint generation).
    margin : ndarray of float64
        The witness margin ``min_{j != k} (z_k - z_j)`` (for the screen a rigorous lower bound);
        NaN without a witness.
    timings : dict
        Seconds per stage (``"screen"``, ``"heuristic"``, ``"lp"``) and ``"total"``.
    counts : dict
        Classes decided per stage.
    """

    V: int
    d: int
    has_bias: bool
    semantics: str
    tol: float
    classes: np.ndarray
    status: np.ndarray
    stage: np.ndarray
    margin: np.ndarray
    timings: dict
    counts: dict
    bounds: Optional[float] = None
    _W: Optional[np.ndarray] = field(default=None, repr=False)
    _b: Optional[np.ndarray] = field(default=None, repr=False)
    _alpha: Optional[np.ndarray] = field(default=None, repr=False)
    _witnesses: dict = field(default_factory=dict, repr=False)
    _certificates: dict = field(default_factory=dict, repr=False)
    _pos: dict = field(default_factory=dict, repr=False)

    # -- id lists ---------------------------------------------------------------------------

    def _ids(self, status: str) -> np.ndarray:
        return np.sort(self.classes[self.status == status]).astype(np.int64)

    @property
    def unargmaxable(self) -> np.ndarray:
        """Sorted ids of the unargmaxable classes."""
        return self._ids("unargmaxable")

    @property
    def argmaxable(self) -> np.ndarray:
        """Sorted ids of the argmaxable classes."""
        return self._ids("argmaxable")

    @property
    def undecided(self) -> np.ndarray:
        """Sorted ids of the classes that could not be certified either way."""
        return self._ids("undecided")

    # -- certificates -----------------------------------------------------------------------

    def _position(self, k) -> int:
        k = check_int(k, "k")
        if k not in self._pos:
            raise ValueError(f"class {k} was not checked in this report")
        return self._pos[k]

    def witness(self, k) -> np.ndarray:
        """The input x (float64, shape (d,)) that makes class `k` the strict argmax."""
        i = self._position(k)
        if self.status[i] != "argmaxable":
            raise ValueError(
                f"class {k} is {self.status[i]}; only argmaxable classes have a witness"
            )
        if i in self._witnesses:
            return self._witnesses[i].copy()
        return float(self._alpha[i]) * self._W[int(k)].astype(np.float64)

    def certificate(self, k):
        """``(indices, weights)`` with ``sum weights * W[indices] = W[k]`` (within tolerance).

        indices are int64 ascending (never `k`), weights float64, positive, summing to one, and
        ``weights @ b[indices] >= b[k]``; in box semantics ``weights @ b[indices] - b[k] >=
        R * ||weights @ W[indices] - W[k]||_1`` instead.
        """
        i = self._position(k)
        if self.status[i] != "unargmaxable":
            raise ValueError(
                f"class {k} is {self.status[i]}; only unargmaxable classes have a certificate"
            )
        idx, w = self._certificates[i]
        return idx.copy(), w.copy()

    # -- independent re-check ---------------------------------------------------------------

    def verify(self, raise_on_failure: bool = False) -> bool:
        """Re-check every witness and certificate in float64 numpy, independently of Rust.

        A witness passes when every ``z_k - z_j`` exceeds a rounding-error allowance
        ``2 (d + 2) u (sum_i |w_ji x_i| + sum_i |w_ki x_i| + |b_j| + |b_k|)`` (the sums bounded
        by Cauchy-Schwarz for screen witnesses), lies in the box if there is one, and its margin
        is at least the reported one; a certificate when its residual and bias slack meet the
        tolerance described in the class docstring. Undecided classes have nothing to check.
        """
        W = self._W
        b = self._b if self._b is not None else np.zeros(self.V)
        for i in self._witness_failures(W, b):
            return _fail(raise_on_failure, f"the witness of class {self.classes[i]} fails")
        for i in np.flatnonzero(self.status == "unargmaxable"):
            k = int(self.classes[i])
            idx, lam = self._certificates[i]
            if not _certificate_ok(W, b, k, idx, lam, self.tol, self.bounds):
                return _fail(raise_on_failure, f"the certificate of class {k} fails")
        return True

    def _witness_failures(self, W, b):
        d = self.d
        norms = np.sqrt(np.einsum("ij,ij->i", W, W, dtype=np.float64))
        arg = np.flatnonzero(self.status == "argmaxable")
        scaled = [i for i in arg if i not in self._witnesses]
        for lo in range(0, len(scaled), _VERIFY_BLOCK):
            pos = np.asarray(scaled[lo : lo + _VERIFY_BLOCK])
            ks = self.classes[pos]
            alpha = self._alpha[pos]
            X = alpha[:, None] * W[ks].astype(np.float64)
            Z = W.astype(np.float64, copy=False) @ X.T + b[:, None]
            # Cauchy-Schwarz: sum_i |w_ji x_i| <= ||w_j|| ||x||.
            xn = np.abs(alpha) * norms[ks]
            S = norms[:, None] * xn[None, :]
            for c, i in enumerate(pos):
                if not self._witness_ok(i, Z[:, c], S[:, c], X[c], b, d, lower_bound=True):
                    yield i
        for i in arg:
            if i in self._witnesses:
                x = self._witnesses[i]
                z = W.astype(np.float64, copy=False) @ x + b
                s = np.abs(W).astype(np.float64, copy=False) @ np.abs(x)
                if not self._witness_ok(i, z, s, x, b, d, lower_bound=False):
                    yield i

    def _witness_ok(self, i, z, s, x, b, d, lower_bound) -> bool:
        k = int(self.classes[i])
        if not np.all(np.isfinite(x)):
            return False
        if self.bounds is not None and np.abs(x).max(initial=0.0) > self.bounds:
            return False
        m = z[k] - z
        allow = 2.0 * (d + 2.0) * _U * (s + s[k] + np.abs(b) + abs(b[k]))
        ok = m - allow > 0
        ok[k] = True
        if not ok.all():
            return False
        m[k] = np.inf
        got = m.min()
        rep = self.margin[i]
        if lower_bound:
            return bool(got >= rep * (1 - 1e-9) - allow.max())
        return bool(abs(got - rep) <= 1e-9 * abs(rep) + allow.max())

    # -- output -----------------------------------------------------------------------------

    def to_dict(self) -> dict:
        """JSON-serialisable form; witnesses and certificates included compactly.

        Screen witnesses are ``alpha * W[k]`` and stored as ``witness_scale[k] = alpha``; other
        witnesses as explicit vectors; certificates as ``{"indices": [...], "weights": [...]}``,
        all keyed by the class id (as a string).
        """

        def num(v):
            v = float(v)
            return v if np.isfinite(v) else None

        scale, wit, cert = {}, {}, {}
        for i, k in enumerate(self.classes.tolist()):
            if self.status[i] == "argmaxable":
                if i in self._witnesses:
                    wit[str(k)] = self._witnesses[i].tolist()
                else:
                    scale[str(k)] = float(self._alpha[i])
            elif self.status[i] == "unargmaxable":
                idx, w = self._certificates[i]
                cert[str(k)] = {"indices": idx.tolist(), "weights": w.tolist()}
        return {
            "V": self.V,
            "d": self.d,
            "has_bias": self.has_bias,
            "semantics": self.semantics,
            "bounds": self.bounds,
            "tol": self.tol,
            "classes": self.classes.tolist(),
            "status": self.status.tolist(),
            "stage": self.stage.tolist(),
            "margin": [num(v) for v in self.margin],
            "timings": dict(self.timings),
            "counts": dict(self.counts),
            "unargmaxable": self.unargmaxable.tolist(),
            "undecided": self.undecided.tolist(),
            "witness_scale": scale,
            "witnesses": wit,
            "certificates": cert,
        }

    def summary(self) -> str:
        """A few lines for humans: counts, unargmaxable ids, time per stage."""
        n = len(self.classes)
        un, und = self.unargmaxable, self.undecided
        lines = [
            f"unargmaxable classes of W ({self.V} x {self.d}"
            f"{', with bias' if self.has_bias else ''}; "
            f"{self.semantics}; tol {self.tol:g})",
            f"  checked {n}: {n - len(un) - len(und)} argmaxable, {len(un)} unargmaxable, "
            f"{len(und)} undecided",
        ]
        shown = ", ".join(str(k) for k in un[:20]) + (" ..." if len(un) > 20 else "")
        lines.append(f"  unargmaxable ids: {shown if len(un) else '(none)'}")
        if len(und):
            lines.append(f"  undecided ids: {', '.join(str(k) for k in und[:20])}")
        lines.append(
            "  decided per stage: "
            + ", ".join(f"{s} {self.counts[s]}" for s in ("screen", "heuristic", "lp"))
        )
        lines.append(
            "  seconds per stage: "
            + ", ".join(
                f"{s} {self.timings[s]:.3f}" for s in ("screen", "heuristic", "lp", "total")
            )
        )
        return "\n".join(lines)


def _fail(raise_on_failure: bool, msg: str) -> bool:
    if raise_on_failure:
        raise ValueError(msg)
    return False


def _certificate_ok(W, b, k, idx, lam, tol, bounds) -> bool:
    """The float64 test of one certificate (the same rule the Rust core applies at half the
    allowance)."""
    idx = np.asarray(idx)
    lam = np.asarray(lam, dtype=np.float64)
    V, d = W.shape
    if (
        idx.size == 0
        or idx.shape != lam.shape
        or np.any(idx == k)
        or np.any(idx < 0)
        or np.any(idx >= V)
        or len(np.unique(idx)) != idx.size
        or not np.all(np.isfinite(lam))
        or np.any(lam <= 0)
    ):
        return False
    lam = lam / lam.sum()
    Wj = W[idx].astype(np.float64)
    wk = W[k].astype(np.float64)
    r = lam @ Wj - wk
    diff = Wj - wk
    scale_w2 = float(lam @ np.sqrt(np.einsum("ij,ij->i", diff, diff)))
    scale_w1 = float(lam @ np.abs(diff).sum(axis=1))
    mass_w = float(lam @ np.sqrt(np.einsum("ij,ij->i", Wj, Wj)))
    slack = float(lam @ b[idx] - b[k])
    scale_b = float(lam @ np.abs(b[idx] - b[k]))
    mass_b = float(lam @ np.abs(b[idx]))
    n = idx.size
    round_w = 4.0 * (n + d + 2.0) * _U * (mass_w + float(np.linalg.norm(wk)))
    round_b = 4.0 * (n + 2.0) * _U * (mass_b + abs(float(b[k])))
    if bounds is None:
        return bool(
            np.linalg.norm(r) <= tol * scale_w2 + round_w and slack >= -(tol * scale_b + round_b)
        )
    allow = tol * (scale_b + bounds * scale_w1) + round_b + bounds * np.sqrt(d) * round_w
    return bool(slack - bounds * np.abs(r).sum() >= -allow)


def _as_weights(W) -> np.ndarray:
    try:
        import scipy.sparse as sp

        if sp.issparse(W):
            raise TypeError("W is a scipy.sparse matrix; pass a dense numpy array")
    except ImportError:  # pragma: no cover - scipy is a dependency
        pass
    arr = np.asarray(W)
    if arr.dtype.name == "bfloat16":  # ml_dtypes: exact in float32
        arr = arr.astype(np.float32)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"W must hold real numbers, got dtype {arr.dtype}")
    if arr.ndim != 2:
        raise ValueError(f"W must be a 2-D array of shape (V, d), got shape {arr.shape}")
    V, d = arr.shape
    if V <= 1:
        raise ValueError(f"W needs at least 2 rows (classes), got {V}")
    if d == 0:
        raise ValueError(f"W has no columns: it has shape {arr.shape}")
    dtype = np.float32 if arr.dtype in (np.float16, np.float32) else np.float64
    arr = np.ascontiguousarray(arr, dtype=dtype)
    if not np.isfinite(arr).all():
        r, c = np.argwhere(~np.isfinite(arr))[0]
        raise ValueError(f"W contains NaN or infinite values (first at row {r}, column {c})")
    return arr


def _as_bias(b, V: int) -> Optional[np.ndarray]:
    if b is None:
        return None
    arr = np.asarray(b)
    if arr.dtype.name == "bfloat16":
        arr = arr.astype(np.float32)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"b must hold real numbers, got dtype {arr.dtype}")
    if arr.shape != (V,):
        raise ValueError(f"b must have shape ({V},) to match W's {V} rows, got shape {arr.shape}")
    arr = np.ascontiguousarray(arr, dtype=np.float64)
    if not np.isfinite(arr).all():
        raise ValueError(
            f"b contains NaN or infinite values (first at {np.flatnonzero(~np.isfinite(arr))[0]})"
        )
    return arr


def _as_classes(classes, V: int) -> Optional[np.ndarray]:
    if classes is None:
        return None
    arr = np.atleast_1d(np.asarray(classes))
    if arr.ndim != 1:
        raise ValueError(f"classes must be a 1-D sequence of class ids, got shape {arr.shape}")
    if arr.size and arr.dtype.kind not in "iu":
        raise TypeError(f"classes must be integers, got dtype {arr.dtype}")
    arr = arr.astype(np.int64)
    if arr.size == 0:
        raise ValueError("classes is empty")
    bad = arr[(arr < 0) | (arr >= V)]
    if bad.size:
        raise ValueError(f"class {int(bad[0])} is out of range for W with {V} rows")
    if len(np.unique(arr)) != arr.size:
        raise ValueError("classes contains duplicates")
    return np.ascontiguousarray(arr)


def _check_real(value, name: str, *, positive: bool) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {value!r}")
    v = float(value)
    if not np.isfinite(v) or (v <= 0 if positive else v < 0):
        kind = "positive" if positive else "non-negative"
        raise ValueError(f"{name} must be a {kind} finite number, got {value!r}")
    return v


def unargmaxable(
    W,
    b=None,
    *,
    classes=None,
    bounds=None,
    tol=None,
    patience: int = DEFAULT_PATIENCE,
    n_threads: Optional[int] = None,
    progress: bool = False,
) -> UnargmaxReport:
    """Find the classes of ``z = W x + b`` that no input can make the strict argmax.

    Three stages run in Rust, parallel over classes, each for what the previous left open:
    a batched screen ``x = alpha * w_k`` (one blocked GEMM keeping row maxima, bias-aware
    alpha, proven with an a-priori rounding bound) followed by the whitened direction
    ``(Sigma + eps I)^-1 (w_k - mean(W))`` for the classes still open, the reference's reflection
    heuristic, and an exact LP (clarabel) with constraint generation that yields either a witness
    or the dual weights lambda, reduced to at most d + 1 non-zeros (Caratheodory). Every result
    is checked in float64 before it becomes a verdict.

    Parameters
    ----------
    W : array_like, shape (V, d)
        Output embeddings (one row per class). float32 (and float16/bfloat16, converted
        losslessly) is screened in float32; everything else in float64. All certificates are
        checked in float64.
    b : array_like, shape (V,), optional
        Bias.
    classes : sequence of int, optional
        Class ids to check (default: all). Every row still counts as a competitor.
    bounds : float, optional
        Restrict inputs to the box ``[-bounds, bounds]^d`` (the reference uses 100). Default:
        box-free (any x; large inputs count), which the homogeneous LP handles exactly.
    tol : float, optional
        Relative tolerance of unargmaxability certificates (default 1e-9): a class is reported
        unargmaxable when ``w_k`` is within ``tol * sum lambda_j ||w_j - w_k||`` of a convex
        combination of other rows whose bias is at least ``b_k`` (up to the same relative
        tolerance). Argmaxable verdicts need a witness whose margin clears float64 rounding.
    patience : int
        Reflections per class in the heuristic (0 skips the reflections).
    n_threads : int, optional
        Threads (default: all cores). Results do not depend on it.
    progress : bool
        Progress bar on stderr; Ctrl-C interrupts (KeyboardInterrupt).

    Returns
    -------
    UnargmaxReport

    Examples
    --------
    >>> import numpy as np, latentgeo
    >>> W = np.array([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, -1.0], [0.2, 0.1]])
    >>> latentgeo.unargmaxable(W).unargmaxable.tolist()
    [4]
    """
    t0 = time.perf_counter()
    W = _as_weights(W)
    V, d = W.shape
    b = _as_bias(b, V)
    cls = _as_classes(classes, V)
    if bounds is not None:
        bounds = _check_real(bounds, "bounds", positive=True)
    tol = DEFAULT_TOL if tol is None else _check_real(tol, "tol", positive=False)
    patience = check_int(patience, "patience", low=0)
    n_threads = check_n_threads(n_threads)
    fn = _core.unargmax_f32 if W.dtype == np.float32 else _core.unargmax_f64
    with Progress(1, "unargmaxable", enabled=bool(progress)) as bar:
        raw = fn(W, b, cls, bounds, tol, patience, n_threads, bar)
    total = time.perf_counter() - t0

    classes_out = np.arange(V, dtype=np.int64) if cls is None else cls
    status = _STATUS[raw["status"]]
    stage = _STAGE[raw["stage"]]
    witnesses = {int(p): x for p, x in zip(raw["witness_pos"], raw["witness_x"])}
    ptr = raw["cert_indptr"]
    certificates = {
        int(p): (raw["cert_indices"][ptr[i] : ptr[i + 1]], raw["cert_weights"][ptr[i] : ptr[i + 1]])
        for i, p in enumerate(raw["cert_pos"])
    }
    decided = status != "undecided"
    counts = {str(s): int(np.count_nonzero(decided & (stage == s))) for s in _STAGE}
    ts = raw["timings"]
    timings = {"screen": ts[0], "heuristic": ts[1], "lp": ts[2], "total": total}
    semantics = "box-free" if bounds is None else f"box [-{bounds:g}, {bounds:g}]^d"
    return UnargmaxReport(
        V=V,
        d=d,
        has_bias=b is not None,
        semantics=semantics,
        tol=tol,
        classes=classes_out,
        status=status,
        stage=stage,
        margin=raw["margin"],
        timings=timings,
        counts=counts,
        bounds=bounds,
        _W=W,
        _b=b,
        _alpha=raw["alpha"],
        _witnesses=witnesses,
        _certificates=certificates,
        _pos={int(k): i for i, k in enumerate(classes_out.tolist())},
    )
