"""The Gram pass of :meth:`UnargmaxReport.verify`: witnesses that come from one map of the rows,
``x_k = alpha_k B y_k`` with ``y_j = B^T (w_j - mu)``, checked on half a GEMM.

The screen's witnesses ``alpha_k w_k`` have ``B = I, mu = 0``; the whitened ones ``B = R`` and
the row mean (the report keeps both as a hint). With ``Y = fl32(B^T (W - mu))`` computed here
and each witness written ``x_k = alpha_k B Y_k + r_k`` (``alpha_k`` fitted, ``r_k`` its
residual), exactly::

    z_j(x_k) / alpha_k = Y_j . Y_k + m_k + b_j / alpha_k + e_j . Y_k + w_j . r_k / alpha_k

(``m_k = (B^T mu) . Y_k``, ``e_j = B^T (w_j - mu) - Y_j``). The scores ``Y_j . Y_k`` are
symmetric, so ``_core.witness_gram_top_scores`` computes each pair once; rank-one row and
column terms add ``m_k``, the bias and an allowance ``A_jk`` that covers every rounding (of Y,
m, the bias, alpha's inverse, and any float32 summation order of the ``p + 6`` products) and
the residual ``||w_j|| ||r_k|| / alpha_k``, so each float32 score is an upper bound of
``z_j(x_k) / alpha_k`` and at most ``2 A_jk`` above it. Nothing in the hint is trusted: a wrong
basis only gives large residuals, and such witnesses (and any this pass cannot decide) go to
the general pass.
"""

from __future__ import annotations

from typing import Optional

import numpy as np
from scipy.linalg import blas

from .. import _core

U64 = np.finfo(np.float64).eps / 2
U32 = float(np.finfo(np.float32).eps) / 2
#: Rank terms per score (``m_k``, bias, and four allowances).
TERMS = 6
#: Residuals above this fraction of ``alpha_k ||B Y_k||`` mean the witness is not of the family.
FIT = 1e-6


def _up32(x: np.ndarray) -> np.ndarray:
    """Non-negative float64 values rounded up to float32."""
    y = x.astype(np.float32)
    low = y.astype(np.float64) < x
    y[low] = np.nextafter(y[low], np.float32(np.inf))
    return y


def _times(A: np.ndarray, B: np.ndarray, upper: bool, trans: bool = False) -> np.ndarray:
    """``A @ B`` (``A @ B.T`` with `trans`) in float64, A a temporary (overwritten); half the
    flops when B is upper triangular (the whitening's ``L^-T``). Either way each entry is a sum
    of at most d products."""
    if not upper:
        return A @ (B.T if trans else B)
    # On the transposes (A^T is Fortran-ordered, no copy): B^T A^T = (A B)^T, B A^T = (A B^T)^T.
    At = np.asfortranarray(A.T)
    return blas.dtrmm(1.0, B, At, side=0, lower=0, trans_a=int(not trans), overwrite_b=1).T


def _norms(A: np.ndarray) -> np.ndarray:
    return np.sqrt(np.einsum("ij,ij->i", A, A))


def row_norms(W: np.ndarray) -> np.ndarray:
    """Euclidean norms of the rows in float64, a few thousand rows at a time (no float64 copy
    of W)."""
    out = np.empty(W.shape[0])
    for s in range(0, W.shape[0], 8192):
        out[s : s + 8192] = _norms(W[s : s + 8192].astype(np.float64))
    return out


class GramPass:
    """The factor ``Y`` of all rows of W (``B``: None for the identity; ``mu``: None for 0)."""

    def __init__(self, W, b, norms, B: Optional[np.ndarray], mu: Optional[np.ndarray]):
        V, d = W.shape
        self.W, self.b, self.norms, self.B = W, b, norms, B
        g64 = (d + 2) * U64 / (1 - (d + 2) * U64)
        self.upper = B is not None and not np.tril(B, -1).any()
        self.mu_norm, self.g64 = 0.0, g64
        if B is None and W.dtype == np.float32:  # Y = W exactly: no error, the same norms
            self.Y, self.eps, self.ynorm = np.ascontiguousarray(W), np.zeros(V), norms
            self.m, self.b_fro = None, 0.0
            return
        self.Y = np.empty((V, d), dtype=np.float32)
        self.eps = np.empty(V)
        if B is None:  # Y = fl32(W): e_j is the rounding of W to float32 (exact in float64)
            self.m, self.b_fro = None, 0.0
        else:
            mu = np.zeros(d) if mu is None else mu
            self.m = mu @ B  # m = B^T mu, within g64 ||B||_F ||mu||
            self.b_fro = float(np.sqrt(np.sum(B * B))) * (1 + 4 * d * U64)
            self.mu_norm = float(np.linalg.norm(mu))
        for s in range(0, V, 8192):
            rows = W[s : s + 8192].astype(np.float64)
            Yf = rows if B is None else _times(rows - mu, B, self.upper)
            Y32 = Yf.astype(np.float32)
            self.Y[s : s + 8192] = Y32
            # ||Y_j - fl(C B)|| plus the centring's and the GEMM's rounding.
            err = _norms(Y32 - Yf) + g64 * self.b_fro * (norms[s : s + 8192] + self.mu_norm)
            self.eps[s : s + 8192] = 1.01 * err
        self.ynorm = row_norms(self.Y)

    def columns(self, ks: np.ndarray, X: np.ndarray, alpha: Optional[np.ndarray]):
        """Per witness (rows of X, classes ks): ``alpha_k`` (fitted when None) and ``rho_k``
        bounding the exact residual ``||x_k - alpha_k B Y_k||``."""
        H = self.Y[ks].astype(np.float64)
        if self.B is not None:
            H = _times(H, self.B, self.upper, trans=True)  # h_k = B Y_k, within g64 ||B||_F ||Y_k||
        hh = np.einsum("ij,ij->i", H, H)
        if alpha is None:
            with np.errstate(divide="ignore", invalid="ignore"):
                alpha = np.einsum("ij,ij->i", X, H) / hh
        R = X - alpha[:, None] * H
        rn = _norms(R)
        a = np.abs(alpha)
        hn = np.sqrt(hh)
        rho = 1.01 * (rn + a * self.g64 * self.b_fro * self.ynorm[ks] + U64 * (a * hn + rn))
        fits = np.isfinite(rho) & (alpha > 0) & np.isfinite(alpha) & (rho <= FIT * a * hn)
        return alpha, rho, fits

    def top_scores(self, ks, alpha, rho):
        """``_core.witness_gram_top_scores`` for the witnesses of classes `ks` (their `alpha`,
        `rho`): per witness the float32 ``(top, arg, second)`` in units of ``z / alpha_k``, and
        ``Abar_k >= max_j A_jk``."""
        V, p = self.Y.shape
        gam = (p + TERMS) * U32 / (1 - (p + TERMS) * U32)
        F = 1.01 / (1 - gam)
        b32 = self.b.astype(np.float32)
        sigma = (1.0 / alpha).astype(np.float32)
        yk = self.ynorm[ks]
        if self.m is None:
            Mk, m_err = np.zeros(len(ks)), np.zeros(len(ks))
        else:
            mk = self.Y[ks].astype(np.float64) @ self.m
            m_norm = float(np.linalg.norm(self.m))
            m_err = 1.01 * self.g64 * (self.b_fro * self.mu_norm + m_norm) * yk
            Mk = mk.astype(np.float32).astype(np.float64)
            m_err += np.abs(Mk - mk) * 1.01
        P = np.empty((V, TERMS), dtype=np.float32)
        P[:, 0] = 1.0
        P[:, 1] = b32
        P[:, 2] = _up32(F * (gam * self.ynorm + self.eps))
        P[:, 3] = _up32(F * self.norms)
        # |b_j / alpha_k - b32_j sigma_k| <= (|b_j - b32_j| + u32 |b32_j|) |sigma_k| (1 + 3 u32),
        # also when b_j underflows in float32; plus the summation's gamma |b32_j sigma_k|.
        b_err = np.abs(self.b - b32.astype(np.float64))
        P[:, 4] = _up32(F * ((gam + 1.01 * U32) * np.abs(b32.astype(np.float64)) + 1.01 * b_err))
        P[:, 5] = 1.0
        under = (p + TERMS + 2) * 2.0**-148
        Q = np.zeros((V, TERMS), dtype=np.float32)
        q = np.empty((len(ks), TERMS), dtype=np.float32)
        q[:, 0] = Mk
        q[:, 1] = sigma
        q[:, 2] = _up32(yk)
        q[:, 3] = _up32(rho / alpha)
        q[:, 4] = _up32(1.0001 * np.abs(sigma.astype(np.float64)))
        q[:, 5] = _up32(F * (gam * np.abs(Mk) + m_err) + under)
        Q[ks] = q
        wanted = np.zeros(V, dtype=bool)
        wanted[ks] = True
        top, arg, second = _core.witness_gram_top_scores(self.Y, P, Q, wanted)
        pmax = P[:, 2:5].astype(np.float64).max(axis=0)
        abar = 1.01 * (q[:, 2:5].astype(np.float64) @ pmax + q[:, 5])
        return top[ks], arg[ks], second[ks], abar
