//! Helpers shared by the unit tests of every module (compiled only for `cargo test`).

/// `len` pseudo-random numbers uniform in [-1, 1) from a 64-bit LCG started at `seed`: the one
/// deterministic test stream of the crate (no RNG dependency, same numbers on every platform).
pub(crate) fn lcg(seed: u64, len: usize) -> Vec<f64> {
    let mut s = seed;
    (0..len)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
        })
        .collect()
}

/// `min_{j != k} (w_k - w_j) . x + b_k - b_j` for the row-major `V x d` matrix `w`, computed
/// plainly in f64: an independent check of a claimed witness (positive: `k` wins at `x`).
pub(crate) fn winning_margin(w: &[f64], d: usize, b: Option<&[f64]>, k: usize, x: &[f64]) -> f64 {
    let z = |j: usize| -> f64 {
        let dot: f64 = w[j * d..(j + 1) * d]
            .iter()
            .zip(x)
            .map(|(a, v)| a * v)
            .sum();
        dot + b.map_or(0.0, |b| b[j])
    };
    (0..w.len() / d)
        .filter(|&j| j != k)
        .map(|j| z(k) - z(j))
        .fold(f64::INFINITY, f64::min)
}

/// For a claimed unargmaxability certificate of row `k`: `(|sum l_j w_j - w_k|_inf, sum l_j b_j
/// - b_k, |sum l_j - 1|, min l_j)` with the weights as given (not renormalised).
pub(crate) fn certificate_residuals(
    w: &[f64],
    d: usize,
    b: Option<&[f64]>,
    k: usize,
    indices: &[usize],
    weights: &[f64],
) -> (f64, f64, f64, f64) {
    let mut r: Vec<f64> = w[k * d..(k + 1) * d].iter().map(|v| -v).collect();
    let mut bias = -b.map_or(0.0, |b| b[k]);
    for (&j, &l) in indices.iter().zip(weights) {
        for (ri, wi) in r.iter_mut().zip(&w[j * d..(j + 1) * d]) {
            *ri += l * wi;
        }
        bias += l * b.map_or(0.0, |b| b[j]);
    }
    let sum: f64 = weights.iter().sum();
    let min = weights.iter().copied().fold(f64::INFINITY, f64::min);
    let res = r.iter().fold(0.0f64, |a, v| a.max(v.abs()));
    (res, bias, (sum - 1.0).abs(), min)
}

/// The square `(+-1, +-1)` of d = 2 and its centre (row 4): the centre is unargmaxable without a
/// bias, the corners are argmaxable.
pub(crate) const SQUARE_AND_CENTRE: [f64; 10] =
    [1.0, 1.0, 1.0, -1.0, -1.0, 1.0, -1.0, -1.0, 0.0, 0.0];
