"""The flat public API survives the package layout: every name users import today still resolves."""

import importlib

import pytest

import latentgeo

# latentgeo.__all__ before the subpackage layout (issue 12); the layout must keep every name.
TOP_LEVEL = """
__version__ METRICS KNNResult as_knn knn HubnessReport antihub_occurrence atkinson gini
groupie_ratio hub_occurrence hubness k_occurrence robinhood skewness REDUCTIONS reduce_hubness
datasets HubSample norm_truncation sample_hubs as_graph connected_components knn_graph
NO_PREDECESSOR geodesic geodesic_neighbors reconstruct_path COMPONENT_POLICIES geodesic_scores
handle_components summarize list_tensors load_weights GEODESIC_REDUCTIONS geodesic_blocks
geodesic_reduce UnargmaxReport unargmaxable diffusion Whitening WhiteningGrid whitening_grid losses
""".split()

DIFFUSION = """
NoiseProcess VP VPCosine SubVP VE EDM DiscreteDDPM check_betas VARIANCES alpha_bar q_sample
posterior_mean_var reverse_variance reverse_mean_var x0_from_eps eps_from_x0 MODEL_KINDS
ModelAdapter COVARIANCE_TYPES GaussianMixture GRIDS SAMPLERS LIKELIHOOD_METHODS time_grid
prior_sample sample log_likelihood SampleResult LikelihoodResult
""".split()

LOSSES = """
REDUCTIONS NOISES TIES multilabel_softmax_ce sparse_multilabel_softmax_ce multilabel_softmax_proba
multiway_softmax_ce exact_accuracy exact_loss gumbel_accuracy accuracy smoothed_accuracy
expected_accuracy_mc
""".split()

SUBPACKAGES = [
    "neighbors", "hubs", "geodesics", "unargmax", "whitening", "losses", "diffusion", "audits"
]  # fmt: skip
# Names added after the layout (issue 17: the audit report).
ADDED = ["audit", "AuditReport", "AuditSection"]


@pytest.mark.parametrize(
    "module, names",
    [("latentgeo", TOP_LEVEL), ("latentgeo.diffusion", DIFFUSION), ("latentgeo.losses", LOSSES)],
)
def test_every_name_of_before_is_still_exported(module, names):
    mod = importlib.import_module(module)
    missing = [name for name in names if not hasattr(mod, name)]
    assert missing == []
    assert set(names) <= set(mod.__all__)


@pytest.mark.parametrize("name", SUBPACKAGES)
def test_subpackage_all_is_exact_and_public(name):
    mod = importlib.import_module(f"latentgeo.{name}")
    assert len(set(mod.__all__)) == len(mod.__all__)
    for attr in mod.__all__:
        assert not attr.startswith("_"), attr
        assert hasattr(mod, attr), attr


def test_flat_names_are_the_subpackage_objects():
    from latentgeo import audits, geodesics, hubs, neighbors, unargmax, whitening

    for name in ADDED:
        assert name in latentgeo.__all__ and getattr(latentgeo, name) is getattr(audits, name)

    assert latentgeo.knn is neighbors.knn
    assert latentgeo.hubness is hubs.hubness
    assert latentgeo.geodesic is geodesics.geodesic
    assert latentgeo.unargmaxable is unargmax.unargmaxable
    assert latentgeo.Whitening is whitening.Whitening


def test_no_function_shadows_a_module():
    """No public name of latentgeo is both a function and the name of a submodule."""
    import pkgutil

    modules = {m.name for m in pkgutil.iter_modules(latentgeo.__path__)}
    for name in latentgeo.__all__:
        obj = getattr(latentgeo, name)
        if name in modules:
            assert type(obj).__name__ == "module", f"latentgeo.{name} shadows a submodule"


def test_scale_is_public_and_optional():
    """latentgeo.scale (the Dask extra) has an exact public __all__; nothing else imports it."""
    pytest.importorskip("dask.array")
    pytest.importorskip("distributed")
    mod = importlib.import_module("latentgeo.scale")
    assert len(set(mod.__all__)) == len(mod.__all__)
    for attr in mod.__all__:
        assert not attr.startswith("_") and hasattr(mod, attr), attr


def test_the_core_never_imports_dask():
    import subprocess
    import sys

    code = (
        "import sys, latentgeo, latentgeo.cli\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed'))\n"
        "assert not bad and 'latentgeo.scale' not in sys.modules, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
