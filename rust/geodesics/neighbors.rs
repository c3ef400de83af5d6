//! The `k` nearest nodes by geodesic distance, Dijkstra stopped early.

use super::*;
use crate::buffers;

/// Marks a missing neighbour in [`geodesic_neighbors`] output (fewer than `k` nodes reachable).
pub const NO_NEIGHBOR: i64 = -1;

/// The `k` nearest nodes by geodesic distance from each source, row-major `rows x k`.
#[derive(Debug, Clone, PartialEq)]
pub struct GeodesicNeighbors {
    /// `rows x k` node ids, ordered by (distance, id); [`NO_NEIGHBOR`] pads rows with fewer
    /// than `k` reachable nodes.
    pub indices: Vec<i64>,
    /// `rows x k` distances matching `indices`; `inf` for padding.
    pub distances: Vec<f64>,
    /// Number of sources (rows).
    pub rows: usize,
    /// Neighbours per source (columns).
    pub k: usize,
}

/// The `k` nearest nodes (the source excluded) by shortest-path distance from every node of
/// `sources`, each row ordered by (distance, node id).
///
/// Each search stops early: once `k` nodes other than the source are settled it goes on only
/// while the next node settled lies at exactly the `k`-th distance (with zero-weight arcs, or
/// an addition that rounds back to the same float, a node with a smaller id can be reached
/// through a tied node of larger id, so Dijkstra's settle order alone is not the
/// (distance, id) order), then keeps the `k` smallest (distance, id) pairs. The result is
/// therefore exactly the first `k` entries of the full distance row sorted by (distance, id),
/// the source left out; distances are bitwise those of [`shortest_paths`]. Rows with fewer
/// than `k` reachable nodes are padded with [`NO_NEIGHBOR`] / `inf`. Requires `1 <= k < n`.
pub fn geodesic_neighbors<I: CsrIndex>(
    graph: &CsrGraph<'_, I>,
    sources: &[usize],
    k: usize,
    n_threads: Option<usize>,
    monitor: &Monitor,
) -> Result<GeodesicNeighbors> {
    let rows = sources.len();
    let what = format!("the k = {k} geodesic neighbours of {rows} sources");
    let len = buffers::product(&[rows, k], &what)?;
    validate_neighbors(graph, sources, k)?;
    let mut indices: Vec<i64> = buffers::zeros(len, &what)?;
    let mut distances: Vec<f64> = buffers::zeros(len, &what)?;
    geodesic_neighbors_into(
        graph,
        sources,
        k,
        &mut indices,
        &mut distances,
        n_threads,
        monitor,
    )?;
    Ok(GeodesicNeighbors {
        indices,
        distances,
        rows,
        k,
    })
}

/// [`geodesic_neighbors`] writing into caller-provided `rows x k` row-major buffers; distances
/// are computed in f64 and rounded to `T`.
pub fn geodesic_neighbors_into<I: CsrIndex, T: Real>(
    graph: &CsrGraph<'_, I>,
    sources: &[usize],
    k: usize,
    indices: &mut [i64],
    distances: &mut [T],
    n_threads: Option<usize>,
    monitor: &Monitor,
) -> Result<()> {
    validate_neighbors(graph, sources, k)?;
    let rows = sources.len();
    let len = rows
        .checked_mul(k)
        .ok_or_else(|| Error::invalid("the output size overflows"))?;
    for (what, got) in [("index", indices.len()), ("distance", distances.len())] {
        if got != len {
            return Err(Error::invalid(format!(
                "the {what} buffer has length {got} but {rows} sources x k = {k} need {len}"
            )));
        }
    }
    monitor.set_total(rows);
    if len == 0 {
        return Ok(());
    }
    let n = graph.n();
    let init = || (Scratch::new(n), Vec::<u128>::with_capacity(k + 1));
    with_threads(n_threads, || {
        indices
            .par_chunks_mut(k)
            .zip(distances.par_chunks_mut(k))
            .zip(sources.par_iter())
            .try_for_each_init(init, |(scratch, found), ((irow, drow), &s)| {
                monitor.check()?;
                found.clear();
                let mut kth = f64::INFINITY;
                scratch.search(graph, s, f64::INFINITY, None, |u, d| {
                    if u == s {
                        return ControlFlow::Continue(());
                    }
                    if found.len() >= k && d > kth {
                        return ControlFlow::Break(());
                    }
                    found.push(pack(d, u));
                    if found.len() == k {
                        kth = d;
                    }
                    ControlFlow::Continue(())
                });
                scratch.reset();
                // Only ties at the k-th distance are out of (distance, id) order.
                found.sort_unstable();
                for (c, (i, o)) in irow.iter_mut().zip(drow.iter_mut()).enumerate() {
                    match found.get(c) {
                        Some(&key) => {
                            let (d, v) = unpack(key);
                            *i = v as i64;
                            *o = T::from_f64(d);
                        }
                        None => {
                            *i = NO_NEIGHBOR;
                            *o = T::from_f64(f64::INFINITY);
                        }
                    }
                }
                monitor.advance(1);
                Ok(())
            })
    })?
}

pub(super) fn validate_neighbors<I: CsrIndex>(
    graph: &CsrGraph<'_, I>,
    sources: &[usize],
    k: usize,
) -> Result<()> {
    validate(graph, sources, None)?;
    let n = graph.n();
    if k == 0 || k >= n {
        return Err(Error::invalid(format!(
            "k must satisfy 1 <= k < n = {n} (the source is not its own neighbour), got {k}"
        )));
    }
    Ok(())
}
