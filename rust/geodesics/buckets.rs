//! Full distance rows without a heap: a bucket queue whose buckets are narrower than the
//! smallest arc (Dinitz's observation behind Dial's algorithm).
//!
//! Bucket `b` holds the nodes whose tentative distance `d` has `floor(d / width) = b`, with
//! `width = w_min * (1 - 2^-20)` just under the smallest arc weight `w_min > 0`. A node `x` of
//! bucket `b` can only offer `d[x] + w >= b * width + w_min`, which lies beyond bucket `b`: so
//! when the lowest non-empty bucket is reached, all its nodes already have their final distance
//! and can be scanned in any order, with no heap at all (each node is pushed and popped at O(1)
//! cost instead of O(log n)). The `2^-20` margin absorbs the rounding of `d * (1 / width)` for
//! bucket numbers below ~2^32; beyond them, or wherever floating point would defeat the
//! argument, nothing goes wrong: the loop is a label-correcting one (a node whose distance still
//! drops after it was scanned gets a fresh entry and is scanned again), so its result never
//! depends on the order; the buckets only make rescans (practically) never happen.
//!
//! The distances are the same fixed point as [`Scratch::search`] computes, `d[v] = min_u
//! fl(d[u] + w(u, v))` over every path, so bitwise equal to scipy's and to the heap search.
//!
//! Live entries always lie within `w_max / width + 2` buckets of the current one, so the
//! buckets form a ring of that many slots, with one bit per slot marking the non-empty ones.
//! The plan is only taken when `w_min > 0` (a zero-weight arc would make the width 0) and
//! `w_max / w_min` is at most [`MAX_SLOTS`]; otherwise the heap serves.

use super::*;

/// Most ring slots (so at most `w_max / w_min` of about this much) before the heap is used.
pub(super) const MAX_SLOTS: usize = 1024;

/// How many pops ahead [`Buckets::search`] prefetches a node's arcs (4 to 16 measured alike).
const AHEAD: usize = 8;

/// The ring of one call: `1 / width` and the number of slots.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct BucketPlan {
    pub(super) inv_width: f64,
    pub(super) slots: usize,
}

impl BucketPlan {
    /// The plan for `g`, or `None` when the heap should serve: a zero-weight arc, a weight
    /// ratio above [`MAX_SLOTS`], or node ids beyond `u32`.
    pub(super) fn new<I: CsrIndex>(g: &CsrGraph<'_, I>) -> Option<Self> {
        if g.n() > u32::MAX as usize + 1 {
            return None;
        }
        let (lo, hi) = g
            .weights()
            .iter()
            .fold((f64::INFINITY, 0.0f64), |(lo, hi), &w| {
                (lo.min(w), hi.max(w))
            });
        if g.nnz() == 0 {
            return Some(BucketPlan {
                inv_width: 1.0,
                slots: 1,
            });
        }
        let inv_width = 1.0 / (lo * (1.0 - 1.0 / (1u64 << 20) as f64));
        let span = hi * inv_width; // NaN or inf when lo is 0 or subnormal
        if !(lo > 0.0 && span <= (MAX_SLOTS - 3) as f64) {
            return None;
        }
        Some(BucketPlan {
            inv_width,
            slots: span as usize + 3,
        })
    }
}

/// Per-thread state of the bucket search, reused across sources. Between searches every entry
/// of `dist` is `inf` and the ring is empty.
pub(super) struct Buckets {
    pub(super) dist: Vec<f64>,
    inv_width: f64,
    /// The ring: slot `b % slots` holds the entries of bucket `b`.
    ring: Vec<Vec<u32>>,
    /// One bit per slot: non-empty.
    occupied: Vec<u64>,
    /// One bit per node: scanned at its current distance.
    scanned: Vec<u64>,
}

impl Buckets {
    pub(super) fn new(n: usize, plan: BucketPlan) -> Self {
        Buckets {
            dist: vec![f64::INFINITY; n],
            inv_width: plan.inv_width,
            ring: vec![Vec::new(); plan.slots],
            occupied: vec![0; plan.slots.div_ceil(64)],
            scanned: vec![0; n.div_ceil(64)],
        }
    }

    /// All distances from `s` (those `<= limit`), left in `self.dist`; call
    /// [`Buckets::finish`] afterwards.
    pub(super) fn search<I: CsrIndex>(&mut self, g: &CsrGraph<'_, I>, s: usize, limit: f64) {
        let size = self.ring.len();
        let inv = self.inv_width;
        let Buckets {
            dist,
            ring,
            occupied,
            scanned,
            ..
        } = self;
        dist[s] = 0.0;
        ring[0].push(s as u32);
        occupied[0] |= 1;
        // `cur` is the absolute bucket number of slot `slot`; live entries lie in buckets
        // `cur..cur + size`.
        let (mut cur, mut slot) = (0u64, 0usize);
        loop {
            while let Some(u) = ring[slot].pop() {
                // The bucket is a stack known in advance: fetch the arcs of the node popped
                // `AHEAD` steps from now, and `indptr` of the one after it. On the benchmark
                // graph (rows in L3, not L2) this halves the time per source.
                let pending = &ring[slot];
                if let Some(&a) = pending.len().checked_sub(AHEAD).map(|i| &pending[i]) {
                    g.prefetch_row(a as usize);
                }
                if let Some(&a) = pending.len().checked_sub(2 * AHEAD).map(|i| &pending[i]) {
                    g.prefetch_bounds(a as usize);
                }
                let u = u as usize;
                let bit = 1u64 << (u & 63);
                if scanned[u >> 6] & bit != 0 {
                    continue; // an older entry of a node already scanned at this distance
                }
                scanned[u >> 6] |= bit;
                let d = dist[u];
                let (cols, ws) = g.row(u);
                for (&j, &w) in cols.iter().zip(ws) {
                    let v = j.index();
                    let nd = d + w;
                    if nd < dist[v] && nd <= limit {
                        dist[v] = nd;
                        scanned[v >> 6] &= !(1u64 << (v & 63));
                        // Saturating cast; the clamp keeps the entry inside the ring whatever
                        // rounding does (an early bucket only costs a rescan, never accuracy).
                        let ahead = ((nd * inv) as u64).clamp(cur, cur + size as u64 - 1) - cur;
                        let mut t = slot + ahead as usize;
                        if t >= size {
                            t -= size;
                        }
                        ring[t].push(v as u32);
                        occupied[t >> 6] |= 1u64 << (t & 63);
                    }
                }
            }
            occupied[slot >> 6] &= !(1u64 << (slot & 63));
            let from = if slot + 1 == size { 0 } else { slot + 1 };
            let Some(t) = next_occupied(occupied, from) else {
                break;
            };
            cur += if t > slot { t - slot } else { t + size - slot } as u64;
            slot = t;
        }
    }

    /// Round the row into `out` and return to the all-`inf` state (one pass over `n`).
    pub(super) fn finish<T: Real>(&mut self, out: &mut [T]) {
        for (o, d) in out.iter_mut().zip(self.dist.iter_mut()) {
            *o = T::from_f64(*d);
            *d = f64::INFINITY;
        }
        self.scanned.fill(0);
    }
}

/// The first set bit at or after `from`, wrapping around; `None` if all are clear.
#[inline]
fn next_occupied(occupied: &[u64], from: usize) -> Option<usize> {
    let w0 = from >> 6;
    let here = occupied[w0] & (!0u64 << (from & 63));
    if here != 0 {
        return Some((w0 << 6) + here.trailing_zeros() as usize);
    }
    let words = occupied.len();
    (1..=words)
        .map(|k| (w0 + k) % words)
        .find(|&w| occupied[w] != 0)
        .map(|w| (w << 6) + occupied[w].trailing_zeros() as usize)
}
