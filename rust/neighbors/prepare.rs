//! The rows in the form the GEMM kernel ranks (centred, normalised), plus the norms the
//! rounding-error bound needs.

use super::*;

/// The rows in the form the GEMM kernel ranks, plus what the error bound needs.
pub(super) struct Prepared<'a, T: Real> {
    pub(super) data: Cow<'a, [T]>,
    pub(super) query: Option<Cow<'a, [T]>>,
    /// Per data row: `|x|^2` (Euclidean metrics) or 0.
    pub(super) bias: Vec<T>,
    /// Largest norm of a prepared data row.
    pub(super) max_norm: f64,
    /// Coefficient of the dot product in the key (-2 or -1, exact in T).
    pub(super) coef: T,
    pub(super) metric: Metric,
    /// Original norms for the exact cosine (data, query).
    pub(super) data_norms: Vec<f64>,
    pub(super) query_norms: Option<Vec<f64>>,
}

impl<'a, T: Real> Prepared<'a, T> {
    pub(super) fn new(data: Matrix<'a, T>, query: Option<Matrix<'a, T>>, metric: Metric) -> Self {
        let d = data.cols;
        let mean = if metric.is_euclidean() {
            column_mean(data)
        } else {
            vec![]
        };
        let transform = |m: Matrix<'a, T>| -> Cow<'a, [T]> {
            match metric {
                Metric::Euclidean | Metric::SqEuclidean => Cow::Owned(
                    m.data
                        .chunks_exact(d)
                        .flat_map(|r| {
                            r.iter()
                                .zip(&mean)
                                .map(|(v, mu)| T::from_f64(v.to_f64() - mu))
                        })
                        .collect(),
                ),
                Metric::Cosine => Cow::Owned(
                    m.data
                        .chunks_exact(d)
                        .flat_map(|r| {
                            let nr = norm(r);
                            let s = if nr > 0.0 { 1.0 / nr } else { 0.0 };
                            r.iter().map(move |v| T::from_f64(v.to_f64() * s))
                        })
                        .collect(),
                ),
                Metric::InnerProduct => Cow::Borrowed(m.data),
            }
        };
        let pdata = transform(data);
        let pquery = query.map(transform);
        let norms: Vec<f64> = pdata.chunks_exact(d).map(norm).collect();
        let max_norm = norms.iter().cloned().fold(0.0, f64::max);
        let bias = if metric.is_euclidean() {
            norms.iter().map(|v| T::from_f64(v * v)).collect()
        } else {
            vec![T::ZERO; data.rows]
        };
        let (data_norms, query_norms) = if metric == Metric::Cosine {
            (
                data.data.chunks_exact(d).map(norm).collect(),
                query.map(|q| q.data.chunks_exact(d).map(norm).collect()),
            )
        } else {
            (vec![], None)
        };
        let coef = T::from_f64(if metric.is_euclidean() { -2.0 } else { -1.0 });
        Prepared {
            data: pdata,
            query: pquery,
            bias,
            max_norm,
            coef,
            metric,
            data_norms,
            query_norms,
        }
    }

    /// The same prepared rows with the roles of data and query exchanged (the query's biases
    /// and largest norm computed), so one GEMM tile can rank in both directions.
    pub(super) fn swapped(&self, d: usize) -> Self {
        let query = self.query.clone().unwrap_or_else(|| self.data.clone());
        let norms: Vec<f64> = query.chunks_exact(d).map(norm).collect();
        let max_norm = norms.iter().cloned().fold(0.0, f64::max);
        let bias = if self.metric.is_euclidean() {
            norms.iter().map(|v| T::from_f64(v * v)).collect()
        } else {
            vec![T::ZERO; norms.len()]
        };
        let (data_norms, query_norms) = if self.metric == Metric::Cosine {
            let q = self
                .query_norms
                .clone()
                .unwrap_or_else(|| self.data_norms.clone());
            (q, Some(self.data_norms.clone()))
        } else {
            (vec![], None)
        };
        Prepared {
            data: query,
            query: Some(self.data.clone()),
            bias,
            max_norm,
            coef: self.coef,
            metric: self.metric,
            data_norms,
            query_norms,
        }
    }

    pub(super) fn query(&self) -> &[T] {
        self.query.as_deref().unwrap_or(&self.data)
    }

    pub(super) fn query_norm(&self, i: usize) -> f64 {
        self.query_norms.as_ref().unwrap_or(&self.data_norms)[i]
    }
}

/// `sum_i f(a_i, b_i)` in f64 with eight independent accumulators (a fixed order, so the value
/// is deterministic, without the latency of one long dependency chain).
#[inline]
pub(super) fn sum_pairs<T: Real>(a: &[T], b: &[T], f: impl Fn(f64, f64) -> f64) -> f64 {
    let mut acc = [0.0f64; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f64 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| f(x.to_f64(), y.to_f64()))
        .sum();
    for (x, y) in ca.zip(cb) {
        for t in 0..8 {
            acc[t] += f(x[t].to_f64(), y[t].to_f64());
        }
    }
    ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7])) + tail
}

pub(super) fn norm<T: Real>(r: &[T]) -> f64 {
    r.iter()
        .map(|v| v.to_f64() * v.to_f64())
        .sum::<f64>()
        .sqrt()
}

pub(super) fn column_mean<T: Real>(m: Matrix<'_, T>) -> Vec<f64> {
    let mut mean = vec![0.0; m.cols];
    for r in m.data.chunks_exact(m.cols) {
        for (acc, v) in mean.iter_mut().zip(r) {
            *acc += v.to_f64();
        }
    }
    mean.iter_mut().for_each(|v| *v /= m.rows as f64);
    mean
}
