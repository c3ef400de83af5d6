"""Framework-agnostic losses: multi-label softmax cross-entropy and expected-accuracy objectives.

Written once against the Python array API standard (through ``array_api_compat``): the same
function takes numpy arrays or, when installed, torch / jax / cupy arrays, and torch / jax autograd
runs through the forward pass. numpy users get explicit gradients with ``return_grad=True``
(and the EXACT objective on numpy arrays runs the same algorithm in Rust).

- :func:`multilabel_softmax_ce`, :func:`sparse_multilabel_softmax_ce`,
  :func:`multilabel_softmax_proba`: ZLPR, hard/soft/sparse labels, masks.
- :func:`multiway_softmax_ce`: n independent m-way classifications.
- :func:`exact_accuracy`, :func:`exact_loss`: EXACT, expected accuracy under Gaussian logit noise.
- :func:`gumbel_accuracy`: expected accuracy under Gumbel noise = softmax probability.
- :func:`accuracy`, :func:`smoothed_accuracy`, :func:`expected_accuracy_mc`: evaluation.
"""

from ._common import REDUCTIONS
from ._expected_accuracy import (
    N_NODES_PRESETS,
    NOISES,
    TIES,
    accuracy,
    exact_accuracy,
    exact_loss,
    expected_accuracy_mc,
    gumbel_accuracy,
    smoothed_accuracy,
)
from ._multilabel import (
    multilabel_softmax_ce,
    multilabel_softmax_proba,
    multiway_softmax_ce,
    sparse_multilabel_softmax_ce,
)

__all__ = [
    "REDUCTIONS",
    "NOISES",
    "TIES",
    "N_NODES_PRESETS",
    "multilabel_softmax_ce",
    "sparse_multilabel_softmax_ce",
    "multilabel_softmax_proba",
    "multiway_softmax_ce",
    "exact_accuracy",
    "exact_loss",
    "gumbel_accuracy",
    "accuracy",
    "smoothed_accuracy",
    "expected_accuracy_mc",
]
