//! The blocked GEMM scans (query vs data, and the symmetric self-join), the bounded
//! selection, and the exact re-ranking with its rounding-error proof.

use super::*;

pub(super) struct Search<'s, 'a, T: Real> {
    pub(super) data: Matrix<'a, T>,
    pub(super) query: Matrix<'a, T>,
    pub(super) prep: &'s Prepared<'a, T>,
    pub(super) params: &'s KnnParams,
    pub(super) n: usize,
    pub(super) d: usize,
    /// Largest norm of a prepared data row, for the rounding bound (from `prep`, or from the
    /// tile pass of [`Search::cross`]).
    pub(super) max_norm: f64,
}

impl<T: Real> Search<'_, '_, T> {
    /// One empty candidate pool per query row (their total size checked first).
    pub(super) fn heaps(&self) -> Result<Vec<TopK>> {
        let (m, pool) = (self.query.rows, self.pool());
        let cand = format!("the {pool} candidates kept for each of {m} query rows");
        buffers::ensure::<(f64, usize)>(buffers::product(&[m, pool], &cand)?, &cand)?;
        Ok((0..m).map(|_| TopK::new(pool)).collect())
    }

    /// The exact top k of every row from its filled pool; `out` maps an exact ranking value to
    /// the output.
    pub(super) fn finish<U: Copy + Send>(
        &self,
        mut heaps: Vec<TopK>,
        out: impl Fn(&Self, f64) -> U + Sync,
    ) -> Result<Neighbors<U>> {
        let (m, k) = (self.query.rows, self.params.k);
        let what = format!("the k = {k} neighbours of {m} query rows");
        let len = buffers::product(&[m, k], &what)?;
        let mut indices: Vec<i64> = buffers::zeros(len, &what)?;
        let mut distances = buffers::filled(len, out(self, 0.0), &what)?;
        indices
            .par_chunks_mut(k)
            .zip(distances.par_chunks_mut(k))
            .zip(heaps.par_iter_mut())
            .enumerate()
            .for_each(|(i, ((idx_out, dist_out), heap))| {
                for (slot, (e, j)) in self.refine(i, heap).into_iter().enumerate() {
                    idx_out[slot] = j as i64;
                    dist_out[slot] = out(self, e);
                }
            });
        Ok(Neighbors {
            indices,
            distances,
            rows: m,
            k,
        })
    }

    /// Size of the candidate pool kept per row before exact re-ranking.
    pub(super) fn pool(&self) -> usize {
        let k = self.params.k;
        let available = self.n - self.params.self_offset.is_some() as usize;
        (k + (k / 4).max(16)).min(available)
    }

    pub(super) fn self_index(&self, row: usize) -> Option<usize> {
        self.params.self_offset.map(|o| o + row)
    }

    /// The exact ranking value of data row `j` for query row `i` (smaller is nearer).
    pub(super) fn exact(&self, i: usize, j: usize) -> f64 {
        let (q, x) = (self.query.row(i), self.data.row(j));
        let norms = || (self.prep.query_norm(i), self.prep.data_norms[j]);
        exact_key(self.prep.metric, q, x, norms)
    }

    /// The reported value for an exact ranking value.
    pub(super) fn report(&self, e: f64) -> T {
        T::from_f64(match self.params.metric {
            Metric::Euclidean => e.max(0.0).sqrt(),
            Metric::SqEuclidean => e.max(0.0),
            Metric::Cosine => e.clamp(0.0, 2.0),
            Metric::InnerProduct => -e,
        })
    }

    /// `dst = lhs rhs^T` for prepared row blocks `lhs` (`qb x d`) and `rhs` (`db x d`).
    pub(super) fn gemm(&self, lhs: &[T], rhs: &[T], dst: &mut [T]) {
        let d = self.d;
        let (qb, db) = (lhs.len() / d, rhs.len() / d);
        let lhs = MatRef::from_row_major_slice(lhs, qb, d);
        let rhs = MatRef::from_column_major_slice(rhs, d, db);
        let dst = MatMut::from_row_major_slice_mut(&mut dst[..qb * db], qb, db);
        matmul(dst, Accum::Replace, lhs, rhs, T::from_f64(1.0), Par::Seq);
    }

    /// Offer tile entry (r, jj) to query row r0 + r as candidate c0 + jj, for every entry;
    /// `bias` holds the biases of data rows `c0..c0 + db`.
    ///
    /// Keys are formed in `T` a chunk at a time; a chunk is looked at one by one only when one
    /// of its keys beats the row's current threshold, which after warm-up is rare.
    #[inline(always)]
    pub(super) fn scan_rows(
        &self,
        tile: &[T],
        (r0, c0): (usize, usize),
        bias: &[T],
        heaps: &mut [TopK],
    ) {
        let db = bias.len();
        let c = self.prep.coef;
        let mut keys = [T::ZERO; LANES];
        for (r, heap) in heaps.iter_mut().enumerate() {
            let skip = self.self_index(r0 + r);
            let row = &tile[r * db..(r + 1) * db];
            let mut thr = T::from_f64(heap.threshold());
            for (ch, (gs, bs)) in row.chunks(LANES).zip(bias.chunks(LANES)).enumerate() {
                let mut any = false;
                for ((key, &g), &a) in keys.iter_mut().zip(gs).zip(bs) {
                    *key = a + c * g;
                    any |= *key < thr;
                }
                if !any {
                    continue;
                }
                for (t, &key) in keys[..gs.len()].iter().enumerate() {
                    let j = c0 + ch * LANES + t;
                    if key < thr && skip != Some(j) {
                        heap.push(key.to_f64(), j);
                        thr = T::from_f64(heap.threshold());
                    }
                }
            }
        }
    }

    /// Offer tile entry (r, jj) to row c0 + jj as candidate r0 + r (the transposed use of an
    /// off-diagonal self-join tile, so no entry is a point's own).
    pub(super) fn scan_cols(
        &self,
        tile: &[T],
        r0: usize,
        qb: usize,
        db: usize,
        heaps: &mut [TopK],
    ) {
        let c = self.prep.coef;
        let mut thr: Vec<T> = heaps.iter().map(|h| T::from_f64(h.threshold())).collect();
        for r in 0..qb {
            let a = self.prep.bias[r0 + r];
            let row = &tile[r * db..(r + 1) * db];
            for lo in (0..db).step_by(LANES) {
                let hi = (lo + LANES).min(db);
                let mut any = false;
                for (&g, &t) in row[lo..hi].iter().zip(&thr[lo..hi]) {
                    any |= a + c * g < t;
                }
                if !any {
                    continue;
                }
                for jj in lo..hi {
                    let key = a + c * row[jj];
                    if key < thr[jj] {
                        heaps[jj].push(key.to_f64(), r0 + r);
                        thr[jj] = T::from_f64(heaps[jj].threshold());
                    }
                }
            }
        }
    }

    /// Fill the candidate pools of all query rows; returns the largest norm of a prepared data
    /// row. Work items are (query block, range of data blocks): with few query blocks the data
    /// is split too, so that every thread has work. Each item fills private pools that are then
    /// merged into the block's shared ones; the kept set is the same whatever the split, since
    /// selection is by the total order (key, index).
    ///
    /// This is the only pass over the data: each block's biases and norms come from the rows
    /// prepared for its GEMM, and a norm that is not finite sends the data to the precise
    /// finite check (which names the first bad value; an overflow of finite values passes it).
    pub(super) fn cross(&self, heaps: &mut [TopK], monitor: &Monitor) -> Result<f64> {
        let (n, m) = (self.n, self.query.rows);
        let n_data_blocks = n.div_ceil(DATA_BLOCK);
        let n_query_blocks = m.div_ceil(QUERY_BLOCK);
        let splits = (2 * rayon::current_num_threads())
            .div_ceil(n_query_blocks)
            .clamp(1, n_data_blocks);
        let per_split = n_data_blocks.div_ceil(splits);
        monitor.set_total(n_query_blocks * n_data_blocks);
        let pool = self.pool();
        let blocks: Vec<Mutex<&mut [TopK]>> =
            heaps.chunks_mut(QUERY_BLOCK).map(Mutex::new).collect();
        let items: Vec<(usize, usize)> = (0..n_query_blocks)
            .flat_map(|b| (0..splits).map(move |s| (b, s)))
            .collect();
        let data_finite = OnceLock::new();
        items
            .par_iter()
            .map_init(
                || {
                    let tile = vec![T::ZERO; QUERY_BLOCK * DATA_BLOCK.min(n)];
                    (tile, Vec::new(), Vec::new(), Vec::new(), Vec::new())
                },
                |(tile, local, qbuf, dbuf, bias), &(b, s)| -> Result<f64> {
                    let r0 = b * QUERY_BLOCK;
                    let qb = QUERY_BLOCK.min(m - r0);
                    local.clear();
                    local.resize_with(qb, || TopK::new(pool));
                    let lhs = self.prep.block(Side::Query, r0, qb, qbuf);
                    let data_blocks = s * per_split..((s + 1) * per_split).min(n_data_blocks);
                    let mut top = 0.0f64;
                    for c0 in data_blocks.map(|c| c * DATA_BLOCK) {
                        monitor.check()?;
                        let db = DATA_BLOCK.min(n - c0);
                        let bufs = (&mut tile[..], &mut *dbuf, &mut *bias);
                        match self.cross_tile(lhs, (r0, c0), db, bufs, local) {
                            Some(v) => top = top.max(v),
                            None => {
                                self.check_data_finite(&data_finite)?;
                                top = f64::INFINITY; // an overflow: every row falls back
                            }
                        }
                        monitor.advance(1);
                    }
                    let mut shared = blocks[b].lock().unwrap_or_else(|e| e.into_inner());
                    for (h, l) in shared.iter_mut().zip(local.iter_mut()) {
                        for (key, j) in l.drain_sorted() {
                            h.push(key, j);
                        }
                    }
                    Ok(top)
                },
            )
            .try_reduce(|| 0.0, |a, b| Ok(a.max(b))) // max: the same whatever the order
    }

    crate::widest! {
        /// One tile of [`Search::cross`]: data rows `c0..c0 + db` prepared into `dbuf` with
        /// their biases in `bias`, their GEMM with the prepared query block `lhs` (rows `r0..`)
        /// and its scan into `heaps`; returns the largest norm of a prepared data row, `None`
        /// when one is not finite. Compiled for the widest vector unit the CPU has.
        pub(super) fn cross_tile(
            &self,
            lhs: &[T],
            at: (usize, usize),
            db: usize,
            bufs: (&mut [T], &mut Vec<T>, &mut Vec<T>),
            heaps: &mut [TopK],
        ) -> Option<f64>;
        generic cross_tile_generic, avx512 cross_tile_avx512, avx2 cross_tile_avx2
    }

    #[inline(always)]
    pub(super) fn cross_tile_generic(
        &self,
        lhs: &[T],
        (r0, c0): (usize, usize),
        db: usize,
        (tile, dbuf, bias): (&mut [T], &mut Vec<T>, &mut Vec<T>),
        heaps: &mut [TopK],
    ) -> Option<f64> {
        let rhs = self.prep.block(Side::Data, c0, db, dbuf);
        let top = self.prep.block_bias(rhs, bias);
        self.gemm(lhs, rhs, tile);
        self.scan_rows(tile, (r0, c0), bias, heaps);
        top
    }

    /// The precise finite check of the data, run at most once per search (`done` keeps its
    /// outcome): the error naming the first non-finite value, if any.
    fn check_data_finite(&self, done: &OnceLock<bool>) -> Result<()> {
        if *done.get_or_init(|| check_finite(self.data.data, "the data").is_ok()) {
            return Ok(());
        }
        check_finite(self.data.data, "the data")
    }

    /// Fill the candidate pools of a self-join from the tiles on and above the block diagonal.
    pub(super) fn self_join(&self, heaps: &mut [TopK], monitor: &Monitor) -> Result<()> {
        let n = self.n;
        let nb = n.div_ceil(SELF_BLOCK);
        let tiles: Vec<(usize, usize)> =
            (0..nb).flat_map(|b| (b..nb).map(move |c| (b, c))).collect();
        monitor.set_total(tiles.len());
        let blocks: Vec<Mutex<&mut [TopK]>> =
            heaps.chunks_mut(SELF_BLOCK).map(Mutex::new).collect();
        let lock = |b: usize| blocks[b].lock().unwrap_or_else(|e| e.into_inner());
        tiles.par_iter().try_for_each_init(
            || {
                (
                    vec![T::ZERO; SELF_BLOCK * SELF_BLOCK.min(n)],
                    Rows::new(),
                    Vec::new(),
                )
            },
            |(tile, rows, cbuf), &(b, c)| -> Result<()> {
                monitor.check()?;
                let (r0, c0) = (b * SELF_BLOCK, c * SELF_BLOCK);
                let (qb, db) = (SELF_BLOCK.min(n - r0), SELF_BLOCK.min(n - c0));
                let lhs = rows.get(self.prep, Side::Data, b, r0, qb);
                self.gemm(lhs, self.prep.block(Side::Data, c0, db, cbuf), tile);
                let bias = &self.prep.bias[c0..c0 + db];
                self.scan_rows(tile, (r0, c0), bias, &mut lock(b));
                if c != b {
                    self.scan_cols(tile, r0, qb, db, &mut lock(c));
                }
                monitor.advance(1);
                Ok(())
            },
        )
    }

    /// Re-rank the pool of row `i` exactly; fall back to an exact scan when the rounding bound
    /// cannot prove that the pool holds the true top k.
    ///
    /// The pool comes sorted by key, and a key bounds the exact value from below (to within
    /// the rounding bound), so the exact values are computed in key order only while a
    /// candidate could still beat the current k-th exact value: the rest of the pool is
    /// provably farther, and the result is that of re-ranking the whole pool.
    pub(super) fn refine(&self, i: usize, heap: &mut TopK) -> Vec<(f64, usize)> {
        let k = self.params.k;
        let pool = heap.drain_sorted();
        let worst_key = pool.last().map_or(f64::INFINITY, |p| p.0);
        let complete = pool.len() == self.n - self.params.self_offset.is_some() as usize;
        let by_value = |a: &(f64, usize), b: &(f64, usize)| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1));
        let head = k.min(pool.len());
        let mut exact: Vec<(f64, usize)> = pool[..head]
            .iter()
            .map(|&(_, j)| (self.exact(i, j), j))
            .collect();
        exact.sort_unstable_by(by_value);
        let (slack, offset) = self.key_bound(i);
        for &(key, j) in &pool[head..] {
            let kth = exact[k - 1].0;
            if key - self.bound(slack, kth) + offset > kth {
                break; // this key and every later one: provably beyond the k-th value
            }
            let e = (self.exact(i, j), j);
            if by_value(&e, &exact[k - 1]).is_lt() {
                let at = exact.partition_point(|x| by_value(x, &e).is_lt());
                exact.insert(at, e);
                exact.truncate(k);
            }
        }
        // A pool short of k (keys that are not finite, after an overflow) proves nothing.
        let proven = exact.len() == k
            && (complete
                || worst_key - self.bound(slack, exact[k - 1].0) + offset > exact[k - 1].0);
        if proven {
            return exact;
        }
        let mut all = TopK::new(k);
        for j in 0..self.n {
            if self.self_index(i) != Some(j) {
                all.push(self.exact(i, j), j);
            }
        }
        all.drain_sorted()
    }

    /// For query row `i`: the part of the rounding bound on a key that does not depend on the
    /// k-th value, and the offset between a key and the exact value it approximates
    /// (`key + offset` is the exact value up to the bound).
    fn key_bound(&self, i: usize) -> (f64, f64) {
        let qn = self.prep.query_norm_prepared(i);
        let scale = (qn + self.max_norm).powi(2);
        let u = T::UNIT_ROUNDOFF;
        let d = self.d as f64;
        let slack = ((2.0 * d + 12.0) * u + 64.0 * (d + 1.0) * f64::EPSILON) * scale;
        let offset = match self.prep.metric {
            Metric::Euclidean | Metric::SqEuclidean => qn * qn,
            Metric::Cosine => 1.0,
            Metric::InnerProduct => 0.0,
        };
        (slack, offset)
    }

    /// The rounding bound on a key given the k-th exact value `kth`.
    fn bound(&self, slack: f64, kth: f64) -> f64 {
        slack + 64.0 * (self.d as f64 + 1.0) * f64::EPSILON * kth.abs()
    }
}

/// A prepared row block kept across the tiles of one thread that share it (consecutive tiles
/// of a row of blocks), so that it is prepared once per run of tiles rather than per tile.
pub(super) struct Rows<T> {
    block: Option<(Side, usize)>,
    buf: Vec<T>,
}

impl<T: Real> Rows<T> {
    pub(super) fn new() -> Self {
        Rows {
            block: None,
            buf: Vec::new(),
        }
    }

    /// Prepared rows `r0..r0 + rows` of `side`, which form its block number `block`.
    pub(super) fn get<'b>(
        &'b mut self,
        prep: &'b Prepared<'_, T>,
        side: Side,
        block: usize,
        r0: usize,
        rows: usize,
    ) -> &'b [T] {
        if prep.metric == Metric::InnerProduct {
            return prep.block(side, r0, rows, &mut self.buf); // borrowed: nothing to keep
        }
        if self.block != Some((side, block)) {
            prep.block(side, r0, rows, &mut self.buf);
            self.block = Some((side, block));
        }
        &self.buf
    }
}
