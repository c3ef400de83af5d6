//! Exact single- and multi-source shortest paths (Dijkstra) on CSR graphs.
//!
//! One Dijkstra per source, sources in parallel (rayon), each thread reusing its own scratch: a
//! binary heap with lazy deletion whose entries pack `(distance bits, node)` into one `u128`
//! (non-negative f64 bit patterns order like the floats, so the integer order is the
//! `(distance, node)` order), an `f64` distance row and the list of nodes it touched, so that
//! resetting it costs O(touched nodes), not O(n). Nothing of size `n` is allocated per source
//! beyond the output row. One loop (`Scratch::search`) serves both entry points: full rows
//! ([`shortest_paths`]) and the `k` nearest nodes with an early stop ([`geodesic_neighbors`]).
//! Full rows without predecessors go through a bucket queue instead when every weight is
//! positive and `w_max / w_min` is at most ~1000 (`buckets`): buckets narrower than the shortest
//! arc hold only final distances once reached, so no heap is needed; same results, bitwise.
//!
//! **Exactness.** An arc `u -> v` of weight `w` is relaxed as `d[v] = d[u] + w` in f64, exactly as
//! scipy's `dijkstra` does. With non-negative weights the final distances are then the unique
//! fixed point `d[v] = min_u fl(d[u] + w(u, v))`, which does not depend on the order in which
//! nodes are settled, so the results are bitwise identical to scipy's and to any thread count.
//! Duplicate arcs act as the one with the smaller weight. With a `limit`, a node is reached only
//! when its distance is `<= limit` (scipy's semantics); the others stay at `inf`.
//!
//! **Predecessors.** `pred[v]` is set only when `d[v]` strictly improves, so among several
//! equally short paths it is the first node to be settled whose arc attains the final distance;
//! the heap pops entries in increasing `(distance, node id)` order, so this is in effect the
//! candidate with the smaller distance, then the smaller node id. The choice is deterministic and
//! independent of the thread count (each source runs on one thread); it need not be the one
//! scipy picks. [`NO_PREDECESSOR`] (-9999, as in scipy) marks the sources and the unreached
//! nodes.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::ops::ControlFlow;

use rayon::prelude::*;

use crate::monitor::Monitor;
use crate::parallel::with_threads;
use crate::real::Real;
use crate::{Error, Result};
use csr::{CsrGraph, CsrIndex};

mod buckets;
pub mod csr;
mod dijkstra;
mod neighbors;
mod shortest_paths;

use buckets::*;
use dijkstra::*;
pub use neighbors::*;
pub use shortest_paths::*;

#[cfg(test)]
mod tests;

fn validate<I: CsrIndex>(
    graph: &CsrGraph<'_, I>,
    sources: &[usize],
    limit: Option<f64>,
) -> Result<()> {
    let n = graph.n();
    if let Some(&s) = sources.iter().find(|&&s| s >= n) {
        return Err(Error::invalid(format!(
            "source {s} is out of range for a graph with {n} nodes"
        )));
    }
    match limit {
        Some(l) if l.is_nan() || l < 0.0 => Err(Error::invalid(format!(
            "limit must be a number >= 0, got {l}"
        ))),
        _ => Ok(()),
    }
}
