//! Binding of [`crate::unargmax`]: the report comes back as a dict of flat numpy arrays that
//! `latentgeo.unargmax` wraps in `UnargmaxReport`.

use numpy::ndarray::Array1;
use numpy::{IntoPyArray, PyArray1, PyReadonlyArray1, PyReadonlyArray2};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use super::convert::{array2, indices, matrix, slice1, with_rows, Rows};
use super::monitor::run_monitored;
use crate::real::Real;
use crate::unargmax::{
    gram_top_scores, top_scores, unargmaxable, Stage, Status, TopScores, UnargParams, Witness,
};

/// Unargmaxable classes of the float32 or float64 weights `w` (with float64 bias `b`); see
/// `latentgeo.unargmaxable`.
#[allow(clippy::too_many_arguments)]
#[pyfunction]
#[pyo3(signature = (
    w, *, b=None, classes=None, bounds=None, tol, patience, n_threads=None, progress=None
))]
pub fn unargmax<'py>(
    w: Rows<'py>,
    b: Option<PyReadonlyArray1<'py, f64>>,
    classes: Option<PyReadonlyArray1<'py, i64>>,
    bounds: Option<f64>,
    tol: f64,
    patience: usize,
    n_threads: Option<usize>,
    progress: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyDict>> {
    let classes = match &classes {
        Some(c) => Some(indices(slice1(c, "classes")?, |k| {
            format!("class {k} is out of range (negative)")
        })?),
        None => None,
    };
    let params = UnargParams {
        classes,
        bounds,
        tol,
        patience,
        n_threads,
    };
    with_rows!(w, |w| report(w, b, &params, progress))
}

fn report<'py, T: Real + numpy::Element>(
    w: PyReadonlyArray2<'py, T>,
    b: Option<PyReadonlyArray1<'py, f64>>,
    params: &UnargParams,
    progress: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyDict>> {
    let py = w.py();
    let wm = matrix(&w, "W")?;
    let bs = b.as_ref().map(|b| slice1(b, "b")).transpose()?;
    let rep = run_monitored(py, "unargmax", progress, |mon| {
        unargmaxable(wm, bs, params, mon)
    })?;
    let n = rep.verdicts.len();
    let d = wm.cols;
    let mut status = Vec::with_capacity(n);
    let mut stage = Vec::with_capacity(n);
    let mut margin = Vec::with_capacity(n);
    let mut alpha = vec![f64::NAN; n];
    let (mut wpos, mut wx) = (Vec::new(), Vec::new());
    let (mut cpos, mut cptr, mut cidx, mut cw) = (Vec::new(), vec![0i64], Vec::new(), Vec::new());
    for (i, v) in rep.verdicts.iter().enumerate() {
        status.push(match v.status {
            Status::Argmaxable => 0u8,
            Status::Unargmaxable => 1,
            Status::Undecided => 2,
        });
        stage.push(match v.stage {
            Stage::Screen => 0u8,
            Stage::Heuristic => 1,
            Stage::Lp => 2,
        });
        margin.push(v.margin);
        match &v.witness {
            Some(Witness::Scaled(a)) => alpha[i] = *a,
            Some(Witness::Point(x)) => {
                wpos.push(i as i64);
                wx.extend_from_slice(x);
            }
            None => {}
        }
        if let Some((idx, wts)) = &v.certificate {
            cpos.push(i as i64);
            cidx.extend(idx.iter().map(|&j| j as i64));
            cw.extend_from_slice(wts);
            cptr.push(cidx.len() as i64);
        }
    }
    let nw = wpos.len();
    let wx = array2(py, (nw, d), wx)?;
    let out = PyDict::new(py);
    out.set_item("status", Array1::from_vec(status).into_pyarray(py))?;
    out.set_item("stage", Array1::from_vec(stage).into_pyarray(py))?;
    out.set_item("margin", Array1::from_vec(margin).into_pyarray(py))?;
    out.set_item("alpha", Array1::from_vec(alpha).into_pyarray(py))?;
    out.set_item("witness_pos", Array1::from_vec(wpos).into_pyarray(py))?;
    out.set_item("witness_x", wx)?;
    out.set_item("cert_pos", Array1::from_vec(cpos).into_pyarray(py))?;
    out.set_item("cert_indptr", Array1::from_vec(cptr).into_pyarray(py))?;
    out.set_item("cert_indices", Array1::from_vec(cidx).into_pyarray(py))?;
    out.set_item("cert_weights", Array1::from_vec(cw).into_pyarray(py))?;
    out.set_item("timings", rep.timings.to_vec())?;
    match rep.basis {
        Some(basis) => {
            out.set_item("basis_r", array2(py, (d, d), basis.r)?)?;
            out.set_item("basis_mu", Array1::from_vec(basis.mu).into_pyarray(py))?;
        }
        None => out.set_item("basis_r", py.None())?,
    }
    Ok(out)
}

/// `(top, arg, second)` per witness row of the float32 `x` (scales `s`) against the rows of the
/// float32 `w` (row terms `a`, `b`): scores `(w_j . x_c + a_j s_c) + b_j`, each witness's own
/// class (`classes`) left out. The fast pass of `UnargmaxReport.verify()`.
#[pyfunction]
#[pyo3(signature = (w, a, b, x, s, classes, *, n_threads=None))]
#[allow(clippy::too_many_arguments)]
pub fn witness_top_scores<'py>(
    w: PyReadonlyArray2<'py, f32>,
    a: PyReadonlyArray1<'py, f32>,
    b: PyReadonlyArray1<'py, f32>,
    x: PyReadonlyArray2<'py, f32>,
    s: PyReadonlyArray1<'py, f32>,
    classes: PyReadonlyArray1<'py, i64>,
    n_threads: Option<usize>,
) -> PyResult<TopArrays<'py>> {
    let py = w.py();
    let (wm, xm) = (matrix(&w, "w")?, matrix(&x, "x")?);
    let (a, b, s) = (slice1(&a, "a")?, slice1(&b, "b")?, slice1(&s, "s")?);
    let cs = slice1(&classes, "classes")?;
    let t = run_monitored(py, "witness_top_scores", None, |mon| {
        top_scores(wm, (a, b), xm, s, cs, n_threads, mon)
    })?;
    Ok(top_arrays(py, t))
}

/// `(top, arg, second)` per class `k` with `wanted[k]` of the scores `y_j . y_k + p_j . q_k`
/// over the rows `j != k` of the float32 `y` (row terms `p`, column terms `q`): the Gram pass of
/// `UnargmaxReport.verify()`.
#[pyfunction]
#[pyo3(signature = (y, p, q, wanted, *, n_threads=None))]
pub fn witness_gram_top_scores<'py>(
    y: PyReadonlyArray2<'py, f32>,
    p: PyReadonlyArray2<'py, f32>,
    q: PyReadonlyArray2<'py, f32>,
    wanted: PyReadonlyArray1<'py, bool>,
    n_threads: Option<usize>,
) -> PyResult<TopArrays<'py>> {
    let py = y.py();
    let (ym, pm, qm) = (matrix(&y, "y")?, matrix(&p, "p")?, matrix(&q, "q")?);
    let wanted = slice1(&wanted, "wanted")?;
    let t = run_monitored(py, "witness_gram_top_scores", None, |mon| {
        gram_top_scores(ym, pm, qm, wanted, n_threads, mon)
    })?;
    Ok(top_arrays(py, t))
}

fn top_arrays(py: Python<'_>, t: TopScores) -> TopArrays<'_> {
    (
        t.top.into_pyarray(py),
        t.arg.into_pyarray(py),
        t.second.into_pyarray(py),
    )
}

type TopArrays<'py> = (
    Bound<'py, PyArray1<f32>>,
    Bound<'py, PyArray1<i64>>,
    Bound<'py, PyArray1<f32>>,
);
