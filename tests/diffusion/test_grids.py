"""Time grids (``latentgeo.diffusion.time_grid``) and the Rust schedules behind them."""

from __future__ import annotations

import numpy as np
import pytest
from support.diffusion import (
    CONT_IDS,
    CONTINUOUS,
    GMM,
    VP3,
    exact_start,
)

from latentgeo import _core
from latentgeo.diffusion import (
    EDM,
    GRIDS,
    VE,
    VP,
    DiscreteDDPM,
    SubVP,
    VPCosine,
    sample,
    time_grid,
)
from latentgeo.diffusion._grids import _schedule_args

# ---------------------------------------------------------------------------------------------
# 9. time grids


@pytest.mark.parametrize("proc", CONTINUOUS + [VP(eps=0.0)], ids=CONT_IDS + ["VP0"])
@pytest.mark.parametrize("kind", GRIDS)
def test_time_grid_kinds(proc, kind):
    if kind in ("logsnr", "karras") and proc.sigma(proc.t_min) == 0:
        with pytest.raises(ValueError, match="sigma > 0"):
            time_grid(proc, 10, kind)
        return
    grid = time_grid(proc, 10, kind)
    assert grid.shape == (11,) and grid.dtype == np.float64
    assert grid[0] == proc.t_max and grid[-1] == proc.t_min
    assert np.all(np.diff(grid) < 0)
    u = np.linspace(0, 1, 11)
    if kind == "uniform":
        np.testing.assert_allclose(grid, proc.t_max + u * (proc.t_min - proc.t_max), rtol=1e-11)
    elif kind == "quadratic":
        np.testing.assert_allclose(np.diff(np.sqrt(grid)), np.diff(np.sqrt(grid))[0], rtol=1e-9)
    elif kind == "logsnr":
        lam = proc.log_snr(grid)
        np.testing.assert_allclose(np.diff(lam), (lam[-1] - lam[0]) / 10, rtol=1e-8)
    else:
        sig = proc.sigma(grid) / proc.s(grid)
        hi, lo = sig[0], sig[-1]
        want = (hi ** (1 / 7) + u * (lo ** (1 / 7) - hi ** (1 / 7))) ** 7
        np.testing.assert_allclose(sig, want, rtol=1e-8)


def test_karras_grid_on_edm_is_the_karras_schedule():
    grid = time_grid(EDM(), 18, "karras")
    i = np.arange(19)
    want = (80 ** (1 / 7) + i / 18 * (0.002 ** (1 / 7) - 80 ** (1 / 7))) ** 7
    np.testing.assert_allclose(grid, want, rtol=1e-12)
    assert grid[0] == 80.0 and grid[-1] == 0.002
    grid3 = time_grid(EDM(), 18, "karras", rho=3.0)
    np.testing.assert_allclose(
        grid3[1], (80 ** (1 / 3) + (0.002 ** (1 / 3) - 80 ** (1 / 3)) / 18) ** 3, rtol=1e-12
    )


def test_time_grid_ends_and_errors():
    grid = time_grid(VP3, 4, t_start=0.8, t_end=0.2)
    np.testing.assert_allclose(grid, [0.8, 0.65, 0.5, 0.35, 0.2], rtol=1e-14)
    with pytest.raises(ValueError, match="larger"):
        time_grid(VP3, 4, t_start=0.2, t_end=0.8)
    with pytest.raises(ValueError, match="outside the domain"):
        time_grid(VP3, 4, t_start=1.5)
    with pytest.raises(ValueError, match="grid"):
        time_grid(VP3, 4, "cosine")
    with pytest.raises(ValueError, match="steps"):
        time_grid(VP3, 0)
    with pytest.raises(ValueError):
        time_grid(EDM(), 4, "karras", rho=0.0)


def test_discrete_time_grids():
    chain = DiscreteDDPM(T=50)
    grid = time_grid(chain, 10)
    np.testing.assert_array_equal(grid, np.round(np.linspace(49, 0, 10)))
    np.testing.assert_array_equal(time_grid(chain, 50), np.arange(49, -1, -1))
    quad = time_grid(chain, 20, "quadratic")
    assert quad[0] == 49 and quad[-1] == 0 and np.all(np.diff(quad) <= -1)
    assert np.all(quad == np.round(quad)) and np.all(np.diff(quad)[-5:] == -1)
    np.testing.assert_array_equal(time_grid(chain, 3, t_start=30, t_end=10), [30, 20, 10])
    assert time_grid(chain, 1).tolist() == [49.0]
    with pytest.raises(ValueError, match="exceeds"):
        time_grid(chain, 51)
    with pytest.raises(ValueError, match="uniform"):
        time_grid(chain, 5, "karras")
    with pytest.raises(ValueError, match="whole number"):
        time_grid(chain, 5, t_start=10.5)


def test_explicit_grids_equal_named_grids():
    x = exact_start(VP3, GMM, 5, 0)
    for kind in GRIDS:
        a = sample(VP3, GMM, x, steps=6, grid=kind)
        b = sample(VP3, GMM, x, grid=time_grid(VP3, 6, kind))
        np.testing.assert_array_equal(a.x, b.x)
    # a custom grid need not start at t_max; the result carries its last time
    res = sample(VP3, GMM, x, grid=[0.5, 0.3, 0.2])
    assert res.t == 0.2 and res.steps == 2
    chain = DiscreteDDPM(T=30)
    res = sample(chain, GMM, x, method="ddim", grid=np.array([29, 10, 3]))
    assert res.t is None and res.nfe == 3 and res.steps == 3
    res = sample(chain, GMM, x, method="ddim", grid=[29, 10, 3], denoise_final=False)
    assert res.t == 3.0 and res.nfe == 2
    # a one-index discrete grid is a single denoising evaluation
    one = sample(chain, GMM, x, method="ddim", grid=[7])
    np.testing.assert_allclose(one.x, GMM.denoise(x, chain.s(7), chain.sigma(7)), rtol=1e-13)


# ---------------------------------------------------------------------------------------------
# 12. the Rust schedules agree with the Python processes


@pytest.mark.parametrize(
    "proc",
    CONTINUOUS
    + [
        VP(beta_min=0.5, beta_max=3.0),
        SubVP(beta_min=0.0, beta_max=5.0),
        VPCosine(cosine_s=0.02, beta_max=100.0),
        VE(sigma_min=0.3, sigma_max=4.0),
        EDM(sigma_min=1e-3, sigma_max=10.0),
    ],
    ids=repr,
)
def test_rust_schedule_matches_the_python_process(proc):
    t = np.linspace(proc.t_min, proc.t_max, 41)
    got = _core.diffusion_schedule_at(_schedule_args(proc), t)
    want = np.stack([proc._s(t), proc._sigma(t), proc._f_coef(t), proc._g2(t)], axis=1)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-300)


def test_rust_discrete_schedule_matches_the_chain():
    chain = DiscreteDDPM(T=50)
    t = np.arange(50, dtype=float)
    got = _core.diffusion_schedule_at(_schedule_args(chain), t)
    np.testing.assert_allclose(got[:, 0], chain.s(t.astype(int)), rtol=1e-15)
    np.testing.assert_allclose(got[:, 1], chain.sigma(t.astype(int)), rtol=1e-15)
    assert np.isnan(got[:, 2:]).all()  # no SDE coefficients for a discrete chain
    with pytest.raises(ValueError, match="index"):
        _core.diffusion_schedule_at(_schedule_args(chain), np.array([50.0]))
