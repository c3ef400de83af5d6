//! The rows in the form the GEMM kernel ranks (centred, normalised), plus the norms the
//! rounding-error bound needs.

use super::*;

/// What the GEMM kernel needs to rank rows: each block is centred (Euclidean metrics) or
/// normalised (cosine) into a small buffer as its tiles are computed, never as a whole copy of
/// the data; plus the biases and norms of the prepared rows, for the keys and the error bound.
pub(super) struct Prepared<'a, T: Real> {
    data: Matrix<'a, T>,
    query: Option<Matrix<'a, T>>,
    /// Centre subtracted from every row in `T` (Euclidean metrics; none when empty). Any centre
    /// gives the same distances; one near the mean keeps the prepared norms, hence the rounding
    /// bound, small.
    centre: Vec<T>,
    /// Per data row: `|x|^2` of the prepared row (Euclidean metrics) or 0; empty when the
    /// search computes it block by block ([`Prepared::for_queries`]).
    pub(super) bias: Vec<T>,
    /// Largest norm of a prepared data row (0 until known for [`Prepared::for_queries`]).
    pub(super) max_norm: f64,
    /// Norm of each prepared query row (`None`: the data rows', a self-join).
    query_norms_prepared: Option<Vec<f64>>,
    data_norms_prepared: Vec<f64>,
    /// Coefficient of the dot product in the key (-2 or -1, exact in T).
    pub(super) coef: T,
    pub(super) metric: Metric,
    /// Original norms for the exact cosine (data, query).
    pub(super) data_norms: Vec<f64>,
    pub(super) query_norms: Option<Vec<f64>>,
}

/// Which rows a block is taken from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Side {
    Data,
    Query,
}

impl<'a, T: Real> Prepared<'a, T> {
    /// Centred on the column mean, with the prepared norms of every data row computed up front
    /// (a self-join, or a block pair, reads each block many times).
    pub(super) fn new(data: Matrix<'a, T>, query: Option<Matrix<'a, T>>, metric: Metric) -> Self {
        let centre = column_mean(data).into_iter().map(T::from_f64).collect();
        let mut prep = Self::bare(data, query, metric, centre);
        prep.data_norms_prepared = prep.prepared_norms(Side::Data);
        if query.is_some() {
            prep.query_norms_prepared = Some(prep.prepared_norms(Side::Query));
        }
        prep.set_bias();
        prep
    }

    /// For a search of `query` rows that reads each data block once per query block: centred
    /// on a sample of the data, with only the query norms computed here; the bias of each data
    /// block comes from [`Prepared::block_bias`] as the block is prepared, and `max_norm` from
    /// the search.
    pub(super) fn for_queries(data: Matrix<'a, T>, query: Matrix<'a, T>, metric: Metric) -> Self {
        let centre = sampled_centre(data).unwrap_or_default();
        let mut prep = Self::bare(data, Some(query), metric, centre);
        prep.query_norms_prepared = Some(prep.prepared_norms(Side::Query));
        prep
    }

    /// Everything but the prepared norms and biases; `centre` is used by the Euclidean metrics.
    fn bare(
        data: Matrix<'a, T>,
        query: Option<Matrix<'a, T>>,
        metric: Metric,
        centre: Vec<T>,
    ) -> Self {
        let original = |m: Matrix<'a, T>| -> Vec<f64> {
            if metric == Metric::Cosine {
                m.data.par_chunks(m.cols.max(1)).map(norm).collect()
            } else {
                vec![]
            }
        };
        let (data_norms, query_norms) = (original(data), query.map(original));
        Prepared {
            data,
            query,
            centre: if metric.is_euclidean() {
                centre
            } else {
                vec![]
            },
            bias: vec![],
            max_norm: 0.0,
            query_norms_prepared: None,
            data_norms_prepared: vec![],
            coef: T::from_f64(if metric.is_euclidean() { -2.0 } else { -1.0 }),
            metric,
            data_norms,
            query_norms,
        }
    }

    fn set_bias(&mut self) {
        let norms = &self.data_norms_prepared;
        self.max_norm = norms.iter().cloned().fold(0.0, f64::max);
        self.bias = norms.iter().map(|&v| self.bias_of(v)).collect();
    }

    /// The bias of a prepared row of norm `norm`: `|x|^2` in `T` for the Euclidean metrics, else 0.
    fn bias_of(&self, norm: f64) -> T {
        if self.metric.is_euclidean() {
            T::from_f64(norm * norm)
        } else {
            T::ZERO
        }
    }

    /// The norm of every prepared row of one side (each row prepared in a scratch buffer).
    fn prepared_norms(&self, side: Side) -> Vec<f64> {
        (0..self.matrix(side).rows)
            .into_par_iter()
            .map_init(Vec::new, |buf, i| {
                prepared_norm(self.block(side, i, 1, buf))
            })
            .collect()
    }

    /// The bias of each row of a prepared data `block` (as [`Prepared::new`] computes it for
    /// all rows) into `bias`; returns the largest norm, or `None` when a norm is not finite
    /// (a non-finite value in the rows, or an overflow).
    #[inline(always)]
    pub(super) fn block_bias(&self, block: &[T], bias: &mut Vec<T>) -> Option<f64> {
        let d = self.data.cols;
        bias.clear();
        let (mut top, mut finite) = (0.0f64, true);
        for row in block.chunks_exact(d) {
            let v = prepared_norm(row);
            finite &= v.is_finite();
            top = top.max(v);
            bias.push(self.bias_of(v));
        }
        finite.then_some(top)
    }

    /// The same rows with the roles of data and query exchanged, so one GEMM tile can rank in
    /// both directions.
    pub(super) fn swapped(&self) -> Self {
        let query = self.query.unwrap_or(self.data);
        let mut prep = Prepared {
            data: query,
            query: Some(self.data),
            centre: self.centre.clone(),
            bias: vec![],
            max_norm: 0.0,
            query_norms_prepared: Some(self.data_norms_prepared.clone()),
            data_norms_prepared: self
                .query_norms_prepared
                .clone()
                .unwrap_or_else(|| self.data_norms_prepared.clone()),
            coef: self.coef,
            metric: self.metric,
            data_norms: self
                .query_norms
                .clone()
                .unwrap_or_else(|| self.data_norms.clone()),
            query_norms: (self.metric == Metric::Cosine).then(|| self.data_norms.clone()),
        };
        prep.set_bias();
        prep
    }

    fn matrix(&self, side: Side) -> Matrix<'a, T> {
        match side {
            Side::Data => self.data,
            Side::Query => self.query.unwrap_or(self.data),
        }
    }

    /// Rows `r0..r0 + rows` of one side in the form the kernel ranks: borrowed for the inner
    /// product, else written into `buf`.
    #[inline(always)]
    pub(super) fn block<'b>(
        &'b self,
        side: Side,
        r0: usize,
        rows: usize,
        buf: &'b mut Vec<T>,
    ) -> &'b [T] {
        let m = self.matrix(side);
        let d = m.cols;
        let src = &m.data[r0 * d..(r0 + rows) * d];
        match self.metric {
            Metric::InnerProduct => src,
            Metric::Euclidean | Metric::SqEuclidean if self.centre.is_empty() => src,
            Metric::Euclidean | Metric::SqEuclidean => {
                buf.resize(src.len(), T::ZERO);
                for (out, row) in buf.chunks_exact_mut(d).zip(src.chunks_exact(d)) {
                    // Correctly rounded in T: for f32 the same value as the difference taken
                    // in f64 then rounded (53 >= 2 * 24 + 2 bits: no double rounding).
                    for ((o, &v), &c) in out.iter_mut().zip(row).zip(&self.centre) {
                        *o = v - c;
                    }
                }
                &buf[..src.len()]
            }
            Metric::Cosine => {
                let norms = match side {
                    Side::Query => self.query_norms.as_ref().unwrap_or(&self.data_norms),
                    Side::Data => &self.data_norms,
                };
                buf.resize(src.len(), T::ZERO);
                for ((out, row), &nr) in buf
                    .chunks_exact_mut(d)
                    .zip(src.chunks_exact(d))
                    .zip(&norms[r0..r0 + rows])
                {
                    let s = if nr > 0.0 { 1.0 / nr } else { 0.0 };
                    for (o, v) in out.iter_mut().zip(row) {
                        *o = T::from_f64(v.to_f64() * s);
                    }
                }
                &buf[..src.len()]
            }
        }
    }

    /// The norm of prepared query row `i`.
    pub(super) fn query_norm_prepared(&self, i: usize) -> f64 {
        self.query_norms_prepared
            .as_ref()
            .unwrap_or(&self.data_norms_prepared)[i]
    }

    pub(super) fn query_norm(&self, i: usize) -> f64 {
        self.query_norms.as_ref().unwrap_or(&self.data_norms)[i]
    }
}

/// The exact ranking value of row `x` for row `q` (smaller is nearer): the squared distance,
/// `1 - cos` (with the row norms `norms()`, asked for cosine only; 0 similarity for a zero row)
/// or minus the dot product, summed by [`sum_pairs`].
#[inline(always)]
pub(super) fn exact_key<T: Real>(
    metric: Metric,
    q: &[T],
    x: &[T],
    norms: impl FnOnce() -> (f64, f64),
) -> f64 {
    match metric {
        Metric::Euclidean | Metric::SqEuclidean => sum_pairs(q, x, |a, b| (a - b) * (a - b)),
        Metric::Cosine => {
            let (qn, xn) = norms();
            let den = qn * xn;
            let dot = sum_pairs(q, x, |a, b| a * b);
            1.0 - if den > 0.0 { dot / den } else { 0.0 }
        }
        Metric::InnerProduct => -sum_pairs(q, x, |a, b| a * b),
    }
}

/// `sum_i f(a_i, b_i)` in f64 with eight independent accumulators (a fixed order, so the value
/// is deterministic, without the latency of one long dependency chain).
#[inline(always)]
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

/// The norm of a prepared row: the square root of the sum of squares in f64 with eight
/// accumulator chains (as [`sum_pairs`] adds, with one load per value).
#[inline(always)]
fn prepared_norm<T: Real>(row: &[T]) -> f64 {
    let mut acc = [0.0f64; 8];
    let chunks = row.chunks_exact(8);
    let tail: f64 = chunks
        .remainder()
        .iter()
        .map(|x| x.to_f64() * x.to_f64())
        .sum();
    for x in chunks {
        for (a, v) in acc.iter_mut().zip(x) {
            *a += v.to_f64() * v.to_f64();
        }
    }
    let sum = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
    (sum + tail).sqrt()
}

pub(super) fn norm<T: Real>(r: &[T]) -> f64 {
    r.iter()
        .map(|v| v.to_f64() * v.to_f64())
        .sum::<f64>()
        .sqrt()
}

pub(super) fn column_mean<T: Real>(m: Matrix<'_, T>) -> Vec<f64> {
    // Fixed blocks of rows summed in parallel, then added in block order: the same bits
    // whatever the thread count.
    const ROWS: usize = 4096;
    let d = m.cols.max(1);
    let partial: Vec<Vec<f64>> = m
        .data
        .par_chunks(ROWS * d)
        .map(|block| {
            let mut acc = vec![0.0; m.cols];
            for r in block.chunks_exact(d) {
                for (a, v) in acc.iter_mut().zip(r) {
                    *a += v.to_f64();
                }
            }
            acc
        })
        .collect();
    let mut mean = vec![0.0; m.cols];
    for p in partial {
        for (a, v) in mean.iter_mut().zip(p) {
            *a += v;
        }
    }
    mean.iter_mut().for_each(|v| *v /= m.rows as f64);
    mean
}

/// Rows averaged by [`sampled_centre`] at most.
const CENTRE_ROWS: usize = 4096;

/// The f64 mean `c` of at most [`CENTRE_ROWS`] evenly spaced rows, rounded to `T` (a coordinate
/// that is not finite, from an overflow or a NaN in the sample, becomes 0), or `None` when
/// centring would shrink the norms little: when `|c|^2` is below 1/16 of the sample's mean
/// `|x - c|^2`, by which the mean `|x|^2` exceeds it (the rounding bound, which scales with the
/// norms, then loosens by about 3 %, and the rows are used as they are, without a copy).
pub(super) fn sampled_centre<T: Real>(m: Matrix<'_, T>) -> Option<Vec<T>> {
    let s = m.rows.min(CENTRE_ROWS);
    let rows = || (0..s).map(|i| m.row(i * m.rows / s));
    let mut sum = vec![0.0; m.cols];
    for row in rows() {
        for (a, v) in sum.iter_mut().zip(row) {
            *a += v.to_f64();
        }
    }
    let centre: Vec<T> = sum
        .into_iter()
        .map(|v| T::from_f64(v / s as f64))
        .map(|c| if c.to_f64().is_finite() { c } else { T::ZERO })
        .collect();
    let spread: f64 = rows()
        .map(|row| sum_pairs(row, &centre, |x, c| (x - c) * (x - c)))
        .sum::<f64>()
        / s as f64;
    let offset = sum_pairs(&centre, &centre, |c, d| c * d);
    (offset >= spread / 16.0).then_some(centre)
}
