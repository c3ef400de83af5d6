//! The Dijkstra loop itself and its per-thread scratch.

use super::*;

pub(super) fn finish_row<T: Real>(dist: &[f64], out: &mut [T]) {
    for (o, &d) in out.iter_mut().zip(dist) {
        *o = T::from_f64(d);
    }
}

/// Per-thread state reused across sources. Between searches every entry of `dist` is `inf`
/// and `touched` and `heap` are empty; [`Scratch::reset`] restores this in O(touched nodes).
pub(super) struct Scratch {
    pub(super) dist: Vec<f64>,
    pub(super) heap: BinaryHeap<Reverse<u128>>,
    /// The nodes whose distance is finite, i.e. everything `search` wrote to `dist`.
    pub(super) touched: Vec<usize>,
}

/// `(d, v)` packed so that the integer order is the `(distance, node id)` order (`d >= 0`).
#[inline]
pub(super) fn pack(d: f64, v: usize) -> u128 {
    ((d.to_bits() as u128) << 64) | v as u128
}

#[inline]
pub(super) fn unpack(k: u128) -> (f64, usize) {
    (f64::from_bits((k >> 64) as u64), k as u64 as usize)
}

impl Scratch {
    pub(super) fn new(n: usize) -> Self {
        Scratch {
            dist: vec![f64::INFINITY; n],
            heap: BinaryHeap::new(),
            touched: Vec::new(),
        }
    }

    /// One Dijkstra from `s`, the one loop behind every entry point. `settle(u, d)` is called
    /// once per node as it is settled, in order of non-decreasing `d` (the source first); the
    /// search stops when it returns `Break` (so `u` is then left unrecorded by the caller) or
    /// when no node is left. Leaves the (final, for settled nodes) distances in `self.dist` and
    /// fills `pred`, which must arrive filled with [`NO_PREDECESSOR`], if given. Call
    /// [`Scratch::reset`] afterwards.
    pub(super) fn search<I: CsrIndex>(
        &mut self,
        g: &CsrGraph<'_, I>,
        s: usize,
        limit: f64,
        mut pred: Option<&mut [i64]>,
        mut settle: impl FnMut(usize, f64) -> ControlFlow<()>,
    ) {
        debug_assert!(self.touched.is_empty() && self.heap.is_empty());
        let dist = &mut self.dist[..];
        let (heap, touched) = (&mut self.heap, &mut self.touched);
        dist[s] = 0.0;
        touched.push(s);
        heap.push(Reverse(pack(0.0, s)));
        while let Some(Reverse(k)) = heap.pop() {
            let (d, u) = unpack(k);
            if d > dist[u] {
                continue; // stale entry: u was reached more cheaply since
            }
            if settle(u, d).is_break() {
                return;
            }
            let (cols, ws) = g.row(u);
            for (&j, &w) in cols.iter().zip(ws) {
                let v = j.index();
                let nd = d + w;
                let old = dist[v];
                if nd < old && nd <= limit {
                    if old == f64::INFINITY {
                        touched.push(v);
                    }
                    dist[v] = nd;
                    if let Some(p) = pred.as_deref_mut() {
                        p[v] = u as i64;
                    }
                    heap.push(Reverse(pack(nd, v)));
                }
            }
        }
    }

    /// Back to the all-`inf` state, in O(touched nodes + heap entries left).
    pub(super) fn reset(&mut self) {
        for &v in &self.touched {
            self.dist[v] = f64::INFINITY;
        }
        self.touched.clear();
        self.heap.clear();
    }
}
