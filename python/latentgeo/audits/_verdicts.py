"""The thresholds behind the audit's verdicts and the works they come from, in one place.

Every cut-off below is a rule of thumb of latentgeo, stated in the report next to the verdict it
produces, together with the measurements or papers that motivate it; none is a standard.
"""

from __future__ import annotations

from typing import Dict, Sequence, Tuple

#: Levels of a verdict, from best to worst; "skipped" and "info" carry no judgement.
LEVELS = ("ok", "warning", "problem")
ALL_LEVELS = LEVELS + ("skipped", "info")

#: Full citations, by the key the sections use.
REFERENCES: Dict[str, str] = {
    "radovanovic2010": "M. Radovanović, A. Nanopoulos, M. Ivanović. Hubs in Space: Popular "
    "Nearest Neighbors in High-Dimensional Data. JMLR 11 (2010) 2487-2531.",
    "schnitzer2012": "D. Schnitzer, A. Flexer, M. Schedl, G. Widmer. Local and Global Scaling "
    "Reduce Hubs in Space. JMLR 13 (2012) 2871-2902.",
    "feldbauer2019": "R. Feldbauer, A. Flexer. A comprehensive empirical comparison of hubness "
    "reduction in high-dimensional spaces. Knowledge and Information Systems 59 (2019), "
    "doi:10.1007/s10115-018-1205-y.",
    "conneau2018": "A. Conneau, G. Lample, M. Ranzato, L. Denoyer, H. Jégou. Word translation "
    "without parallel data. ICLR 2018 (CSLS).",
    "ethayarajh2019": "K. Ethayarajh. How Contextual are Contextualized Word Representations? "
    "EMNLP 2019.",
    "mu2018": "J. Mu, P. Viswanath. All-but-the-Top: Simple and Effective Postprocessing for "
    "Word Representations. ICLR 2018.",
    "su2021": "J. Su, J. Cao, W. Liu, Y. Ou. Whitening Sentence Representations for Better "
    "Semantics and Faster Retrieval. arXiv:2103.15316 (2021).",
    "roy2007": "O. Roy, M. Vetterli. The effective rank: a measure of effective dimensionality. "
    "EUSIPCO 2007.",
    "tenenbaum2000": "J. B. Tenenbaum, V. de Silva, J. C. Langford. A Global Geometric Framework "
    "for Nonlinear Dimensionality Reduction. Science 290 (2000) 2319-2323.",
    "demeter2020": "D. Demeter, G. Kimmel, D. Downey. Stolen Probability: A Structural Weakness "
    "of Neural Language Models. ACL 2020.",
    "grivas2022": "A. Grivas, N. Bogoychev, A. Lopez. Low-Rank Softmax Can Have Unargmaxable "
    "Classes in Theory but Rarely in Practice. ACL 2022.",
}

#: Short names of the references, for inline citations.
SHORT: Dict[str, str] = {
    "radovanovic2010": "Radovanović et al. 2010",
    "schnitzer2012": "Schnitzer et al. 2012",
    "feldbauer2019": "Feldbauer & Flexer 2019",
    "conneau2018": "Conneau et al. 2018",
    "ethayarajh2019": "Ethayarajh 2019",
    "mu2018": "Mu & Viswanath 2018",
    "su2021": "Su et al. 2021",
    "roy2007": "Roy & Vetterli 2007",
    "tenenbaum2000": "Tenenbaum et al. 2000",
    "demeter2020": "Demeter et al. 2020",
    "grivas2022": "Grivas et al. 2022",
}

#: Skewness of the k-occurrence: below the first cut-off "low", below the second "moderate",
#: else "strong". For scale, i.i.d. standard Gaussian data (n = 2000, k = 10, Euclidean),
#: measured with latentgeo.hubness: d = 3 gives -0.30, d = 10 0.71, d = 30 3.40, d = 100 8.75.
SKEWNESS_CUTS = (1.0, 3.0)
SKEWNESS_SCALE = (
    "i.i.d. Gaussian data (n=2000, k=10) gives -0.30 at d=3, 0.71 at d=10, 3.40 at d=30 and "
    "8.75 at d=100"
)

#: Average cosine of the rows to their mean direction: "cone" cut-offs (mild, strong).
CONE_CUTS = (0.3, 0.6)

#: Effective rank as a fraction of the dimensions: below the first "concentrated", below the
#: second "very concentrated".
ERANK_CUTS = (0.5, 0.1)

#: Median geodesic / straight-line distance ratio: above the first "curved", above the second
#: "strongly curved".
RATIO_CUTS = (1.5, 3.0)


def worst(levels: Sequence[str]) -> str:
    """The worst of `levels` ("ok" when there is none)."""
    ranked = [lv for lv in levels if lv in LEVELS]
    return max(ranked, key=LEVELS.index) if ranked else "ok"


def grade(value: float, cuts: Tuple[float, float], labels: Tuple[str, str, str]) -> Tuple[str, str]:
    """(label, level) of `value` against increasing `cuts`: below cuts[0] the first label (ok),
    below cuts[1] the second (warning), else the third (problem)."""
    if value < cuts[0]:
        return labels[0], "ok"
    if value < cuts[1]:
        return labels[1], "warning"
    return labels[2], "problem"
