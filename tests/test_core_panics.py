"""A Rust panic inside `latentgeo._core` comes back as a RuntimeError naming the operation:
no PanicException, nothing on stderr. An empty time grid for the adaptive sampler (the public
`sample` never passes one) indexes past the end of the grid inside the Rust job."""

import numpy as np
import pytest

from latentgeo import _core

VP = ("vp", np.array([0.1, 20.0]), None)


def _sample(model, kind):
    return _core.diffusion_sample(
        VP,
        model,
        np.zeros((2, 1)),
        kind=kind,
        sample_shape=[1],
        call_f32=False,
        int_t=False,
        grid=np.array([], dtype=np.float64),
        to_data=False,
        method="dopri5",
        eta=0.0,
        r=1.0,
        snr=0.16,
        n_corrector=0,
        seed=0,
        first_index=0,
        rtol=1e-5,
        atol=1e-5,
        first_step=None,
        max_steps=100,
        save_every=0,
    )


@pytest.mark.parametrize(
    "model, kind",
    [
        # analytic: the job runs on a worker thread without the GIL
        (
            _core.GaussianMixtureCore(
                np.array([1.0]), np.zeros((1, 1)), np.array([1.0]), covariance_type="spherical"
            ),
            "score",
        ),
        # a Python callable: the job runs on the calling thread
        (lambda x, t: x, "eps"),
    ],
)
def test_a_panic_is_a_runtime_error_and_prints_nothing(model, kind, capfd):
    with pytest.raises(RuntimeError, match="internal error in diffusion_sample") as e:
        _sample(model, kind)
    assert type(e.value) is RuntimeError
    out, err = capfd.readouterr()
    assert "panicked" not in err and err == ""


def test_bad_option_strings_name_the_option_and_the_choices():
    with pytest.raises(ValueError, match=r"unknown metric \"manhattan\"; expected one of"):
        _core.knn(np.zeros((3, 2)), k=1, metric="manhattan")
    with pytest.raises(ValueError, match="unknown stream .*'prior', 'step', 'corrector', 'probe'"):
        _core.diffusion_normals(0, stream="noise", first_index=0, step=0, n=1, d=1)
    with pytest.raises(TypeError, match="query must have the dtype of data"):
        _core.knn(np.zeros((3, 2)), k=1, metric="euclidean", query=np.zeros((1, 2), np.float32))
