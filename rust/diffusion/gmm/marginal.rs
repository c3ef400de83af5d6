//! The marginal `p_t` of the mixture at one `(s, sigma)` and its blocked, lane-wise
//! evaluation.

use super::*;

impl GaussianMixture {
    /// The marginal `p_t` at one `(s, sigma)`: per-component means, factors and constants.
    pub(super) fn marginal(&self, s: f64, sigma: f64) -> Result<Marginal> {
        let (k, d) = (self.k, self.d);
        let s2 = s * s;
        let v2 = sigma * sigma;
        let means: Vec<f64> = self.means.iter().map(|m| s * m).collect();
        let mut log_const = Vec::with_capacity(k);
        let mut tr_prec = Vec::with_capacity(k);
        let singular = |i: usize| {
            Error::invalid(format!(
                "the covariance s^2 Sigma + sigma^2 I of component {i} is singular at s = {s}, \
                 sigma = {sigma}: the density is not defined (use sigma > 0 for a degenerate \
                 covariance)"
            ))
        };
        let factor = match &self.covariances {
            Covariances::Full(c) => {
                let mut chol = Vec::with_capacity(k * d * d);
                for (i, m) in c.chunks(d * d).enumerate() {
                    let mut a: Vec<f64> = m.iter().map(|v| s2 * v).collect();
                    for j in 0..d {
                        a[j * d + j] += v2;
                    }
                    if !cholesky(&mut a, d) {
                        return Err(singular(i));
                    }
                    let logdet: f64 = (0..d).map(|j| a[j * d + j].ln()).sum::<f64>() * 2.0;
                    if !logdet.is_finite() {
                        return Err(singular(i));
                    }
                    // W = L^-1 column by column (solve L y = e_j); tr(C^-1) = ||W||_F^2.
                    let mut w = vec![0.0; d * d];
                    let mut y = vec![0.0; d];
                    for j in 0..d {
                        y.iter_mut().for_each(|v| *v = 0.0);
                        y[j] = 1.0;
                        forward(&a, d, &mut y);
                        for (r, &v) in y.iter().enumerate() {
                            w[r * d + j] = v;
                        }
                    }
                    if !w.iter().all(|v| v.is_finite()) {
                        return Err(singular(i));
                    }
                    tr_prec.push(w.iter().map(|v| v * v).sum::<f64>());
                    log_const.push(self.weights[i].ln() - 0.5 * (d as f64 * LN_2PI + logdet));
                    chol.extend_from_slice(&w);
                }
                Factor::Full(chol)
            }
            Covariances::Diag(c) => {
                let mut inv = Vec::with_capacity(k * d);
                for (i, m) in c.chunks(d).enumerate() {
                    let mut logdet = 0.0;
                    let mut tr = 0.0;
                    for &v in m {
                        let var = s2 * v + v2;
                        if !(var > 0.0 && var.is_finite()) {
                            return Err(singular(i));
                        }
                        logdet += var.ln();
                        tr += 1.0 / var;
                        inv.push(1.0 / var);
                    }
                    tr_prec.push(tr);
                    log_const.push(self.weights[i].ln() - 0.5 * (d as f64 * LN_2PI + logdet));
                }
                Factor::Diag(inv)
            }
            Covariances::Spherical(c) => {
                let mut inv = Vec::with_capacity(k);
                for (i, &v) in c.iter().enumerate() {
                    let var = s2 * v + v2;
                    if !(var > 0.0 && var.is_finite()) {
                        return Err(singular(i));
                    }
                    inv.push(1.0 / var);
                    tr_prec.push(d as f64 / var);
                    log_const.push(self.weights[i].ln() - 0.5 * d as f64 * (LN_2PI + var.ln()));
                }
                Factor::Spherical(inv)
            }
        };
        Ok(Marginal {
            s,
            sigma,
            means,
            log_const,
            tr_prec,
            factor,
        })
    }
}

#[derive(Debug, Clone)]
pub(super) enum Factor {
    /// Inverses `W_k = L_k^-1` of the lower Cholesky factors of `C_k` (so `P_k = W_k^T W_k`),
    /// lower triangular, `K x d x d`.
    Full(Vec<f64>),
    /// Inverse variances, `K x d`.
    Diag(Vec<f64>),
    /// Inverse variances, `K`.
    Spherical(Vec<f64>),
}

/// `p_t` at one `(s, sigma)`.
#[derive(Debug, Clone)]
pub(super) struct Marginal {
    pub(super) s: f64,
    pub(super) sigma: f64,
    /// `s mu_k`, `K x d`.
    pub(super) means: Vec<f64>,
    /// `log pi_k - (d log 2 pi + log det C_k) / 2`.
    pub(super) log_const: Vec<f64>,
    /// `tr C_k^-1`.
    pub(super) tr_prec: Vec<f64>,
    pub(super) factor: Factor,
}

/// Per-block scratch, structure-of-arrays: entry `(i, j)` of lane `l` at `(i * d + j) * LANES + l`.
pub(super) struct Scratch {
    /// Per component: `W (x - m_k)` (full) or `x - m_k`, then `C_k^-1 (x - m_k)`.
    pub(super) z: Vec<f64>,
    /// Per component log-terms, then `exp(term - max)`.
    pub(super) logits: Vec<f64>,
    /// The transposed block of points, `d x LANES`.
    pub(super) xt: Vec<f64>,
    /// The score, `d x LANES`.
    pub(super) g: Vec<f64>,
    /// Per lane, the largest log-term and the sum of `exp(term - max)`: the log-density is
    /// `max + ln(total)` (taken by the caller only where wanted: LLVM speculates the `ln`
    /// calls of a conditional loop here).
    pub(super) max: [f64; LANES],
    pub(super) total: [f64; LANES],
    /// Laplacians of `log p_t`.
    pub(super) lap: [f64; LANES],
}

impl Scratch {
    pub(super) fn new(k: usize, d: usize) -> Self {
        Scratch {
            z: vec![0.0; k * d * LANES],
            logits: vec![0.0; k * LANES],
            xt: vec![0.0; d * LANES],
            g: vec![0.0; d * LANES],
            max: [0.0; LANES],
            total: [0.0; LANES],
            lap: [0.0; LANES],
        }
    }
}

pub(super) type Lanes = [f64; LANES];

#[inline(always)]
pub(super) fn lanes(v: &[f64], at: usize) -> &Lanes {
    v[at * LANES..(at + 1) * LANES]
        .try_into()
        .expect("LANES long")
}

#[inline(always)]
pub(super) fn lanes_mut(v: &mut [f64], at: usize) -> &mut Lanes {
    (&mut v[at * LANES..(at + 1) * LANES])
        .try_into()
        .expect("LANES long")
}

impl Marginal {
    /// The log-density terms of the `n <= LANES` points `xs` (`n x d`, row-major) into
    /// `sc.max` and `sc.total`; with `vector`, also the scores (`sc.g`) and the Laplacians of
    /// `log p_t` (`sc.lap`, only with `laplacian`). Unused lanes hold zeros; every lane goes
    /// through the same operations.
    #[inline(always)]
    pub(super) fn block(
        &self,
        xs: &[f64],
        n: usize,
        sc: &mut Scratch,
        vector: bool,
        laplacian: bool,
    ) {
        let d = xs.len() / n;
        let k = self.log_const.len();
        for j in 0..d {
            let row = lanes_mut(&mut sc.xt, j);
            for (l, v) in row.iter_mut().enumerate() {
                *v = if l < n { xs[l * d + j] } else { 0.0 };
            }
        }
        // Pass 1: residuals and log-terms.
        for i in 0..k {
            let m = &self.means[i * d..(i + 1) * d];
            let z = &mut sc.z[i * d * LANES..(i + 1) * d * LANES];
            for (j, &mj) in m.iter().enumerate() {
                let xj = *lanes(&sc.xt, j);
                let zj = lanes_mut(z, j);
                for l in 0..LANES {
                    zj[l] = xj[l] - mj;
                }
            }
            let mut quad = [0.0; LANES];
            match &self.factor {
                Factor::Full(w) => {
                    // z = W (x - m), in place from the last row up (row r reads entries <= r).
                    let w = &w[i * d * d..(i + 1) * d * d];
                    for r in (0..d).rev() {
                        let mut v = [0.0; LANES];
                        for p in 0..=r {
                            let (wrp, zp) = (w[r * d + p], lanes(z, p));
                            for l in 0..LANES {
                                v[l] = wrp.mul_add(zp[l], v[l]);
                            }
                        }
                        for l in 0..LANES {
                            quad[l] = v[l].mul_add(v[l], quad[l]);
                        }
                        *lanes_mut(z, r) = v;
                    }
                }
                Factor::Diag(inv) => {
                    for j in 0..d {
                        let (zj, pj) = (lanes(z, j), inv[i * d + j]);
                        for l in 0..LANES {
                            quad[l] += zj[l] * zj[l] * pj;
                        }
                    }
                }
                Factor::Spherical(inv) => {
                    for j in 0..d {
                        let zj = lanes(z, j);
                        for l in 0..LANES {
                            quad[l] += zj[l] * zj[l];
                        }
                    }
                    quad.iter_mut().for_each(|q| *q *= inv[i]);
                }
            }
            let li = lanes_mut(&mut sc.logits, i);
            for l in 0..LANES {
                li[l] = self.log_const[i] - 0.5 * quad[l];
            }
        }
        let mut max = [f64::NEG_INFINITY; LANES];
        for i in 0..k {
            let li = lanes(&sc.logits, i);
            for l in 0..LANES {
                max[l] = max[l].max(li[l]);
            }
        }
        let mut total = [0.0; LANES];
        for i in 0..k {
            let li = lanes_mut(&mut sc.logits, i);
            for l in 0..LANES {
                li[l] -= max[l];
            }
            exp_lanes(li);
            for l in 0..LANES {
                total[l] += li[l];
            }
        }
        sc.max = max;
        sc.total = total;
        if !vector {
            return;
        }
        // Pass 2: C_k^-1 (x - m_k) = -g_k, responsibilities r_k, score and Laplacian.
        sc.g.iter_mut().for_each(|v| *v = 0.0);
        let mut lap = [0.0; LANES];
        let inv_total = total.map(|t| 1.0 / t);
        for i in 0..k {
            let mut r = *lanes(&sc.logits, i);
            for l in 0..LANES {
                r[l] *= inv_total[l];
            }
            let z = &mut sc.z[i * d * LANES..(i + 1) * d * LANES];
            match &self.factor {
                Factor::Full(w) => {
                    // W^T z in place from the first entry down (entry j reads z_r, r >= j).
                    let w = &w[i * d * d..(i + 1) * d * d];
                    for j in 0..d {
                        let mut v = [0.0; LANES];
                        for rr in j..d {
                            let (wrj, zr) = (w[rr * d + j], lanes(z, rr));
                            for l in 0..LANES {
                                v[l] = wrj.mul_add(zr[l], v[l]);
                            }
                        }
                        *lanes_mut(z, j) = v;
                    }
                }
                Factor::Diag(inv) => {
                    for j in 0..d {
                        let pj = inv[i * d + j];
                        lanes_mut(z, j).iter_mut().for_each(|v| *v *= pj);
                    }
                }
                Factor::Spherical(inv) => z.iter_mut().for_each(|v| *v *= inv[i]),
            }
            if !laplacian {
                for j in 0..d {
                    let zj = *lanes(z, j);
                    let gj = lanes_mut(&mut sc.g, j);
                    for l in 0..LANES {
                        gj[l] = (-r[l]).mul_add(zj[l], gj[l]);
                    }
                }
                continue;
            }
            let mut gk2 = [0.0; LANES];
            for j in 0..d {
                let zj = *lanes(z, j);
                let gj = lanes_mut(&mut sc.g, j);
                for l in 0..LANES {
                    gj[l] -= r[l] * zj[l];
                    gk2[l] += zj[l] * zj[l];
                }
            }
            for l in 0..LANES {
                lap[l] += r[l] * (gk2[l] - self.tr_prec[i]);
            }
        }
        if !laplacian {
            return;
        }
        for j in 0..d {
            let gj = lanes(&sc.g, j);
            for l in 0..LANES {
                lap[l] -= gj[l] * gj[l];
            }
        }
        sc.lap = lap;
    }
}
