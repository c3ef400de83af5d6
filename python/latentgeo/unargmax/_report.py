"""The result of :func:`unargmaxable`: verdicts, certificates both ways, and their independent
float64 re-check (:meth:`UnargmaxReport.verify`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from .._validate import (
    check_int,
    magnitude_exponent,
)
from ._verify import witness_failures

_STATUS = np.array(["argmaxable", "unargmaxable", "undecided"])


_STAGE = np.array(["screen", "heuristic", "lp"])


_U = np.finfo(np.float64).eps / 2


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
    _basis: Optional[tuple] = field(default=None, repr=False)
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
        """Re-check every witness and certificate, independently of how the run found them.

        A witness passes when every ``z_k - z_j`` is positive in exact arithmetic, it lies in
        the box if there is one, and its margin is the reported one (at least it, for screen
        witnesses). The screen's witnesses (``alpha w_k``, or whitened ones, which the report
        keeps the map of) are checked on the Gram matrix of the rows in that map, half a
        float32 GEMM with a rigorous rounding bound (the map is only a hint: a witness must fit
        it, and the bound pays for its residual); the other witnesses in blocks by a float32
        GEMM with a rigorous rounding bound; those neither can decide, by float64 scores beyond
        an allowance
        ``2 (d + 2) u (sum_i |w_ji x_i| + sum_i |w_ki x_i| + |b_j| + |b_k|)``. A certificate
        passes when its residual and bias slack meet the tolerance described in the class
        docstring. Undecided classes have nothing to check.
        """
        e = magnitude_exponent(self._W, self._b)
        W = np.ldexp(self._W, -e)
        b = np.ldexp(self._b, -e) if self._b is not None else np.zeros(self.V)
        margin = np.ldexp(self.margin, -e)
        alpha = None if self._alpha is None else np.ldexp(self._alpha, e)
        arg = np.flatnonzero(self.status == "argmaxable")
        failures = witness_failures(
            W,
            b,
            self.classes,
            arg,
            self._witnesses,
            alpha,
            margin,
            self.bounds,
            lower=self.stage == "screen",
            basis=self._basis,
        )
        for i in failures:
            return _fail(raise_on_failure, f"the witness of class {self.classes[i]} fails")
        for i in np.flatnonzero(self.status == "unargmaxable"):
            k = int(self.classes[i])
            idx, lam = self._certificates[i]
            if not _certificate_ok(W, b, k, idx, lam, self.tol, self.bounds):
                return _fail(raise_on_failure, f"the certificate of class {k} fails")
        return True

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
