"""The witness half of :meth:`UnargmaxReport.verify`: the Gram pass for a family of witnesses
that covers half the rows or more (:mod:`._verify_gram`, half a GEMM), a certified float32 GEMM
pass over blocks of the other witnesses, and the float64 test for the few neither can decide.

For a witness x of class k, every ``z_k - z_j`` must be positive in exact arithmetic. The fast
pass computes ``Z = W32 @ X32`` (one float32 GEMM per block of witnesses) and bounds its error
rigorously (the GEMM and the scan of its scores run in Rust, ``_core.witness_top_scores``):
rounding x (and W, when it is float64) to float32 costs at most ``u32 ||w_j|| ||x||``
each, and any summation order of a float32 dot product at most ``gamma_(d+2) ||w_j|| ||x||`` (by
Cauchy-Schwarz), so ``z_k - z_j`` lies within ``E_jk`` of the float64 margin computed from Z. A
witness whose lower bounds ``m - E`` are all positive (and, for a screen witness, not below the
reported margin) is accepted; any other is decided by the float64 test with its own rounding
allowance, exactly as before. Both accept only witnesses whose exact margins are positive.
"""

from __future__ import annotations

from typing import Iterator, Optional

import numpy as np

from .. import _core
from ._verify_gram import GramPass, row_norms

U64 = np.finfo(np.float64).eps / 2
U32 = float(np.finfo(np.float32).eps) / 2
#: Largest error of one float32 product that underflows (half the smallest subnormal, 2**-150).
_UNDERFLOW32 = 2.0**-150

#: Witnesses per call of the float32 pass (their float64 and float32 copies: 9 MB at d = 384).
BLOCK = 2048


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
    basis: Optional[tuple] = None,
) -> Iterator[int]:
    """Positions (of `positions`) whose witness fails for the rescaled (W, b).

    A position with an entry in `vectors` has that explicit witness; any other is the screen
    witness ``alpha[i] * W[classes[i]]``. Where `lower` (per position of all classes) is set,
    the reported margin is a lower bound (screen witnesses), else the witness's margin.
    `basis` ``(B, mu)`` is the map of the explicit witnesses, if they share one (a hint).
    """
    V, d = W.shape
    norms = row_norms(W)
    slow = _Float64Test(W, b, norms, d)
    wit = _Witnesses(W, classes, vectors, alpha, bounds)
    # Families covering at least half the rows take the Gram pass (half a GEMM of all rows).
    given = np.array([i in vectors for i in positions], dtype=bool)
    done = np.zeros(len(positions), dtype=bool)
    families = [(~given, None, None)] + ([] if basis is None else [(given, *basis)])
    for family, B, mu in families:
        sel = np.flatnonzero(family)
        if sel.size and 2 * sel.size >= V:
            # Overflow or NaN (a wild hint) only makes witnesses fail the pass's own tests.
            with np.errstate(all="ignore"):
                gram = GramPass(W, b, norms, B, mu)
                scaled = B is None  # the screen's alpha * w_k: alpha as reported
                sub = positions[sel]
                done[sel] = _gram_certified(gram, wit, sub, margin, lower, slow, scaled)
    positions = positions[~done]
    # The float32 pass gives T_jc >= z_j(x_c) - slack_b for every j: besides w_j . x_c it adds
    # A_j ||x_c|| (A_j bounds the rounding of x and W to float32 and of the float32 sums of the
    # d + 2 terms in any order, with a factor 2 to spare) and b_j.
    gamma = (d + 2) * U32 / (1 - (d + 2) * U32)
    A = 2.0 * (gamma + 2.0 * U32) * norms + 2.0 * (d + 2) * _UNDERFLOW32
    fast32 = _Float32Pass(W, A, b, gamma)
    for lo in range(0, len(positions), BLOCK):
        pos = positions[lo : lo + BLOCK]
        ks, X, inside = wit.block(pos)
        screen = lower[pos]
        fast = fast32.certified(X, ks, inside, margin[pos], screen, slow)
        for c, i in enumerate(pos):
            if fast[c]:
                continue
            if not inside[c] or not slow.ok(int(ks[c]), X[c], margin[i], screen[c]):
                yield i


class _Witnesses:
    """The witnesses of positions, a block at a time, in float64."""

    def __init__(self, W, classes, vectors, alpha, bounds):
        self.W, self.classes, self.vectors, self.alpha = W, classes, vectors, alpha
        self.bounds = bounds

    def block(self, pos):
        """Classes, witnesses (rows, float64) and whether each is finite and in the box."""
        ks = self.classes[pos]
        X = np.empty((len(pos), self.W.shape[1]))
        given = np.array([i in self.vectors for i in pos], dtype=bool)
        if given.any():
            X[given] = np.stack([self.vectors[i] for i in pos[given]])
        if not given.all():
            X[~given] = self.alpha[pos[~given], None] * self.W[ks[~given]].astype(np.float64)
        finite = np.isfinite(X).all(axis=1)
        inside = finite if self.bounds is None else finite & (np.abs(X).max(axis=1) <= self.bounds)
        return ks, X, inside


def _gram_certified(gram, wit, pos, margin, lower, slow, scaled) -> np.ndarray:
    """Which witnesses of `pos` (one family) the Gram pass certifies: ``max_j z_j(x_k)`` (from
    the float32 top score times alpha_k) below the float64 ``z_k`` beyond both roundings, and
    the margin as reported: a reported lower bound below that certified difference, or else the
    margin on the top row, when that row is the only one that can attain the maximum."""
    n = len(pos)
    ks = wit.classes[pos]
    alpha, rho = np.zeros(n), np.zeros(n)
    member = np.zeros(n, dtype=bool)
    zk, err_k = np.zeros(n), np.zeros(n)
    for lo in range(0, n, BLOCK):
        sl = slice(lo, lo + BLOCK)
        k, X, inside = wit.block(pos[sl])
        a = wit.alpha[pos[sl]] if scaled else None
        alpha[sl], rho[sl], fits = gram.columns(k, X, a)
        member[sl] = fits & inside
        zk[sl], err_k[sl] = slow.own(k, X, np.linalg.norm(X, axis=1))
    ok = np.zeros(n, dtype=bool)
    m = np.flatnonzero(member)
    if m.size == 0:
        return ok
    top, arg, second, abar = gram.top_scores(ks[m], alpha[m], rho[m])
    tau, a = top.astype(np.float64), alpha[m]
    t_max = a * tau + 2.0 * U64 * np.abs(a * tau)
    with np.errstate(invalid="ignore"):
        low = zk[m] - err_k[m] - t_max  # <= the exact margin
        positive = np.isfinite(tau) & (low > 0)
        # A reported lower bound below `low` holds whichever row attains the maximum.
        bound_ok = positive & lower[pos[m]] & (low >= margin[pos[m]] * (1 - 1e-9))
        ok[m[bound_ok]] = True
        thr = tau - 2.02 * abar - 4.0 * U64 * np.abs(tau)
        single = positive & ~bound_ok & (second.astype(np.float64) < thr)
    q = m[single]
    for lo in range(0, q.size, BLOCK):
        c = q[lo : lo + BLOCK]
        k, X, _ = wit.block(pos[c])
        tops = arg[single][lo : lo + BLOCK]
        ok[c] = slow.margins_ok(k, X, tops, zk[c], margin[pos[c]], lower[pos[c]])
    return ok


class _Float32Pass:
    """The certified float32 pass over blocks of witnesses."""

    def __init__(self, W, A, b, gamma):
        self.W32 = np.ascontiguousarray(W, dtype=np.float32)
        self.A32, self.b32 = A.astype(np.float32), b.astype(np.float32)
        self.A_max = A.max(initial=0.0)
        self.slack_b = 2.0 * (gamma + U32) * float(np.abs(b).max(initial=0.0))

    def certified(self, X, ks, usable, rep, screen, slow) -> np.ndarray:
        """Witnesses (rows of `X`, of classes `ks`) certified; the others go to the float64 test."""
        fast = np.zeros(len(X), dtype=bool)
        with np.errstate(over="ignore", invalid="ignore"):
            X32 = X.astype(np.float32)
            xn32 = np.linalg.norm(X, axis=1).astype(np.float32)
        usable = usable & np.isfinite(X32).all(axis=1) & np.isfinite(xn32)
        cols = np.flatnonzero(usable)
        if cols.size == 0:
            return fast
        kc = ks[cols].astype(np.int64)
        Xc, X32c, xn32c = X[cols], np.ascontiguousarray(X32[cols]), xn32[cols]
        # Per witness the largest score over the other rows, its row, and the second largest:
        # one blocked float32 GEMM in Rust, the scores scanned while in cache.
        t32, top, second = _core.witness_top_scores(self.W32, self.A32, self.b32, X32c, xn32c, kc)
        t_max, xn = t32.astype(np.float64), xn32c.astype(np.float64)
        zk, err_k = slow.own(kc, Xc, xn)
        positive = np.isfinite(t_max) & (zk - err_k > t_max + self.slack_b)
        # Rows that can attain max_j z_j: every other row's score is certainly lower. Mostly the
        # top row alone (checked for all such witnesses at once); the others one by one.
        thr = (t_max - 2.0 * self.A_max * xn - 2.0 * self.slack_b).astype(np.float32)
        with np.errstate(invalid="ignore"):
            single = positive & (second < thr)
        q = np.flatnonzero(single)
        fast[cols[q]] = slow.margins_ok(kc[q], Xc[q], top[q], zk[q], rep[cols[q]], screen[cols[q]])
        many = np.flatnonzero(positive & ~single)
        for q, cand in zip(many, self._near_top(X32c[many], xn32c[many], kc[many], thr[many])):
            c = cols[q]
            cand = np.union1d(cand, [top[q]])
            fast[c] = slow.margin_ok(int(kc[q]), X[c], cand, float(rep[c]), bool(screen[c]))
        return fast

    def _near_top(self, X32, xn32, ks, thr):
        """Per witness, the rows whose float32 score reaches `thr` (any summation order obeys
        the same bound), a few hundred witnesses per GEMM."""
        for lo in range(0, len(ks), 256):
            with np.errstate(over="ignore", invalid="ignore"):
                T = X32[lo : lo + 256] @ self.W32.T
                T += xn32[lo : lo + 256, None] * self.A32
                T += self.b32
            for j, t in enumerate(T):
                t[ks[lo + j]] = -np.inf
                yield np.flatnonzero(t >= thr[lo + j])


class _Float64Test:
    """The float64 test of one witness, with a rounding allowance per score."""

    def __init__(self, W: np.ndarray, b: np.ndarray, norms: np.ndarray, d: int):
        self.W, self.b, self.norms, self.d = W, b, norms, d
        self._cs_max = (norms.max(initial=0.0), np.abs(b).max(initial=0.0))

    def rows(self, idx) -> np.ndarray:
        """Rows `idx` of W in float64."""
        return self.W[idx].astype(np.float64)

    def own(self, ks, X, xn):
        """Each witness's own score ``z_k`` in float64 (bias included) and its rounding bound
        (`xn`: the witnesses' norms)."""
        b = self.b[ks]
        zk = np.einsum("ij,ij->i", self.rows(ks), X) + b
        return zk, 2.0 * (self.d + 2.0) * U64 * (self.norms[ks] * xn + np.abs(b))

    def _allow(self, s: np.ndarray, k, s_k, b_rows) -> np.ndarray:
        return 2.0 * (self.d + 2.0) * U64 * (s + s_k + np.abs(b_rows) + np.abs(self.b[k]))

    def ok(self, k: int, x: np.ndarray, rep: float, lower_bound: bool) -> bool:
        """All of W: ``z_k - z_j`` beyond the allowance, and the margin as reported."""
        b, V = self.b, self.W.shape[0]
        z, s = np.empty(V), np.empty(V)
        for lo in range(0, V, 8192):  # float64 rows a block at a time (no copy of W)
            B = self.W[lo : lo + 8192].astype(np.float64)
            z[lo : lo + 8192] = B @ x
            if not lower_bound:
                s[lo : lo + 8192] = np.abs(B) @ np.abs(x)
        z += b
        if lower_bound:  # screen witness: Cauchy-Schwarz sums
            s = self.norms * np.linalg.norm(x)
        m = z[k] - z
        allow = self._allow(s, k, s[k], b)
        ok = m - allow > 0
        ok[k] = True
        if not ok.all():
            return False
        m[k] = np.inf
        got = m.min()
        if lower_bound:
            return bool(got >= rep * (1 - 1e-9) - allow.max())
        return bool(abs(got - rep) <= 1e-9 * abs(rep) + allow.max())

    def margins_ok(self, ks, X, tops, zk, rep, lower_bound) -> np.ndarray:
        """:meth:`margin_ok` of many positive witnesses whose minimum only row `tops` can attain
        (`zk`: their float64 ``z_k``)."""
        b = self.b
        Wt = self.rows(tops)
        got = zk - (np.einsum("ij,ij->i", Wt, X) + b[tops])
        xn = np.linalg.norm(X, axis=1)
        norm_max, b_max = self._cs_max
        cs = 2.0 * (self.d + 2.0) * U64 * ((norm_max + self.norms[ks]) * xn + b_max + np.abs(b[ks]))
        ax = np.abs(X)
        s = np.einsum("ij,ij->i", np.abs(Wt), ax)
        s_k = np.einsum("ij,ij->i", np.abs(self.rows(ks)), ax)
        allow = self._allow(s, ks, s_k, b[tops])
        return np.where(
            lower_bound,
            got >= rep * (1 - 1e-9) - cs,
            np.abs(got - rep) <= 1e-9 * np.abs(rep) + allow,
        )

    def margin_ok(self, k, x, rows, rep, lower_bound) -> bool:
        """A witness already known positive: its float64 margin, computed on the `rows` that can
        attain the minimum, is the reported one (at least it, for a screen witness)."""
        b = self.b
        zk = float(self.rows(k) @ x + b[k])
        Wr = self.rows(rows)
        got = float(np.min(zk - (Wr @ x + b[rows]), initial=np.inf))
        if lower_bound:  # Cauchy-Schwarz sums over all rows, as in ok()
            xn = float(np.linalg.norm(x))
            norm_max, b_max = self._cs_max
            s_max = (norm_max + self.norms[k]) * xn
            allow = 2.0 * (self.d + 2.0) * U64 * (s_max + b_max + abs(b[k]))
            return bool(got >= rep * (1 - 1e-9) - allow)
        s = np.abs(Wr) @ np.abs(x)
        s_k = float(np.abs(self.rows(k)) @ np.abs(x))
        allow = self._allow(s, k, s_k, b[rows]).max(initial=0.0)
        return bool(abs(got - rep) <= 1e-9 * abs(rep) + allow)
