//! Small dense kernels: covariance checks, Cholesky, triangular solves, a vectorisable exp.

use super::*;

/// Check one full covariance (`d x d`, row-major) for symmetry and PSD; symmetrise it in place.
pub(super) fn check_full(m: &mut [f64], d: usize, i: usize) -> Result<()> {
    let scale = (0..d).map(|j| m[j * d + j].abs()).fold(0.0, f64::max);
    for r in 0..d {
        for c in 0..r {
            let (u, l) = (m[r * d + c], m[c * d + r]);
            if (u - l).abs() > SYMMETRY_TOL * scale.max(f64::MIN_POSITIVE) {
                return Err(Error::invalid(format!(
                    "covariances must be symmetric; component {i} has entry ({r}, {c}) = {u} but \
                     ({c}, {r}) = {l}"
                )));
            }
            let avg = 0.5 * (u + l);
            m[r * d + c] = avg;
            m[c * d + r] = avg;
        }
    }
    // PSD within tolerance: Sigma + delta I must admit a Cholesky factorisation.
    let delta = PSD_TOL * scale.max(f64::MIN_POSITIVE) + f64::MIN_POSITIVE;
    let mut a = m.to_vec();
    for j in 0..d {
        a[j * d + j] += delta;
    }
    if scale == 0.0 && m.iter().any(|&v| v != 0.0) || !cholesky(&mut a, d) {
        return Err(Error::invalid(format!(
            "covariances must be positive semi-definite; component {i} has a negative eigenvalue"
        )));
    }
    Ok(())
}

/// In-place lower Cholesky factor of the `n x n` row-major `a` (upper triangle zeroed);
/// `false` when `a` is not positive definite.
pub(super) fn cholesky(a: &mut [f64], n: usize) -> bool {
    for j in 0..n {
        let mut diag = a[j * n + j];
        for p in 0..j {
            diag -= a[j * n + p] * a[j * n + p];
        }
        if diag.is_nan() || diag <= 0.0 {
            return false;
        }
        let ljj = diag.sqrt();
        a[j * n + j] = ljj;
        for i in j + 1..n {
            let mut v = a[i * n + j];
            for p in 0..j {
                v -= a[i * n + p] * a[j * n + p];
            }
            a[i * n + j] = v / ljj;
        }
        for c in j + 1..n {
            a[j * n + c] = 0.0;
        }
    }
    true
}

/// Solve `L y = b` in place (`L` lower triangular, row-major).
#[inline]
pub(super) fn forward(l: &[f64], n: usize, y: &mut [f64]) {
    for i in 0..n {
        let row = &l[i * n..i * n + i];
        let mut v = y[i];
        for (lp, yp) in row.iter().zip(&y[..i]) {
            v -= lp * yp;
        }
        y[i] = v / l[i * n + i];
    }
}

/// Coefficients of the Taylor polynomial of `exp` (degree 13), highest first.
pub(super) const EXP_TAYLOR: [f64; 14] = [
    1.0 / 6_227_020_800.0,
    1.0 / 479_001_600.0,
    1.0 / 39_916_800.0,
    1.0 / 3_628_800.0,
    1.0 / 362_880.0,
    1.0 / 40_320.0,
    1.0 / 5_040.0,
    1.0 / 720.0,
    1.0 / 120.0,
    1.0 / 24.0,
    1.0 / 6.0,
    0.5,
    1.0,
    1.0,
];

/// `exp(x)` in place for lanes `x <= 0` (including `-inf`), written as plain array loops so that
/// they vectorise: Cody-Waite reduction `x = n ln 2 + r`, `|r| <= ln 2 / 2`, and the Taylor
/// polynomial of degree 13 (truncation error below 2e-17 relative). Results below `exp(-708)`
/// flush to 0, which only drops components whose responsibility underflows anyway.
#[inline(always)]
pub(super) fn exp_lanes(x: &mut Lanes) {
    const LOG2_E: f64 = std::f64::consts::LOG2_E;
    const LN2_HI: f64 = 6.931_471_803_691_238e-1;
    const LN2_LO: f64 = 1.908_214_929_270_587_7e-10;
    // Adding and subtracting 1.5 * 2^52 rounds to the nearest integer.
    const MAGIC: f64 = 6_755_399_441_055_744.0;
    let mut t = [0.0; LANES];
    let mut r = [0.0; LANES];
    let mut p = [EXP_TAYLOR[0]; LANES];
    for l in 0..LANES {
        let xc = if x[l] < -708.0 { -708.0 } else { x[l] };
        t[l] = xc * LOG2_E + MAGIC;
        let n = t[l] - MAGIC;
        r[l] = (xc - n * LN2_HI) - n * LN2_LO;
    }
    for c in &EXP_TAYLOR[1..] {
        for l in 0..LANES {
            p[l] = p[l].mul_add(r[l], *c);
        }
    }
    for l in 0..LANES {
        // The low bits of t hold n in two's complement; shifting keeps (n + 1023) mod 2^12,
        // the biased exponent of 2^n for n in [-1022, 0].
        let scale = f64::from_bits(t[l].to_bits().wrapping_add(1023) << 52);
        x[l] = if x[l] < -708.0 { 0.0 } else { p[l] * scale };
    }
}
