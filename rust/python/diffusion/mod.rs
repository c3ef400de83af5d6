//! Bindings of [`crate::diffusion`]: the sampler and likelihood loops over an analytic
//! `GaussianMixtureCore` (GIL released) or a Python batch callable (called once per evaluation,
//! on the calling thread), plus the schedule and noise helpers the Python tests compare against.

use numpy::{PyArray2, PyReadonlyArray1, PyReadonlyArray2};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

pub mod gmm;
mod likelihood;
mod model;
mod recorder;
mod sample;

pub use likelihood::diffusion_likelihood;
pub use sample::diffusion_sample;

use super::convert::{array2, matrix, slice1, Wrap};
use super::monitor::guarded;
use crate::buffers;
use crate::diffusion::model::fill_rows;
use crate::diffusion::rng::{check_indices, Noise, Stream};
use crate::diffusion::schedule::{Schedule, ScheduleKind};

/// A noise process as the tuple `(kind, params, table)` (`table` = `[alpha_bar, 1 - alpha_bar]`
/// of a discrete chain, else `None`).
#[derive(FromPyObject)]
pub struct Process<'py>(
    Wrap<ScheduleKind>,
    PyReadonlyArray1<'py, f64>,
    Option<PyReadonlyArray2<'py, f64>>,
);

impl Process<'_> {
    /// The validated schedule.
    fn schedule(&self) -> PyResult<Schedule> {
        let params = slice1(&self.1, "params")?;
        let table = match &self.2 {
            Some(t) => {
                let m = matrix(t, "table")?;
                if m.rows != 2 {
                    return Err(PyValueError::new_err("table must have two rows"));
                }
                Some((&m.data[..m.cols], &m.data[m.cols..]))
            }
            None => None,
        };
        Ok(Schedule::new(self.0 .0, params, table)?)
    }
}

/// `(s, sigma, f, g^2)` of a schedule at the times `t` (for tests against the Python forms).
#[pyfunction]
#[pyo3(signature = (process, t))]
pub fn diffusion_schedule_at<'py>(
    process: Process<'py>,
    t: PyReadonlyArray1<'py, f64>,
) -> PyResult<Bound<'py, PyArray2<f64>>> {
    let py = t.py();
    let sched = process.schedule()?;
    let t = slice1(&t, "t")?;
    let mut out = buffers::with_capacity(t.len().saturating_mul(4), "the schedule table")?;
    for &ti in t {
        sched.check_time(ti)?;
        let c = sched.at(ti);
        out.extend_from_slice(&[c.s, c.sigma, c.f, c.g2]);
    }
    array2(py, (t.len(), 4), out)
}

/// Standard normals of the counter-based generator: row `i` is sample `first_index + i` of
/// `stream` at counter `step`.
#[pyfunction]
#[pyo3(signature = (seed, *, stream, first_index, step, n, d))]
pub fn diffusion_normals(
    py: Python<'_>,
    seed: u64,
    stream: Wrap<Stream>,
    first_index: u64,
    step: u64,
    n: usize,
    d: usize,
) -> PyResult<Bound<'_, PyArray2<f64>>> {
    let noise = Noise::new(seed);
    check_indices(first_index, n)?;
    let what = format!("{n} x {d} normal draws");
    let len = buffers::product(&[n, d], &what)?;
    let mut out: Vec<f64> = buffers::zeros(len, &what)?;
    guarded("diffusion_normals", || {
        py.detach(|| {
            crate::parallel::in_pool(|| {
                fill_rows(&mut out, d, |i, row| {
                    noise.normals(stream.0, first_index + i as u64, step, row);
                });
            })
        })?;
        Ok(())
    })?;
    array2(py, (n, d), out)
}
