//! Fixed-grid explicit Runge-Kutta methods (Euler, midpoint, Heun, RK4) over row systems.

use super::adaptive::RowSystem;
use super::model::axpby;
use crate::monitor::Monitor;
use crate::Result;

/// An explicit Runge-Kutta method of [`tableau`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RkMethod {
    /// Euler's method (1st order).
    Euler,
    /// The explicit midpoint method (2nd order).
    Midpoint,
    /// Heun's method (2nd order).
    Heun,
    /// Classic Runge-Kutta (4th order).
    Rk4,
}

/// An explicit Runge-Kutta tableau: `(c, a, b)`.
pub struct Tableau {
    c: &'static [f64],
    a: &'static [&'static [f64]],
    b: &'static [f64],
}

/// Euler, midpoint, Heun and classic RK4.
pub fn tableau(method: RkMethod) -> Tableau {
    match method {
        RkMethod::Euler => Tableau {
            c: &[0.0],
            a: &[&[]],
            b: &[1.0],
        },
        RkMethod::Midpoint => Tableau {
            c: &[0.0, 0.5],
            a: &[&[], &[0.5]],
            b: &[0.0, 1.0],
        },
        RkMethod::Heun => Tableau {
            c: &[0.0, 1.0],
            a: &[&[], &[1.0]],
            b: &[0.5, 0.5],
        },
        RkMethod::Rk4 => Tableau {
            c: &[0.0, 0.5, 0.5, 1.0],
            a: &[&[], &[0.5], &[0.0, 0.5], &[0.0, 0.0, 1.0]],
            b: &[1.0 / 6.0, 1.0 / 3.0, 1.0 / 3.0, 1.0 / 6.0],
        },
    }
}

/// One step of `tab` from time `t` to `t + h` for every row of `y` (updated in place); `k` and
/// `ys` are scratch buffers.
pub fn rk_step(
    sys: &mut dyn RowSystem,
    y: &mut [f64],
    t: f64,
    h: f64,
    tab: &Tableau,
    k: &mut Vec<Vec<f64>>,
    ys: &mut Vec<f64>,
) -> Result<()> {
    let stages = tab.b.len();
    k.resize(stages, Vec::new());
    for s in 0..stages {
        let ts = if tab.c[s] == 1.0 {
            t + h
        } else {
            t + tab.c[s] * h
        };
        let mut ks = std::mem::take(&mut k[s]);
        ks.resize(y.len(), 0.0);
        let r = if tab.a[s].iter().all(|&a| a == 0.0) {
            sys.deriv_at(y, ts, &mut ks)
        } else {
            ys.clear();
            ys.extend_from_slice(y);
            for (j, &a) in tab.a[s].iter().enumerate() {
                if a != 0.0 {
                    axpy(ys, h * a, &k[j]);
                }
            }
            sys.deriv_at(ys, ts, &mut ks)
        };
        k[s] = ks;
        r?;
    }
    for (s, &b) in tab.b.iter().enumerate() {
        if b != 0.0 {
            axpy(y, h * b, &k[s]);
        }
    }
    Ok(())
}

/// `y += a x`.
pub fn axpy(y: &mut [f64], a: f64, x: &[f64]) {
    axpby(x, None, y, a, 1.0);
}

/// Integrate every row of `y` along the grid `times` (either direction) with `tab`.
pub fn rk_fixed(
    sys: &mut dyn RowSystem,
    y: &mut [f64],
    times: &[f64],
    tab: &Tableau,
    monitor: &Monitor,
) -> Result<usize> {
    let (mut k, mut ys) = (Vec::new(), Vec::new());
    monitor.set_total(times.len().saturating_sub(1));
    for (step, win) in times.windows(2).enumerate() {
        monitor.check()?;
        sys.set_step(step);
        rk_step(sys, y, win[0], win[1] - win[0], tab, &mut k, &mut ys)?;
        monitor.advance(1);
    }
    Ok(sys.nfe())
}
