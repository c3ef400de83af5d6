//! Bindings of [`crate::diffusion`]: the sampler and likelihood loops over an analytic
//! `GaussianMixtureCore` (GIL released) or a Python batch callable (called once per evaluation,
//! on the calling thread).

use std::sync::Mutex;
use std::time::{Duration, Instant};

use numpy::ndarray::{Array1, Array2};
use numpy::{
    IntoPyArray, PyArray1, PyArray2, PyArrayDescrMethods, PyArrayDyn, PyArrayMethods,
    PyReadonlyArray1, PyReadonlyArray2, PyUntypedArray, PyUntypedArrayMethods,
};
use pyo3::exceptions::{PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use super::gmm::GaussianMixtureCore;
use super::monitor::run_monitored;
use super::{matrix, slice1};
use crate::diffusion::adaptive::{dopri5, AdaptiveOptions, ProbabilityFlow};
use crate::diffusion::fixed::{sample_fixed, FixedOptions, Method};
use crate::diffusion::likelihood::{likelihood_delta, Divergence};
use crate::diffusion::model::{fill_rows, At, Evaluator, GmmModel, Kind, Model};
use crate::diffusion::rng::{Noise, Stream};
use crate::diffusion::schedule::Schedule;
use crate::monitor::Monitor;
use crate::Error;

const PROGRESS_EVERY: Duration = Duration::from_millis(100);

/// A user's batch model `fn(x, t) -> array`, called with the GIL held.
struct PyModel<'py> {
    py: Python<'py>,
    fun: Bound<'py, PyAny>,
    kind: Kind,
    shape: Vec<usize>,
    f32: bool,
    int_t: bool,
    asarray: Bound<'py, PyAny>,
    error: Option<PyErr>,
    /// The `x` and `t` arrays of the previous call, refilled when the model kept no reference
    /// to them (saves an allocation, and the page faults of a fresh one, per call).
    x_arg: Option<Bound<'py, PyUntypedArray>>,
    t_arg: Option<Bound<'py, PyUntypedArray>>,
    /// The model's previous output, released only after the next call (see [`PyModel::call`]).
    last_out: Option<Bound<'py, PyUntypedArray>>,
}

/// `old` if nothing but us refers to it and it has `shape` and element type `T`, else a new
/// C-contiguous array; then filled from `values`.
fn refill<'py, T: numpy::Element + Copy>(
    py: Python<'py>,
    old: Option<Bound<'py, PyUntypedArray>>,
    shape: &[usize],
    values: impl ExactSizeIterator<Item = T>,
) -> PyResult<Bound<'py, PyUntypedArray>> {
    // SAFETY: reading the reference count of a live object we hold.
    let only_ours =
        |a: &Bound<'py, PyUntypedArray>| unsafe { pyo3::ffi::Py_REFCNT(a.as_ptr()) } == 1;
    let reuse = old
        .filter(|a| only_ours(a) && a.shape() == shape && a.is_c_contiguous())
        .and_then(|a| a.cast_into::<PyArrayDyn<T>>().ok())
        .filter(|a| a.try_readwrite().is_ok());
    let arr = match reuse {
        Some(a) => a,
        None => PyArrayDyn::<T>::zeros(py, shape, false),
    };
    {
        let mut rw = arr.try_readwrite()?;
        for (o, v) in rw.as_slice_mut()?.iter_mut().zip(values) {
            *o = v;
        }
    }
    Ok(arr.into_any().cast_into::<PyUntypedArray>()?)
}

impl<'py> PyModel<'py> {
    fn call(&mut self, x: &[f64], at: At<'_>, out: &mut [f64]) -> PyResult<()> {
        let py = self.py;
        py.check_signals()?;
        let d: usize = self.shape.iter().product();
        let n = x.len() / d.max(1);
        let mut shape = vec![n];
        shape.extend_from_slice(&self.shape);
        let old = self.x_arg.take();
        let xa = if self.f32 {
            refill(py, old, &shape, x.iter().map(|&v| v as f32))?
        } else {
            refill(py, old, &shape, x.iter().copied())?
        };
        let old = self.t_arg.take();
        let ta = match (self.int_t, at) {
            (true, At::All(t, _)) => refill(py, old, &[n], std::iter::repeat_n(t as i64, n))?,
            (false, At::All(t, _)) => refill(py, old, &[n], std::iter::repeat_n(t, n))?,
            (true, At::PerRow(t, _)) => refill(py, old, &[n], t.iter().map(|&v| v as i64))?,
            (false, At::PerRow(t, _)) => refill(py, old, &[n], t.iter().copied())?,
        };
        let res = self.fun.call1((&xa, &ta));
        self.x_arg = Some(xa);
        self.t_arg = Some(ta);
        let res = res?;
        let res = match res.cast::<PyUntypedArray>() {
            Ok(a) => a.clone(),
            Err(_) => self.asarray.call1((res,))?.cast_into::<PyUntypedArray>()?,
        };
        let kind = res.dtype().kind();
        if !matches!(kind, b'b' | b'i' | b'u' | b'f') {
            return Err(PyValueError::new_err(format!(
                "model output must hold real numbers, got dtype {}",
                res.dtype()
            )));
        }
        if res.shape() != shape.as_slice() {
            return Err(PyValueError::new_err(format!(
                "model output has shape {:?} but x has shape {:?}",
                res.shape(),
                shape
            )));
        }
        let contiguous = kind == b'f' && res.is_c_contiguous();
        if contiguous && res.dtype().itemsize() == 4 {
            // A float32 model (float32 states): widen straight into `out`.
            let arr = res.cast::<PyArrayDyn<f32>>()?.readonly();
            for (o, &v) in out.iter_mut().zip(arr.as_slice()?) {
                *o = f64::from(v);
            }
            drop(arr);
            self.keep_output(res);
            return Ok(());
        }
        let res = if contiguous && res.dtype().itemsize() == 8 {
            res
        } else {
            let np = py.import("numpy")?;
            np.getattr("ascontiguousarray")?
                .call1((res, np.getattr("float64")?))?
                .cast_into::<PyUntypedArray>()?
        };
        let arr = res.cast::<PyArrayDyn<f64>>()?.readonly();
        out.copy_from_slice(arr.as_slice()?);
        drop(arr);
        self.keep_output(res);
        Ok(())
    }

    /// Hold the model's output until the next call: this keeps glibc from trimming the top of
    /// the heap after every call (the model's output and temporaries are freed together there),
    /// which would make every call page-fault its fresh arrays in again. Not when it is the
    /// input array itself, which would then never be refilled.
    fn keep_output(&mut self, res: Bound<'py, PyUntypedArray>) {
        let is_input = self
            .x_arg
            .as_ref()
            .is_some_and(|a| a.as_ptr() == res.as_ptr());
        self.last_out = if is_input { None } else { Some(res) };
    }
}

impl Model for PyModel<'_> {
    fn kind(&self) -> Kind {
        self.kind
    }

    fn eval(&mut self, x: &[f64], at: At<'_>, out: &mut [f64]) -> crate::Result<()> {
        self.call(x, at, out).map_err(|e| {
            self.error = Some(e);
            Error::Runtime("the model raised an exception".into())
        })
    }
}

/// The states, saved snapshots, callback and progress of a sampler run.
struct Recorder {
    shape: Vec<usize>,
    f32: bool,
    save_every: usize,
    saved: Vec<f64>,
    saved_t: Vec<f64>,
    callback: Option<Py<PyAny>>,
    /// Progress callable called from the observer (Python models only; run_monitored reports
    /// progress for analytic ones).
    progress: Option<(Py<PyAny>, usize, Instant)>,
    error: Option<PyErr>,
}

impl Recorder {
    fn state<'py>(&self, py: Python<'py>, x: &[f64]) -> PyResult<Bound<'py, PyAny>> {
        let d: usize = self.shape.iter().product();
        let mut shape = vec![x.len() / d.max(1)];
        shape.extend_from_slice(&self.shape);
        Ok(if self.f32 {
            PyArray1::from_iter(py, x.iter().map(|&v| v as f32))
                .reshape(shape)?
                .into_any()
        } else {
            PyArray1::from_slice(py, x).reshape(shape)?.into_any()
        })
    }

    fn observe_py(&mut self, step: usize, t: Option<&[f64]>, t1: f64, x: &[f64]) -> PyResult<bool> {
        Python::attach(|py| {
            if let Some((cb, total, last)) = &mut self.progress {
                if last.elapsed() >= PROGRESS_EVERY {
                    *last = Instant::now();
                    cb.call1(py, (step.min(*total), *total))?;
                }
                py.check_signals()?;
            }
            let Some(cb) = &self.callback else {
                return Ok(true);
            };
            let info = PyDict::new(py);
            info.set_item("step", step)?;
            match t {
                Some(ts) => info.set_item("t", PyArray1::from_slice(py, ts))?,
                None if t1.is_nan() => info.set_item("t", py.None())?,
                None => info.set_item("t", t1)?,
            }
            info.set_item("x", self.state(py, x)?)?;
            match cb.call1(py, (info,)) {
                Ok(r) => Ok(!r.bind(py).is_truthy()?),
                Err(e) if e.is_instance_of::<pyo3::exceptions::PyStopIteration>(py) => Ok(false),
                Err(e) => Err(e),
            }
        })
    }

    /// The observer of step `step` at time `t1` (or per-row times `t`).
    fn observe(
        &mut self,
        step: usize,
        t: Option<&[f64]>,
        t1: f64,
        x: &[f64],
    ) -> crate::Result<bool> {
        if self.save_every > 0 && step % self.save_every == 0 {
            self.saved.extend_from_slice(x);
            self.saved_t.push(t1);
        }
        if self.callback.is_none() && self.progress.is_none() {
            return Ok(true);
        }
        self.observe_py(step, t, t1, x).map_err(|e| {
            self.error = Some(e);
            Error::Runtime("the callback raised an exception".into())
        })
    }
}

fn schedule(
    kind: &str,
    params: &PyReadonlyArray1<'_, f64>,
    table: &Option<PyReadonlyArray2<'_, f64>>,
) -> PyResult<Schedule> {
    let params = slice1(params, "params")?;
    let table = match table {
        Some(t) => {
            let m = matrix(t, "table")?;
            if m.rows != 2 {
                return Err(PyValueError::new_err("table must have two rows"));
            }
            Some((&m.data[..m.cols], &m.data[m.cols..]))
        }
        None => None,
    };
    Ok(Schedule::new(kind, params, table)?)
}

/// A model passed from Python: an analytic mixture or a callable.
enum ModelArg<'py> {
    Gmm(PyRef<'py, GaussianMixtureCore>),
    Py(PyModel<'py>),
}

#[allow(clippy::too_many_arguments)]
fn model_arg<'py>(
    py: Python<'py>,
    model: &Bound<'py, PyAny>,
    kind: &str,
    shape: Vec<usize>,
    f32: bool,
    int_t: bool,
) -> PyResult<ModelArg<'py>> {
    if let Ok(g) = model.cast::<GaussianMixtureCore>() {
        return Ok(ModelArg::Gmm(g.borrow()));
    }
    if !model.is_callable() {
        return Err(PyTypeError::new_err(
            "model must be a GaussianMixture or a callable",
        ));
    }
    Ok(ModelArg::Py(PyModel {
        py,
        fun: model.clone(),
        kind: Kind::parse(kind)?,
        shape,
        f32,
        int_t,
        asarray: py.import("numpy")?.getattr("asarray")?,
        error: None,
        x_arg: None,
        t_arg: None,
        last_out: None,
    }))
}

impl ModelArg<'_> {
    /// Run `job` on the model: an analytic mixture without the GIL (progress, Ctrl-C and
    /// `n_threads` through `run_monitored`), a Python model on this thread. A failure carries the
    /// model's Python exception when there is one.
    fn run<R: Send>(
        &mut self,
        py: Python<'_>,
        progress: Option<&Bound<'_, PyAny>>,
        n_threads: Option<usize>,
        job: impl FnOnce(&mut dyn Model, &Monitor) -> crate::Result<R> + Send,
    ) -> PyResult<R> {
        match self {
            ModelArg::Gmm(g) => {
                let gmm = g.inner();
                run_monitored(py, progress, |mon| {
                    crate::parallel::with_threads(n_threads, || job(&mut GmmModel::new(gmm), mon))?
                })
            }
            ModelArg::Py(pm) => {
                job(pm, &Monitor::new()).map_err(|e| pm.error.take().unwrap_or(e.into()))
            }
        }
    }
}

type SampleOut<'py> = (
    Bound<'py, PyArray2<f64>>,
    Bound<'py, PyArray1<f64>>,
    Bound<'py, PyArray1<f64>>,
    Bound<'py, PyDict>,
);

/// Run a sampler from the `n x d` float64 states `x`; returns `(x, saved (flat), saved_t,
/// stats)`. `method = "dopri5"` integrates the probability-flow ODE adaptively from `grid[0]`
/// to `grid[-1]`.
#[allow(clippy::too_many_arguments)]
#[pyfunction]
#[pyo3(signature = (
    schedule_kind, params, table, model, kind, x, sample_shape, call_f32, int_t, grid, to_data,
    method, eta, r, snr, n_corrector, seed, first_index, rtol, atol, first_step, max_steps,
    save_every, callback=None, progress=None, n_threads=None
))]
pub fn diffusion_sample<'py>(
    py: Python<'py>,
    schedule_kind: &str,
    params: PyReadonlyArray1<'py, f64>,
    table: Option<PyReadonlyArray2<'py, f64>>,
    model: &Bound<'py, PyAny>,
    kind: &str,
    x: PyReadonlyArray2<'py, f64>,
    sample_shape: Vec<usize>,
    call_f32: bool,
    int_t: bool,
    grid: PyReadonlyArray1<'py, f64>,
    to_data: bool,
    method: &str,
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
    let sched = schedule(schedule_kind, &params, &table)?;
    let xm = matrix(&x, "x")?;
    let d = xm.cols;
    let mut state = xm.data.to_vec();
    let grid = slice1(&grid, "grid")?.to_vec();
    let adaptive = method == "dopri5";
    let fixed = if adaptive {
        None
    } else {
        Some(FixedOptions {
            method: Method::parse(method)?,
            eta,
            r,
            snr,
            n_corrector,
            seed,
            first_index,
        })
    };
    let aopt = AdaptiveOptions {
        rtol,
        atol,
        first_step,
        max_steps,
    };
    let mut arg = model_arg(py, model, kind, sample_shape.clone(), call_f32, int_t)?;
    let is_py = matches!(arg, ModelArg::Py(_));
    let recorder = Mutex::new(Recorder {
        shape: sample_shape,
        f32: call_f32,
        save_every,
        saved: Vec::new(),
        saved_t: Vec::new(),
        callback,
        progress: if is_py {
            progress.map(|p| (p.clone().unbind(), grid.len(), Instant::now()))
        } else {
            None
        },
        error: None,
    });
    type Ran = (usize, usize, bool, Vec<u32>, Vec<u32>);
    let run = |m: &mut dyn Model, state: &mut Vec<f64>, mon: &Monitor| -> crate::Result<Ran> {
        {
            let mut rec = recorder.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(fo) = &fixed {
                let st = sample_fixed(
                    m,
                    &sched,
                    &grid,
                    to_data,
                    state,
                    d,
                    fo,
                    &mut |i, t, xs| rec.observe(i, None, t, xs),
                    mon,
                )?;
                Ok((st.nfe, st.steps, st.stopped, Vec::new(), Vec::new()))
            } else {
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
                let mut flow = ProbabilityFlow::new(Evaluator::new(m), &sched, d);
                let st = dopri5(
                    &mut flow,
                    state,
                    t0,
                    t1,
                    &aopt,
                    &mut |i, ts, xs| rec.observe(i, Some(ts), f64::NAN, xs),
                    mon,
                )?;
                let steps = st.iterations;
                Ok((st.nfe, steps, st.stopped, st.accepted, st.rejected))
            }
        }
    };
    let state_ref = &mut state;
    let result = arg.run(py, progress, n_threads, |m, mon| run(m, state_ref, mon));
    let mut rec = recorder.into_inner().unwrap_or_else(|e| e.into_inner());
    let (nfe, steps, stopped, accepted, rejected) =
        result.map_err(|e| rec.error.take().unwrap_or(e))?;
    if grid.is_empty() {
        return Err(PyValueError::new_err("the time grid is empty"));
    }
    let n = xm.rows;
    let out = Array2::from_shape_vec((n, d), state)
        .map_err(|e| PyRuntimeError::new_err(e.to_string()))?;
    let stats = PyDict::new(py);
    stats.set_item("nfe", nfe)?;
    stats.set_item("steps", steps)?;
    stats.set_item("stopped", stopped)?;
    if adaptive {
        stats.set_item("accepted", Array1::from_vec(accepted).into_pyarray(py))?;
        stats.set_item("rejected", Array1::from_vec(rejected).into_pyarray(py))?;
    }
    Ok((
        out.into_pyarray(py),
        Array1::from_vec(std::mem::take(&mut rec.saved)).into_pyarray(py),
        Array1::from_vec(std::mem::take(&mut rec.saved_t)).into_pyarray(py),
        stats,
    ))
}

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
    schedule_kind, params, table, model, kind, x, sample_shape, call_f32, times, method,
    divergence, probes, gaussian, seed, first_index, rtol, atol, first_step, max_steps,
    progress=None, n_threads=None
))]
pub fn diffusion_likelihood<'py>(
    py: Python<'py>,
    schedule_kind: &str,
    params: PyReadonlyArray1<'py, f64>,
    table: Option<PyReadonlyArray2<'py, f64>>,
    model: &Bound<'py, PyAny>,
    kind: &str,
    x: PyReadonlyArray2<'py, f64>,
    sample_shape: Vec<usize>,
    call_f32: bool,
    times: PyReadonlyArray1<'py, f64>,
    method: &str,
    divergence: &str,
    probes: usize,
    gaussian: bool,
    seed: u64,
    first_index: u64,
    rtol: f64,
    atol: f64,
    first_step: Option<f64>,
    max_steps: usize,
    progress: Option<&Bound<'py, PyAny>>,
    n_threads: Option<usize>,
) -> PyResult<LikOut<'py>> {
    let sched = schedule(schedule_kind, &params, &table)?;
    let xm = matrix(&x, "x")?;
    let d = xm.cols;
    let times = slice1(&times, "times")?;
    let div = match divergence {
        "exact" => Divergence::Exact,
        "hutchinson" => Divergence::Hutchinson { probes, gaussian },
        other => {
            return Err(PyValueError::new_err(format!(
                "unknown divergence {other:?}; expected 'exact' or 'hutchinson'"
            )))
        }
    };
    let aopt = AdaptiveOptions {
        rtol,
        atol,
        first_step,
        max_steps,
    };
    let mut arg = model_arg(py, model, kind, sample_shape, call_f32, false)?;
    let data = xm.data;
    let run = |m: &mut dyn Model, mon: &Monitor| {
        likelihood_delta(
            m,
            &sched,
            data,
            d,
            times,
            method,
            div,
            seed,
            first_index,
            &aopt,
            mon,
        )
    };
    let res = arg.run(py, progress, n_threads, run)?;
    let n = xm.rows;
    let acc = res.delta.len() / n.max(1);
    let to2 = |v: Vec<f64>, cols: usize| {
        Array2::from_shape_vec((n, cols), v).map_err(|e| PyRuntimeError::new_err(e.to_string()))
    };
    let stats = PyDict::new(py);
    stats.set_item("nfe", res.nfe)?;
    if let Some(st) = res.stats {
        stats.set_item("accepted", Array1::from_vec(st.accepted).into_pyarray(py))?;
        stats.set_item("rejected", Array1::from_vec(st.rejected).into_pyarray(py))?;
    }
    Ok((
        to2(res.delta, acc)?.into_pyarray(py),
        to2(res.x_end, d)?.into_pyarray(py),
        stats,
    ))
}

/// `(s, sigma, f, g^2)` of a schedule at the times `t` (for tests against the Python forms).
#[pyfunction]
pub fn diffusion_schedule_at<'py>(
    py: Python<'py>,
    schedule_kind: &str,
    params: PyReadonlyArray1<'py, f64>,
    table: Option<PyReadonlyArray2<'py, f64>>,
    t: PyReadonlyArray1<'py, f64>,
) -> PyResult<Bound<'py, PyArray2<f64>>> {
    let sched = schedule(schedule_kind, &params, &table)?;
    let t = slice1(&t, "t")?;
    let mut out = Vec::with_capacity(t.len() * 4);
    for &ti in t {
        sched.check_time(ti)?;
        let c = sched.at(ti);
        out.extend_from_slice(&[c.s, c.sigma, c.f, c.g2]);
    }
    Ok(Array2::from_shape_vec((t.len(), 4), out)
        .map_err(|e| PyRuntimeError::new_err(e.to_string()))?
        .into_pyarray(py))
}

/// Standard normals of the counter-based generator: row `i` is sample `first_index + i` of
/// `stream` ("prior", "step", "corrector", "probe") at counter `step`.
#[pyfunction]
pub fn diffusion_normals<'py>(
    py: Python<'py>,
    seed: u64,
    stream: &str,
    first_index: u64,
    step: u64,
    n: usize,
    d: usize,
) -> PyResult<Bound<'py, PyArray2<f64>>> {
    let stream = match stream {
        "prior" => Stream::Prior,
        "step" => Stream::Step,
        "corrector" => Stream::Corrector,
        "probe" => Stream::Probe,
        other => return Err(PyValueError::new_err(format!("unknown stream {other:?}"))),
    };
    let noise = Noise::new(seed);
    let mut out = vec![0.0; n * d];
    py.detach(|| {
        fill_rows(&mut out, d, |i, row| {
            noise.normals(stream, first_index + i as u64, step, row);
        });
    });
    Ok(Array2::from_shape_vec((n, d), out)
        .map_err(|e| PyRuntimeError::new_err(e.to_string()))?
        .into_pyarray(py))
}
