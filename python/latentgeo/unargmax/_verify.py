"""The witness half of :meth:`UnargmaxReport.verify`: a certified float32 GEMM pass over blocks of
witnesses, and the float64 test for the few witnesses that pass cannot decide.

For a witness x of class k, every ``z_k - z_j`` must be positive in exact arithmetic. The fast
pass computes ``Z = W32 @ X32`` (one float32 GEMM per block of witnesses) and bounds its error
rigorously: rounding x (and W, when it is float64) to float32 costs at most ``u32 ||w_j|| ||x||``
each, and any summation order of a float32 dot product at most ``gamma_(d+2) ||w_j|| ||x||`` (by
Cauchy-Schwarz), so ``z_k - z_j`` lies within ``E_jk`` of the float64 margin computed from Z. A
witness whose lower bounds ``m - E`` are all positive (and, for a screen witness, not below the
reported margin) is accepted; any other is decided by the float64 test with its own rounding
allowance, exactly as before. Both accept only witnesses whose exact margins are positive.
"""

from __future__ import annotations

from typing import Iterator, Optional

import numpy as np

U64 = np.finfo(np.float64).eps / 2
U32 = float(np.finfo(np.float32).eps) / 2
#: Largest error of one float32 product that underflows (half the smallest subnormal, 2**-150).
_UNDERFLOW32 = 2.0**-150

#: Witnesses per float32 GEMM block (V x BLOCK float32 scores: 62 MB at V = 30,522).
BLOCK = 512


def witness_failures(
    W: np.ndarray,
    b: np.ndarray,
    classes: np.ndarray,
    positions: np.ndarray,
    vectors: dict,
    alpha: Optional[np.ndarray],
    margin: np.ndarray,
    bounds: Optional[float],
    lower: np.ndarray,
) -> Iterator[int]:
    """Positions (of `positions`) whose witness fails for the rescaled (W, b).

    A position with an entry in `vectors` has that explicit witness; any other is the screen
    witness ``alpha[i] * W[classes[i]]``. Where `lower` (per position of all classes) is set,
    the reported margin is a lower bound (screen witnesses), else the witness's margin.
    """
    V, d = W.shape
    W64 = W.astype(np.float64, copy=False)
    norms = np.sqrt(np.einsum("ij,ij->i", W64, W64))
    # One float32 GEMM gives T_jc >= z_j(x_c) - slack_b for every j: its two extra columns add
    # A_j ||x_c|| (A_j bounds the rounding of x and W to float32 and of the float32 sums, with a
    # factor 2 to spare) and b_j.
    gamma = (d + 2) * U32 / (1 - (d + 2) * U32)
    A = 2.0 * (gamma + 2.0 * U32) * norms + 2.0 * (d + 2) * _UNDERFLOW32
    Waug = np.empty((V, d + 2), dtype=np.float32)
    Waug[:, :d] = W
    Waug[:, d] = A
    Waug[:, d + 1] = b
    slack_b = 2.0 * (gamma + U32) * float(np.abs(b).max(initial=0.0))
    slow = _Float64Test(W64, b, norms, d)
    for lo in range(0, len(positions), BLOCK):
        pos = positions[lo : lo + BLOCK]
        ks = classes[pos]
        screen = lower[pos]
        X = np.empty((len(pos), d))
        for c, i in enumerate(pos):
            X[c] = vectors[i] if i in vectors else alpha[i] * W64[ks[c]]
        finite = np.isfinite(X).all(axis=1)
        inside = finite if bounds is None else finite & (np.abs(X).max(axis=1) <= bounds)
        fast = _fast_pass(
            Waug, X, ks, inside, A.max(initial=0.0), slack_b, margin[pos], screen, slow
        )
        for c, i in enumerate(pos):
            if fast[c]:
                continue
            if not inside[c] or not slow.ok(int(ks[c]), X[c], margin[i], screen[c]):
                yield i


def _fast_pass(Waug, X, ks, usable, A_max, slack_b, rep, screen, slow) -> np.ndarray:
    """Columns certified by the float32 pass (the others go to the float64 test)."""
    d = X.shape[1]
    fast = np.zeros(len(X), dtype=bool)
    Xaug = np.empty((len(X), d + 2), dtype=np.float32)
    with np.errstate(over="ignore", invalid="ignore"):
        Xaug[:, :d] = X
        Xaug[:, d] = np.linalg.norm(X, axis=1)
    Xaug[:, d + 1] = 1.0
    usable = usable & np.isfinite(Xaug).all(axis=1)
    cols = np.flatnonzero(usable)
    if cols.size == 0:
        return fast
    kc = ks[cols]
    with np.errstate(over="ignore", invalid="ignore"):
        T = Xaug[cols] @ Waug.T  # (witnesses, V): one contiguous row per witness
    j = np.arange(len(cols))
    T[j, kc] = -np.inf
    top = T.argmax(axis=1)
    t_max = T[j, top].astype(np.float64)
    xn = Xaug[cols, d].astype(np.float64)
    # z_k in float64 (bias included), with its rounding bound.
    W64, b = slow.W64, slow.b
    zk = np.einsum("ij,ij->i", W64[kc], X[cols]) + b[kc]
    err_k = 2.0 * (d + 2.0) * U64 * (slow.norms[kc] * xn + np.abs(b[kc]))
    positive = np.isfinite(t_max) & (zk - err_k > t_max + slack_b)
    # Rows that can attain max_j z_j: every other row's score is certainly lower. Mostly the
    # top row alone; the columns with more are listed one by one.
    thr = (t_max - 2.0 * A_max * xn - 2.0 * slack_b).astype(np.float32)
    count = np.count_nonzero(T >= thr[:, None], axis=1)
    for q in np.flatnonzero(positive):
        c = cols[q]
        cand = top[q : q + 1] if count[q] == 1 else np.flatnonzero(T[q] >= thr[q])
        fast[c] = slow.margin_ok(int(kc[q]), X[c], cand, float(rep[c]), bool(screen[c]))
    return fast


class _Float64Test:
    """The float64 test of one witness, with a rounding allowance per score."""

    def __init__(self, W64: np.ndarray, b: np.ndarray, norms: np.ndarray, d: int):
        self.W64, self.b, self.norms, self.d = W64, b, norms, d
        self._abs = None
        self._cs_max = (norms.max(initial=0.0), np.abs(b).max(initial=0.0))

    def _allow(self, s: np.ndarray, k: int, s_k: float, rows=slice(None)) -> np.ndarray:
        b = self.b
        return 2.0 * (self.d + 2.0) * U64 * (s + s_k + np.abs(b[rows]) + abs(b[k]))

    def ok(self, k: int, x: np.ndarray, rep: float, lower_bound: bool) -> bool:
        """All of W: ``z_k - z_j`` beyond the allowance, and the margin as reported."""
        W64, b = self.W64, self.b
        z = W64 @ x + b
        if lower_bound:  # screen witness: Cauchy-Schwarz sums
            s = self.norms * np.linalg.norm(x)
        else:
            if self._abs is None:
                self._abs = np.abs(W64)
            s = self._abs @ np.abs(x)
        m = z[k] - z
        allow = self._allow(s, k, s[k])
        ok = m - allow > 0
        ok[k] = True
        if not ok.all():
            return False
        m[k] = np.inf
        got = m.min()
        if lower_bound:
            return bool(got >= rep * (1 - 1e-9) - allow.max())
        return bool(abs(got - rep) <= 1e-9 * abs(rep) + allow.max())

    def margin_ok(self, k, x, rows, rep, lower_bound) -> bool:
        """A witness already known positive: its float64 margin, computed on the `rows` that can
        attain the minimum, is the reported one (at least it, for a screen witness)."""
        W64, b = self.W64, self.b
        zk = float(W64[k] @ x + b[k])
        got = float(np.min(zk - (W64[rows] @ x + b[rows]), initial=np.inf))
        if lower_bound:  # Cauchy-Schwarz sums over all rows, as in ok()
            xn = float(np.linalg.norm(x))
            norm_max, b_max = self._cs_max
            s_max = (norm_max + self.norms[k]) * xn
            allow = 2.0 * (self.d + 2.0) * U64 * (s_max + b_max + abs(b[k]))
            return bool(got >= rep * (1 - 1e-9) - allow)
        s = np.abs(W64[rows]) @ np.abs(x)
        s_k = float(np.abs(W64[k]) @ np.abs(x))
        allow = self._allow(s, k, s_k, rows).max(initial=0.0)
        return bool(abs(got - rep) <= 1e-9 * abs(rep) + allow)
