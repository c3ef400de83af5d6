"""Hubness: k-occurrence, the hubness scores and report, hubness reduction, and hub-prior sampling
of GAN latents."""

from ._reduction import REDUCTIONS, reduce_hubness
from ._report import HubnessReport, hubness
from ._sampling import HubSample, norm_truncation, sample_hubs
from ._scores import (
    antihub_occurrence,
    atkinson,
    gini,
    groupie_ratio,
    hub_occurrence,
    k_occurrence,
    robinhood,
    skewness,
)

__all__ = [
    "k_occurrence",
    "skewness",
    "robinhood",
    "gini",
    "atkinson",
    "hub_occurrence",
    "antihub_occurrence",
    "groupie_ratio",
    "HubnessReport",
    "hubness",
    "REDUCTIONS",
    "reduce_hubness",
    "HubSample",
    "norm_truncation",
    "sample_hubs",
]
