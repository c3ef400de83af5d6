//! Binding of [`crate::diffusion::likelihood`]: the augmented probability-flow ODE.

use numpy::ndarray::Array1;
use numpy::{IntoPyArray, PyArray2, PyReadonlyArray1, PyReadonlyArray2};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use super::model::{model_arg, CallSpec};
use super::Process;
use crate::diffusion::adaptive::AdaptiveOptions;
use crate::diffusion::likelihood::{likelihood_delta, Divergence, OdeMethod};
use crate::diffusion::model::{Kind, Model};
use crate::monitor::Monitor;
use crate::python::convert::{array2, matrix, slice1, DivergenceKind, Probe, Wrap};

type LikOut<'py> = (
    Bound<'py, PyArray2<f64>>,
    Bound<'py, PyArray2<f64>>,
    Bound<'py, PyDict>,
);

/// Integrate the augmented probability-flow ODE of the `n x d` data `x` along the increasing
/// `times`; returns `(delta (n x accumulators), x_T, stats)`.
#[allow(clippy::too_many_arguments)]
#[pyfunction]
#[pyo3(signature = (
    process, model, x, *, kind, sample_shape, call_f32, times, method, divergence, probes,
    probe, seed, first_index, rtol, atol, first_step, max_steps, progress=None, n_threads=None
))]
pub fn diffusion_likelihood<'py>(
    process: Process<'py>,
    model: &Bound<'py, PyAny>,
    x: PyReadonlyArray2<'py, f64>,
    kind: Wrap<Kind>,
    sample_shape: Vec<usize>,
    call_f32: bool,
    times: PyReadonlyArray1<'py, f64>,
    method: Wrap<OdeMethod>,
    divergence: Wrap<DivergenceKind>,
    probes: usize,
    probe: Wrap<Probe>,
    seed: u64,
    first_index: u64,
    rtol: f64,
    atol: f64,
    first_step: Option<f64>,
    max_steps: usize,
    progress: Option<&Bound<'py, PyAny>>,
    n_threads: Option<usize>,
) -> PyResult<LikOut<'py>> {
    let py = model.py();
    let sched = process.schedule()?;
    let xm = matrix(&x, "x")?;
    let (n, d) = (xm.rows, xm.cols);
    let times = slice1(&times, "times")?;
    let div = match divergence.0 {
        DivergenceKind::Exact => Divergence::Exact,
        DivergenceKind::Hutchinson => Divergence::Hutchinson {
            probes,
            gaussian: probe.0 == Probe::Gaussian,
        },
    };
    let aopt = AdaptiveOptions {
        rtol,
        atol,
        first_step,
        max_steps,
    };
    let spec = CallSpec {
        kind: kind.0,
        shape: sample_shape,
        f32: call_f32,
        int_t: false,
    };
    let mut arg = model_arg(model, spec, d)?;
    let (data, method) = (xm.data, method.0);
    let run = |m: &mut dyn Model, mon: &Monitor| {
        let (s, f) = (seed, first_index);
        likelihood_delta(m, &sched, data, d, times, method, div, s, f, &aopt, mon)
    };
    let res = arg.run(py, "diffusion_likelihood", progress, n_threads, run)?;
    let acc = res.delta.len() / n.max(1);
    let stats = PyDict::new(py);
    stats.set_item("nfe", res.nfe)?;
    if let Some(st) = res.stats {
        stats.set_item("accepted", Array1::from_vec(st.accepted).into_pyarray(py))?;
        stats.set_item("rejected", Array1::from_vec(st.rejected).into_pyarray(py))?;
    }
    Ok((
        array2(py, (n, acc), res.delta)?,
        array2(py, (n, d), res.x_end)?,
        stats,
    ))
}
