//! Bounded selection of the `cap` smallest (key, index) pairs, ties broken by the lower index.

/// A bounded max-heap keeping the `cap` smallest `(key, index)` pairs seen so far.
///
/// Pairs are ordered by key, then by index, so the kept set is unique whatever the order in which
/// candidates arrive.
#[derive(Debug, Clone)]
pub struct TopK {
    cap: usize,
    heap: Vec<(f64, usize)>,
}

#[inline]
fn greater(a: (f64, usize), b: (f64, usize)) -> bool {
    a.0 > b.0 || (a.0 == b.0 && a.1 > b.1)
}

impl TopK {
    /// An empty selection that keeps at most `cap` pairs.
    pub fn new(cap: usize) -> Self {
        TopK {
            cap,
            heap: Vec::with_capacity(cap),
        }
    }

    /// Forget every pair (keeps the allocation).
    pub fn clear(&mut self) {
        self.heap.clear();
    }

    /// Number of pairs kept.
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    /// Whether nothing is kept.
    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }

    /// The largest key kept once the selection is full (+inf before, -inf when `cap` is 0): a
    /// candidate must be below it (or equal with a lower index) to enter.
    #[inline]
    pub fn threshold(&self) -> f64 {
        if self.cap == 0 {
            f64::NEG_INFINITY
        } else if self.heap.len() < self.cap {
            f64::INFINITY
        } else {
            self.heap[0].0
        }
    }

    /// Offer a candidate.
    #[inline]
    pub fn push(&mut self, key: f64, index: usize) {
        if self.cap == 0 {
            return;
        }
        let item = (key, index);
        if self.heap.len() < self.cap {
            self.heap.push(item);
            self.sift_up(self.heap.len() - 1);
        } else if greater(self.heap[0], item) {
            self.heap[0] = item;
            self.sift_down(0);
        }
    }

    fn sift_up(&mut self, mut i: usize) {
        while i > 0 {
            let p = (i - 1) / 2;
            if greater(self.heap[i], self.heap[p]) {
                self.heap.swap(i, p);
                i = p;
            } else {
                break;
            }
        }
    }

    fn sift_down(&mut self, mut i: usize) {
        let n = self.heap.len();
        loop {
            let (l, r) = (2 * i + 1, 2 * i + 2);
            let mut m = i;
            if l < n && greater(self.heap[l], self.heap[m]) {
                m = l;
            }
            if r < n && greater(self.heap[r], self.heap[m]) {
                m = r;
            }
            if m == i {
                break;
            }
            self.heap.swap(i, m);
            i = m;
        }
    }

    /// The kept pairs sorted ascending by (key, index); empties the selection.
    pub fn drain_sorted(&mut self) -> Vec<(f64, usize)> {
        let mut v = std::mem::take(&mut self.heap);
        v.sort_unstable_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        self.heap = Vec::with_capacity(self.cap);
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_smallest_with_index_ties() {
        let mut t = TopK::new(3);
        for (i, k) in [5.0, 1.0, 3.0, 1.0, 0.5, 3.0, 9.0].iter().enumerate() {
            t.push(*k, i);
        }
        assert_eq!(t.drain_sorted(), vec![(0.5, 4), (1.0, 1), (1.0, 3)]);
    }

    #[test]
    fn order_of_arrival_does_not_matter() {
        let keys = [2.0, 2.0, 1.0, 2.0, 0.0, 2.0];
        let mut a = TopK::new(4);
        let mut b = TopK::new(4);
        for i in 0..keys.len() {
            a.push(keys[i], i);
            let j = keys.len() - 1 - i;
            b.push(keys[j], j);
        }
        assert_eq!(a.drain_sorted(), b.drain_sorted());
    }

    #[test]
    fn zero_capacity_keeps_nothing() {
        let mut t = TopK::new(0);
        t.push(1.0, 0);
        assert!(t.is_empty());
        assert_eq!(t.threshold(), f64::NEG_INFINITY);
    }
}
