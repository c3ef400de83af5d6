//! Binding of the samplers ([`crate::diffusion::fixed`], [`crate::diffusion::adaptive`]).

use std::sync::Mutex;
use std::time::Instant;

use numpy::ndarray::Array1;
use numpy::{
    IntoPyArray, PyArray1, PyArray2, PyReadonlyArray1, PyReadonlyArray2, PyUntypedArrayMethods,
};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use super::model::{model_arg, CallSpec, ModelArg};
use super::recorder::Recorder;
use super::Process;
use crate::diffusion::adaptive::{dopri5, AdaptiveOptions, ProbabilityFlow};
use crate::diffusion::fixed::{sample_fixed, FixedOptions};
use crate::diffusion::model::{Evaluator, Kind, Model};
use crate::diffusion::schedule::Schedule;
use crate::monitor::Monitor;
use crate::python::convert::{array2, matrix, slice1, SampleMethod, Wrap};
use crate::Error;

type SampleOut<'py> = (
    Bound<'py, PyArray2<f64>>,
    Bound<'py, PyArray1<f64>>,
    Bound<'py, PyArray1<f64>>,
    Bound<'py, PyDict>,
);

/// Run a sampler from the `n x d` float64 states `x`; returns `(x, saved (flat), saved_t,
/// stats)`. `method = "dopri5"` integrates the probability-flow ODE adaptively from `grid[0]`
/// to `grid[-1]` (with `rtol`, `atol`, `first_step`, `max_steps`); the fixed-grid methods use
/// `eta`, `r`, `snr`, `n_corrector` and the noise of `(seed, first_index)`.
#[allow(clippy::too_many_arguments)]
#[pyfunction]
#[pyo3(signature = (
    process, model, x, *, kind, sample_shape, call_f32, int_t, grid, to_data, method, eta, r,
    snr, n_corrector, seed, first_index, rtol, atol, first_step, max_steps, save_every,
    callback=None, progress=None, n_threads=None
))]
pub fn diffusion_sample<'py>(
    process: Process<'py>,
    model: &Bound<'py, PyAny>,
    x: PyReadonlyArray2<'py, f64>,
    kind: Wrap<Kind>,
    sample_shape: Vec<usize>,
    call_f32: bool,
    int_t: bool,
    grid: PyReadonlyArray1<'py, f64>,
    to_data: bool,
    method: Wrap<SampleMethod>,
    eta: f64,
    r: f64,
    snr: f64,
    n_corrector: usize,
    seed: u64,
    first_index: u64,
    rtol: f64,
    atol: f64,
    first_step: Option<f64>,
    max_steps: usize,
    save_every: usize,
    callback: Option<Py<PyAny>>,
    progress: Option<&Bound<'py, PyAny>>,
    n_threads: Option<usize>,
) -> PyResult<SampleOut<'py>> {
    let solver = match method.0 {
        SampleMethod::Dopri5 => Solver::Adaptive(AdaptiveOptions {
            rtol,
            atol,
            first_step,
            max_steps,
        }),
        SampleMethod::Fixed(method) => Solver::Fixed(FixedOptions {
            method,
            eta,
            r,
            snr,
            n_corrector,
            seed,
            first_index,
        }),
    };
    let spec = CallSpec {
        kind: kind.0,
        shape: sample_shape,
        f32: call_f32,
        int_t,
    };
    let sched = process.schedule()?;
    let grid = slice1(&grid, "grid")?.to_vec();
    let recorder = Recorder {
        shape: spec.shape.clone(),
        f32: call_f32,
        save_every,
        saved: Vec::new(),
        saved_t: Vec::new(),
        callback,
        progress: None,
    };
    let mut arg = model_arg(model, spec, x.shape()[1])?;
    let run = Run {
        sched: &sched,
        grid,
        to_data,
        solver,
        progress,
        n_threads,
    };
    sample(&mut arg, &x, run, recorder)
}

/// How to integrate.
enum Solver {
    Adaptive(AdaptiveOptions),
    Fixed(FixedOptions),
}

/// Everything about one sampler run but the model, the states and the recorder.
struct Run<'a, 'py> {
    sched: &'a Schedule,
    grid: Vec<f64>,
    to_data: bool,
    solver: Solver,
    progress: Option<&'a Bound<'py, PyAny>>,
    n_threads: Option<usize>,
}

fn sample<'py>(
    arg: &mut ModelArg<'py>,
    x: &PyReadonlyArray2<'py, f64>,
    run: Run<'_, 'py>,
    mut recorder: Recorder,
) -> PyResult<SampleOut<'py>> {
    let py = x.py();
    let xm = matrix(x, "x")?;
    let d = xm.cols;
    let mut state = xm.data.to_vec();
    let Run {
        sched,
        grid,
        to_data,
        solver,
        progress,
        n_threads,
    } = run;
    let adaptive = matches!(solver, Solver::Adaptive(_));
    if matches!(arg, ModelArg::Py(_)) {
        recorder.progress = progress.map(|p| (p.clone().unbind(), grid.len(), Instant::now()));
    }
    let save_every = recorder.save_every;
    let recorder = Mutex::new(recorder);
    type Ran = (usize, usize, bool, Vec<u32>, Vec<u32>);
    let run = |m: &mut dyn Model, state: &mut Vec<f64>, mon: &Monitor| -> crate::Result<Ran> {
        {
            let mut rec = recorder.lock().unwrap_or_else(|e| e.into_inner());
            match &solver {
                Solver::Fixed(fo) => {
                    let st = sample_fixed(
                        m,
                        sched,
                        &grid,
                        to_data,
                        state,
                        d,
                        fo,
                        &mut |i, t, xs| rec.observe(i, None, t, xs),
                        mon,
                    )?;
                    Ok((st.nfe, st.steps, st.stopped, Vec::new(), Vec::new()))
                }
                Solver::Adaptive(aopt) => {
                    if save_every > 0 {
                        return Err(Error::invalid(
                        "save_every is not available with the adaptive method (times differ per \
                         sample); use a callback",
                    ));
                    }
                    for &t in &grid {
                        sched.check_time(t)?;
                    }
                    let (t0, t1) = (grid[0], grid[grid.len() - 1]);
                    let mut flow = ProbabilityFlow::new(Evaluator::new(m), sched, d);
                    let st = dopri5(
                        &mut flow,
                        state,
                        t0,
                        t1,
                        aopt,
                        &mut |i, ts, xs| rec.observe(i, Some(ts), f64::NAN, xs),
                        mon,
                    )?;
                    let steps = st.iterations;
                    Ok((st.nfe, steps, st.stopped, st.accepted, st.rejected))
                }
            }
        }
    };
    let state_ref = &mut state;
    let result = arg.run(py, "diffusion_sample", progress, n_threads, |m, mon| {
        run(m, state_ref, mon)
    });
    let mut rec = recorder.into_inner().unwrap_or_else(|e| e.into_inner());
    let (nfe, steps, stopped, accepted, rejected) = result?;
    if grid.is_empty() {
        return Err(PyValueError::new_err("the time grid is empty"));
    }
    let n = xm.rows;
    let out = array2(py, (n, d), state)?;
    let stats = PyDict::new(py);
    stats.set_item("nfe", nfe)?;
    stats.set_item("steps", steps)?;
    stats.set_item("stopped", stopped)?;
    if adaptive {
        stats.set_item("accepted", Array1::from_vec(accepted).into_pyarray(py))?;
        stats.set_item("rejected", Array1::from_vec(rejected).into_pyarray(py))?;
    }
    Ok((
        out,
        Array1::from_vec(std::mem::take(&mut rec.saved)).into_pyarray(py),
        Array1::from_vec(std::mem::take(&mut rec.saved_t)).into_pyarray(py),
        stats,
    ))
}
