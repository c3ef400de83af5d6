//! Native closed forms of the linear noise processes `x_t = s(t) x_0 + sigma(t) n` that the
//! integrators need at arbitrary times: `s`, `sigma`, and the SDE coefficients `f(t)` (drift
//! `f(t) x`) and `g(t)^2`. They mirror `latentgeo.diffusion.processes` (tested against it).

use crate::{Error, Result};

/// The coefficients of a process at one time.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Coefs {
    /// Mean scale `s(t)`.
    pub s: f64,
    /// Noise standard deviation `sigma(t)`.
    pub sigma: f64,
    /// Drift coefficient `f(t)`.
    pub f: f64,
    /// Squared diffusion `g(t)^2`.
    pub g2: f64,
}

impl Coefs {
    /// The data themselves (`s = 1`, `sigma = 0`): the target of a final denoising step.
    pub const DATA: Coefs = Coefs {
        s: 1.0,
        sigma: 0.0,
        f: 0.0,
        g2: 0.0,
    };

    /// Half the log-SNR, `log(s / sigma)` (`+inf` at `sigma = 0`).
    pub fn lambda(&self) -> f64 {
        (self.s / self.sigma).ln()
    }
}

/// The family of a [`Schedule`], as the Python processes name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScheduleKind {
    /// `"vp"`: parameters `beta_min, beta_max`.
    Vp,
    /// `"subvp"`: parameters `beta_min, beta_max`.
    SubVp,
    /// `"cosine"`: parameter `cosine_s`.
    Cosine,
    /// `"ve"`: parameters `sigma_min, sigma_max`.
    Ve,
    /// `"edm"`: no parameters.
    Edm,
    /// `"discrete"`: the `alpha_bar` table.
    Discrete,
}

impl ScheduleKind {
    /// The name the Python layer uses.
    pub fn name(self) -> &'static str {
        match self {
            ScheduleKind::Vp => "vp",
            ScheduleKind::SubVp => "subvp",
            ScheduleKind::Cosine => "cosine",
            ScheduleKind::Ve => "ve",
            ScheduleKind::Edm => "edm",
            ScheduleKind::Discrete => "discrete",
        }
    }
}

/// A noise process known in closed form.
#[derive(Debug, Clone, PartialEq)]
pub enum Schedule {
    /// VP SDE with `beta(t) = beta_min + t (beta_max - beta_min)`.
    Vp { beta_min: f64, beta_max: f64 },
    /// Sub-VP SDE with the same beta.
    SubVp { beta_min: f64, beta_max: f64 },
    /// VP with the cosine schedule of Nichol & Dhariwal (offset `cosine_s`).
    VpCosine { cosine_s: f64 },
    /// VE SDE with the exact transition variance `sigma_min^2 expm1(2 r t)`.
    Ve { sigma_min: f64, sigma_max: f64 },
    /// EDM: `s = 1`, `sigma = t`.
    Edm,
    /// The discrete DDPM chain; times are indices `0..T`, and `-1` is the data.
    Discrete {
        /// `alpha_bar[t]`.
        alpha_bar: Vec<f64>,
        /// `1 - alpha_bar[t]`, computed without cancellation.
        one_minus: Vec<f64>,
    },
}

impl Schedule {
    /// Build from a kind and its parameters (`table` = `[alpha_bar, 1 - alpha_bar]` for
    /// "discrete").
    pub fn new(
        kind: ScheduleKind,
        params: &[f64],
        table: Option<(&[f64], &[f64])>,
    ) -> Result<Self> {
        let want = |n: usize| -> Result<()> {
            if params.len() != n || params.iter().any(|p| !p.is_finite()) {
                return Err(Error::invalid(format!(
                    "schedule {:?} needs {n} finite parameters, got {params:?}",
                    kind.name()
                )));
            }
            Ok(())
        };
        Ok(match kind {
            ScheduleKind::Vp | ScheduleKind::SubVp => {
                want(2)?;
                let (beta_min, beta_max) = (params[0], params[1]);
                if beta_min < 0.0 || beta_max < beta_min || beta_max <= 0.0 {
                    return Err(Error::invalid(format!(
                        "need 0 <= beta_min <= beta_max, beta_max > 0; got {beta_min}, {beta_max}"
                    )));
                }
                if kind == ScheduleKind::Vp {
                    Schedule::Vp { beta_min, beta_max }
                } else {
                    Schedule::SubVp { beta_min, beta_max }
                }
            }
            ScheduleKind::Cosine => {
                want(1)?;
                Schedule::VpCosine {
                    cosine_s: params[0],
                }
            }
            ScheduleKind::Ve => {
                want(2)?;
                if !(params[0] > 0.0 && params[1] > params[0]) {
                    return Err(Error::invalid("need 0 < sigma_min < sigma_max"));
                }
                Schedule::Ve {
                    sigma_min: params[0],
                    sigma_max: params[1],
                }
            }
            ScheduleKind::Edm => {
                want(0)?;
                Schedule::Edm
            }
            ScheduleKind::Discrete => {
                let (ab, om) = table.ok_or_else(|| {
                    Error::invalid("the discrete schedule needs its alpha_bar table")
                })?;
                if ab.is_empty() || ab.len() != om.len() {
                    return Err(Error::invalid("alpha_bar and 1 - alpha_bar must match"));
                }
                if ab
                    .iter()
                    .chain(om)
                    .any(|v| !(v.is_finite() && *v > 0.0 && *v <= 1.0))
                {
                    return Err(Error::invalid("alpha_bar entries must lie in (0, 1)"));
                }
                Schedule::Discrete {
                    alpha_bar: ab.to_vec(),
                    one_minus: om.to_vec(),
                }
            }
        })
    }

    /// Whether times are the integer indices of a discrete chain (no `f`, `g^2`).
    pub fn is_discrete(&self) -> bool {
        matches!(self, Schedule::Discrete { .. })
    }

    /// Check a time: finite, and for a discrete chain an index in `-1..T` (`-1` = data).
    pub fn check_time(&self, t: f64) -> Result<()> {
        if !t.is_finite() {
            return Err(Error::invalid(format!("time {t} is not finite")));
        }
        if let Schedule::Discrete { alpha_bar, .. } = self {
            if t != t.round() || t < -1.0 || t >= alpha_bar.len() as f64 {
                return Err(Error::invalid(format!(
                    "time {t} is not an index of the discrete chain (0..{})",
                    alpha_bar.len()
                )));
            }
        }
        Ok(())
    }

    /// The coefficients at time `t` (assumed valid; see [`Schedule::check_time`]). A discrete
    /// chain has no SDE coefficients: `f` and `g2` are NaN there.
    pub fn at(&self, t: f64) -> Coefs {
        match *self {
            Schedule::Vp { beta_min, beta_max } | Schedule::SubVp { beta_min, beta_max } => {
                let beta = beta_min + t * (beta_max - beta_min);
                let big_b = beta_min * t + 0.5 * (beta_max - beta_min) * t * t;
                let s = (-0.5 * big_b).exp();
                let one_minus = -(-big_b).exp_m1();
                if matches!(self, Schedule::Vp { .. }) {
                    Coefs {
                        s,
                        sigma: one_minus.sqrt(),
                        f: -0.5 * beta,
                        g2: beta,
                    }
                } else {
                    Coefs {
                        s,
                        sigma: one_minus,
                        f: -0.5 * beta,
                        g2: beta * -(-2.0 * big_b).exp_m1(),
                    }
                }
            }
            Schedule::VpCosine { cosine_s } => {
                let half_pi = std::f64::consts::FRAC_PI_2;
                let theta = (t + cosine_s) / (1.0 + cosine_s) * half_pi;
                let theta0 = cosine_s / (1.0 + cosine_s) * half_pi;
                let beta = std::f64::consts::PI * theta.tan() / (1.0 + cosine_s);
                Coefs {
                    s: theta.cos() / theta0.cos(),
                    sigma: ((theta - theta0).sin() * (theta + theta0).sin()).sqrt() / theta0.cos(),
                    f: -0.5 * beta,
                    g2: beta,
                }
            }
            Schedule::Ve {
                sigma_min,
                sigma_max,
            } => {
                let r = (sigma_max / sigma_min).ln();
                let geo = sigma_min * (r * t).exp();
                Coefs {
                    s: 1.0,
                    sigma: sigma_min * (2.0 * r * t).exp_m1().sqrt(),
                    f: 0.0,
                    g2: 2.0 * r * geo * geo,
                }
            }
            Schedule::Edm => Coefs {
                s: 1.0,
                sigma: t,
                f: 0.0,
                g2: 2.0 * t,
            },
            Schedule::Discrete {
                ref alpha_bar,
                ref one_minus,
            } => {
                if t < 0.0 {
                    return Coefs::DATA;
                }
                let i = t as usize;
                Coefs {
                    s: alpha_bar[i].sqrt(),
                    sigma: one_minus[i].sqrt(),
                    f: f64::NAN,
                    g2: f64::NAN,
                }
            }
        }
    }
}
