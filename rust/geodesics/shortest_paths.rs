//! Full distance rows (and predecessors) from each source.

use super::*;
use crate::buffers;

/// Predecessor of a source or of an unreached node (scipy's sentinel).
pub const NO_PREDECESSOR: i64 = -9999;

/// Distances (and optionally predecessors) from each source, row-major `rows x n`.
#[derive(Debug, Clone, PartialEq)]
pub struct ShortestPaths {
    /// `rows x n` distances; `inf` where unreachable or beyond the limit.
    pub distances: Vec<f64>,
    /// `rows x n` predecessors on a shortest path ([`NO_PREDECESSOR`] for none), when asked for.
    pub predecessors: Option<Vec<i64>>,
    /// Number of sources (rows).
    pub rows: usize,
    /// Number of nodes (columns).
    pub n: usize,
}

/// Shortest-path distances from every node of `sources` to every node of `graph`.
///
/// `limit`: nodes farther than it are reported as `inf` (and the search stops there). `monitor`
/// counts finished sources and can cancel between sources. See the module documentation for
/// exactness and the predecessor choice.
pub fn shortest_paths<I: CsrIndex>(
    graph: &CsrGraph<'_, I>,
    sources: &[usize],
    limit: Option<f64>,
    want_predecessors: bool,
    n_threads: Option<usize>,
    monitor: &Monitor,
) -> Result<ShortestPaths> {
    let (rows, n) = (sources.len(), graph.n());
    let what = format!("the distances of {rows} sources to {n} nodes");
    let len = buffers::product(&[rows, n], &what)?;
    // Validate before allocating an output that may be large.
    validate(graph, sources, limit)?;
    let mut distances: Vec<f64> = buffers::zeros(len, &what)?;
    let mut predecessors = match want_predecessors {
        true => Some(buffers::zeros::<i64>(len, "the predecessors")?),
        false => None,
    };
    shortest_paths_into(
        graph,
        sources,
        limit,
        &mut distances,
        predecessors.as_deref_mut(),
        n_threads,
        monitor,
    )?;
    Ok(ShortestPaths {
        distances,
        predecessors,
        rows,
        n,
    })
}

/// [`shortest_paths`] writing into caller-provided `rows x n` row-major buffers; distances are
/// computed in f64 and rounded to `T` once at the end of each row.
pub fn shortest_paths_into<I: CsrIndex, T: Real>(
    graph: &CsrGraph<'_, I>,
    sources: &[usize],
    limit: Option<f64>,
    distances: &mut [T],
    predecessors: Option<&mut [i64]>,
    n_threads: Option<usize>,
    monitor: &Monitor,
) -> Result<()> {
    validate(graph, sources, limit)?;
    let (rows, n) = (sources.len(), graph.n());
    let len = rows * n;
    if distances.len() != len {
        return Err(Error::invalid(format!(
            "the distance buffer has length {} but {rows} sources x {n} nodes need {len}",
            distances.len()
        )));
    }
    if let Some(p) = &predecessors {
        if p.len() != len {
            return Err(Error::invalid(format!(
                "the predecessor buffer has length {} but {rows} sources x {n} nodes need {len}",
                p.len()
            )));
        }
    }
    monitor.set_total(rows);
    if len == 0 {
        return Ok(());
    }
    let limit = limit.unwrap_or(f64::INFINITY);
    let init = || Scratch::new(n);
    // Distances alone go through the bucket queue when the weights allow it (see `buckets`);
    // predecessors keep the heap, whose settle order fixes the documented tie-breaking.
    let plan = match predecessors {
        None => BucketPlan::new(graph),
        Some(_) => None,
    };
    with_threads(n_threads, || match (predecessors, plan) {
        (Some(pred), _) => distances
            .par_chunks_mut(n)
            .zip(pred.par_chunks_mut(n))
            .zip(sources.par_iter())
            .try_for_each_init(init, |scratch, ((drow, prow), &s)| {
                monitor.check()?;
                prow.fill(NO_PREDECESSOR);
                scratch.search(
                    graph,
                    s,
                    limit,
                    Some(prow),
                    |_, _| ControlFlow::Continue(()),
                );
                finish_row(&scratch.dist, drow);
                scratch.reset();
                monitor.advance(1);
                Ok(())
            }),
        (None, Some(plan)) => distances
            .par_chunks_mut(n)
            .zip(sources.par_iter())
            .try_for_each_init(
                || Buckets::new(n, plan),
                |buckets, (drow, &s)| {
                    monitor.check()?;
                    buckets.search(graph, s, limit);
                    buckets.finish(drow);
                    monitor.advance(1);
                    Ok(())
                },
            ),
        (None, None) => distances
            .par_chunks_mut(n)
            .zip(sources.par_iter())
            .try_for_each_init(init, |scratch, (drow, &s)| {
                monitor.check()?;
                scratch.search(graph, s, limit, None, |_, _| ControlFlow::Continue(()));
                finish_row(&scratch.dist, drow);
                scratch.reset();
                monitor.advance(1);
                Ok(())
            }),
    })?
}
