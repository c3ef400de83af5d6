"""Multi-label softmax cross-entropy (ZLPR) and its n-by-m form.

Su Jianlin's multi-label generalisation of softmax cross-entropy (kexue.fm 7359; Su et al.,
"ZLPR: A Novel Loss for Multi-label Classification", arXiv 2208.02955). With scores s, positives
P and negatives N, and a threshold class fixed at logit 0,

    L = log(1 + sum_{i in N} e^{s_i}) + log(1 + sum_{j in P} e^{-s_j}),

so a class is predicted positive when s > 0. It is the pairwise loss
``log(1 + sum_{i in N, j in P} e^{s_i - s_j})`` with a threshold class added; with one positive
and no threshold that pairwise loss is exactly softmax cross-entropy.

All functions take arrays of any library supported by ``array_api_compat`` (numpy, torch, jax,
cupy, ...) and use only array-API functions in the forward pass, so torch/jax autograd works
through them. ``return_grad=True`` adds the closed-form gradient for numpy users.
"""

from __future__ import annotations

from . import _common as C

__all__ = [
    "multilabel_softmax_ce",
    "sparse_multilabel_softmax_ce",
    "multiway_softmax_ce",
    "multilabel_softmax_proba",
]


def _zlpr(xp, s, t, keep):
    """Per-row loss and per-entry gradient of the soft ZLPR; `keep` is None or boolean."""
    zero, one = xp.zeros_like(t), xp.ones_like(t)
    has_pos = t > 0
    has_neg = t < 1
    if keep is not None:
        has_pos = has_pos & keep
        has_neg = has_neg & keep
    neg_inf = xp.full_like(s, -float("inf"))
    # log t and log(1 - t) on safe arguments only, so no inf meets autograd.
    log_t = xp.log(xp.where(has_pos, t, one))
    log_1mt = xp.log1p(-xp.where(has_neg, t, zero))
    pos = xp.where(has_pos, log_t - s, neg_inf)  # log(t_i e^{-s_i})
    neg = xp.where(has_neg, log_1mt + s, neg_inf)  # log((1 - t_i) e^{s_i})
    l_pos = C.lse0(xp, pos)
    l_neg = C.lse0(xp, neg)
    return l_pos + l_neg, pos, neg, l_pos, l_neg


def _zlpr_grad(xp, pos, neg, l_pos, l_neg):
    return -xp.exp(pos - l_pos[..., None]) + xp.exp(neg - l_neg[..., None])


def multilabel_softmax_ce(logits, targets, mask=None, *, reduction="mean", return_grad=False):
    """Multi-label softmax cross-entropy (ZLPR) with hard or soft targets.

    For one row with scores s and targets t in [0, 1] (kexue.fm 9064, the soft-label form)::

        L = log(1 + sum_i t_i e^{-s_i}) + log(1 + sum_i (1 - t_i) e^{s_i})

    With 0/1 targets this is the hard-label ZLPR
    ``log(1 + sum_{neg} e^{s_i}) + log(1 + sum_{pos} e^{-s_j})``; the soft form is summed
    sigmoid-BCE written in product form with its cross terms dropped. Both log-sums are computed
    as log-sum-exp with the implicit 0 logit (shift ``max(0, max(...))``), so logits of 1e4 stay
    finite in float32; zero weights and masked entries are excluded with ``where`` (no 1e12
    constants, no boolean indexing).

    Parameters
    ----------
    logits : array, shape (..., C)
        Scores s; the threshold is 0 (predict positive when s > 0). For a threshold s0 pass
        ``logits - s0``.
    targets : array, shape (..., C)
        Multi-hot 0/1 labels (bool or numbers) or soft labels in [0, 1].
    mask : array, optional
        Boolean (or 0/1) array broadcastable to ``logits.shape``; False removes that entry from
        both sums, exactly as if the column were deleted. A row with everything masked has loss 0.
    reduction : {"mean", "sum", "none"}
        Over the leading axes ``logits.shape[:-1]``.
    return_grad : bool
        Also return the closed-form gradient of the returned (reduced) value with respect to
        `logits`: ``dL/ds_i = -t_i e^{-s_i} / (1 + sum t e^{-s}) + (1 - t_i) e^{s_i} /
        (1 + sum (1 - t) e^{s})``. For ``reduction="none"`` row r of the gradient is the
        gradient of ``loss[r]`` (rows are independent).

    Returns
    -------
    loss : array
        Shape ``logits.shape[:-1]`` for ``"none"``, else 0-d; float dtype of `logits` (float32
        stays float32; integer logits give float64).
    grad : array, shape (..., C)
        Only with ``return_grad=True``.

    Raises
    ------
    ValueError
        Shape mismatch, NaN/inf in logits or targets, targets outside [0, 1], a non-0/1 mask.
    TypeError
        Non-numeric input.

    Notes
    -----
    - Known relations: with exactly one positive y and all other classes negative,
      ``L = log(1 + sum_{i != y} e^{s_i}) + log(1 + e^{-s_y})``; its pairwise version
      ``log(1 + sum_{i != y} e^{s_i - s_y})`` is softmax cross-entropy. For hard labels ZLPR is
      at most the summed binary cross-entropy, with equality for one positive and one negative.
    - The minimiser of the soft loss is ``t = sigmoid(2 s)``, i.e. ``s = logit(t) / 2``; see
      :func:`multilabel_softmax_proba`.

    Examples
    --------
    >>> import numpy as np
    >>> from latentgeo.losses import multilabel_softmax_ce
    >>> s = np.array([[2.0, -1.0, 0.5]])
    >>> y = np.array([[1, 0, 1]])
    >>> round(float(multilabel_softmax_ce(s, y)), 6)
    0.868219
    """
    reduction = C.check_reduction(reduction)
    xp, s, out_dtype = C.as_logits(logits)
    t = C.as_targets(xp, s, targets)
    keep = C.as_mask(xp, s, mask, s.shape)
    with C.errstate():
        loss, pos, neg, l_pos, l_neg = _zlpr(xp, s, t, keep)
        grad = _zlpr_grad(xp, pos, neg, l_pos, l_neg) if return_grad else None
    return C.output(xp, loss, grad, out_dtype, reduction, return_grad)


def sparse_multilabel_softmax_ce(
    logits, positives, mask=None, *, reduction="mean", return_grad=False
):
    """Multi-label softmax cross-entropy with the positives given as class indices.

    The same loss as :func:`multilabel_softmax_ce` with multi-hot targets built from the index
    lists, so the result equals the dense form exactly. bert4keras' sparse version instead
    computes the negative term as ``a + log(1 - e^{b - a})``, which cancels catastrophically when
    the positives dominate; this one does not.

    Parameters
    ----------
    logits : array, shape (..., C)
    positives : integer array, shape (..., P)
        Positive class indices of each row, padded with -1 (ignored). Repeated indices count
        once. P may be 0 (no positives).
    mask, reduction, return_grad
        As in :func:`multilabel_softmax_ce`; the gradient is dense, shape (..., C).

    Returns
    -------
    loss : array, or (loss, grad) with ``return_grad=True``.

    Raises
    ------
    ValueError
        Leading shapes differ, an index outside [-1, C), NaN/inf logits.

    Notes
    -----
    The multi-hot matrix is built with one (..., C) comparison per column of `positives`:
    O(P * size(logits)) time, O(size(logits)) memory.
    """
    reduction = C.check_reduction(reduction)
    xp, s, out_dtype = C.as_logits(logits)
    n_classes = s.shape[-1]
    pos = C._same_namespace(xp, s, positives, "positives")
    if not xp.isdtype(pos.dtype, "integral"):
        raise TypeError(f"positives must be integer class indices, got dtype {pos.dtype}")
    if pos.ndim != s.ndim or tuple(pos.shape[:-1]) != tuple(s.shape[:-1]):
        raise ValueError(
            f"positives must have shape {tuple(s.shape[:-1])} + (P,), one padded "
            f"index list per row of logits, got {tuple(pos.shape)}"
        )
    bad = (pos < -1) | (pos >= n_classes)
    if C._concrete(xp.any(bad)):
        raise ValueError(
            f"positives must lie in [0, {n_classes - 1}] or be -1 (padding); some "
            f"are out of range{C._first_index(xp, bad)}"
        )
    classes = xp.arange(n_classes, device=C.aac.device(s))
    hot = xp.zeros(s.shape, dtype=xp.bool, device=C.aac.device(s))
    for p in range(pos.shape[-1]):
        hot = hot | (pos[..., p : p + 1] == classes)
    t = xp.astype(hot, s.dtype)
    keep = C.as_mask(xp, s, mask, s.shape)
    with C.errstate():
        loss, lpos, lneg, l_pos, l_neg = _zlpr(xp, s, t, keep)
        grad = _zlpr_grad(xp, lpos, lneg, l_pos, l_neg) if return_grad else None
    return C.output(xp, loss, grad, out_dtype, reduction, return_grad)


def multilabel_softmax_proba(logits):
    """Probabilities implied by ZLPR scores: ``sigmoid(2 s)``.

    The soft-label loss of :func:`multilabel_softmax_ce` is minimised at ``t = sigmoid(2 s)``, so
    this inverts the link; it exceeds 1/2 exactly where the hard-label rule predicts positive
    (s > 0). Computed as ``1 / (1 + e^{-2|s|})`` or its complement, without overflow.

    Parameters
    ----------
    logits : array, shape (..., C)

    Returns
    -------
    array of the logits' shape and float dtype.
    """
    xp, s, out_dtype = C.as_logits(logits)
    e = xp.exp(-2.0 * xp.abs(s))
    p = xp.where(s >= 0, 1.0 / (1.0 + e), e / (1.0 + e))
    return C.finish(xp, p, out_dtype)


def multiway_softmax_ce(logits, labels, mask=None, *, reduction="mean", return_grad=False):
    """Loss for n independent m-way classifications (kexue.fm 9158, "attempt 1").

    For one example with item scores ``s[i, k]`` (n items, m classes) and targets ``t[i, j]``::

        L = sum_j log(1 + sum_i sum_{k != j} t_ij e^{s_ik - s_ij})

    i.e. for every class j, a multi-label softmax cross-entropy over the items labelled j. With
    n = 1 and a hard label it is softmax cross-entropy; with m = 2 it is the soft ZLPR of
    :func:`multilabel_softmax_ce` on the differences ``s[:, 0] - s[:, 1]`` with targets
    ``t[:, 0]``. The log of a sum per class weighs classes, not items, equally.

    Parameters
    ----------
    logits : array, shape (..., n, m)
        m >= 2.
    labels : array
        Integer labels of shape (..., n), each in [0, m) (hard labels, the intended use), or
        targets in [0, 1] of shape (..., n, m). Soft targets are accepted, but the soft-label
        minimiser of this loss has no closed form and is not ``softmax(s)`` (the post calls the
        soft case unsolved).
    mask : array, optional
        Boolean (or 0/1) array broadcastable to (..., n); False drops that item.
    reduction : {"mean", "sum", "none"}
        Over the leading axes ``logits.shape[:-2]``.
    return_grad : bool
        Also return the closed-form gradient with respect to `logits` (shape (..., n, m)).

    Returns
    -------
    loss : array, or (loss, grad) with ``return_grad=True``.

    Raises
    ------
    ValueError
        Shape mismatch, labels outside [0, m), targets outside [0, 1], NaN/inf logits.
    TypeError
        Non-integer labels of shape (..., n).

    Notes
    -----
    ``log sum_{k != j} e^{s_ik}`` is computed for all j in O(m) by a leave-one-out
    log-sum-exp that never subtracts a dominant term, so it stays accurate when ``s_ij`` is the
    largest score (the well-trained case); every log-sum over items uses the implicit 0 logit.
    """
    reduction = C.check_reduction(reduction)
    xp, s, out_dtype = C.as_logits(logits, min_ndim=2, min_classes=2)
    n_classes = s.shape[-1]
    lab = C._same_namespace(xp, s, labels, "labels")
    if xp.isdtype(lab.dtype, "integral"):
        lab = C.as_labels(xp, s, lab, n_classes, shape=s.shape[:-1])
        t = xp.astype(C.one_hot(xp, lab, n_classes, s), s.dtype)
    else:
        if tuple(lab.shape) == tuple(s.shape[:-1]):
            raise TypeError(
                f"labels of shape {tuple(lab.shape)} must be integer class indices "
                f"(got dtype {lab.dtype}); soft targets have shape "
                f"{tuple(s.shape)}"
            )
        t = C.as_targets(xp, s, lab, name="labels")
    keep = C.as_mask(xp, s, mask, s.shape[:-1])
    with C.errstate():
        r = C.loo_logsumexp(xp, s)  # log sum_{k != j} e^{s_ik}
        has = t > 0
        if keep is not None:
            has = has & keep[..., None]
        log_t = xp.log(xp.where(has, t, xp.ones_like(t)))
        v = xp.where(has, log_t + r - s, xp.full_like(s, -float("inf")))
        per_class = C.lse0(xp, v, axis=-2)  # (..., m)
        loss = xp.sum(per_class, axis=-1)
        grad = None
        if return_grad:
            log_w = v - per_class[..., None, :]  # dL/dv = softmax weights, log
            grad = -xp.exp(log_w) + xp.exp(s + C.loo_logsumexp(xp, log_w - r))
    return C.output(xp, loss, grad, out_dtype, reduction, return_grad)
