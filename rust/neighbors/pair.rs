//! Both directions of one block pair of a distributed self-join from a single GEMM per tile.

use std::sync::MutexGuard;

use super::*;

/// The exact top `ka` of each row of `a` among the rows of `b`, and the top `kb` of each row of
/// `b` among the rows of `a`, with exact f64 ranking values as [`knn_keys`] gives them.
///
/// Each `a x b` tile of dot products is computed once and ranked both along its rows and along
/// its columns, so an off-diagonal block pair of a self-join split over several processes costs
/// one GEMM instead of two. The ranking value of a pair does not depend on which side asks, so
/// the two lists equal `knn_keys(b, a)` and `knn_keys(a, b)` bit for bit.
pub fn knn_keys_pair<T: Real>(
    a: Matrix<'_, T>,
    b: Matrix<'_, T>,
    k: (usize, usize),
    metric: Metric,
    n_threads: Option<usize>,
    monitor: &Monitor,
) -> Result<(Neighbors<f64>, Neighbors<f64>)> {
    let params = |k| KnnParams {
        k,
        metric,
        self_offset: None,
        n_threads,
    };
    let (pa, pb) = (params(k.0), params(k.1));
    validate(b, a, &pa)?;
    validate(a, b, &pb)?;
    with_threads(n_threads, || {
        let d = a.cols;
        let prep_a = Prepared::new(b, Some(a), metric);
        let prep_b = prep_a.swapped();
        let rows_a = Search {
            data: b,
            query: a,
            prep: &prep_a,
            params: &pa,
            n: b.rows,
            d,
            max_norm: prep_a.max_norm,
        };
        let rows_b = Search {
            data: a,
            query: b,
            prep: &prep_b,
            params: &pb,
            n: a.rows,
            d,
            max_norm: prep_b.max_norm,
        };
        let (mut heaps_a, mut heaps_b) = (rows_a.heaps()?, rows_b.heaps()?);
        both_ways(&rows_a, &rows_b, &mut heaps_a, &mut heaps_b, monitor)?;
        Ok((
            rows_a.finish(heaps_a, |_, e| e)?,
            rows_b.finish(heaps_b, |_, e| e)?,
        ))
    })?
}

/// Fill the pools of the rows of `a` (queries of `rows_a`) and of `b` (queries of `rows_b`)
/// from the `a x b` tiles, each computed once.
fn both_ways<T: Real>(
    rows_a: &Search<'_, '_, T>,
    rows_b: &Search<'_, '_, T>,
    heaps_a: &mut [TopK],
    heaps_b: &mut [TopK],
    monitor: &Monitor,
) -> Result<()> {
    let (m, n) = (rows_a.query.rows, rows_b.query.rows);
    let (mb, nb) = (m.div_ceil(SELF_BLOCK), n.div_ceil(SELF_BLOCK));
    let tiles: Vec<(usize, usize)> = (0..mb).flat_map(|r| (0..nb).map(move |c| (r, c))).collect();
    monitor.set_total(tiles.len());
    let blocks_a: Vec<Mutex<&mut [TopK]>> =
        heaps_a.chunks_mut(SELF_BLOCK).map(Mutex::new).collect();
    let blocks_b: Vec<Mutex<&mut [TopK]>> =
        heaps_b.chunks_mut(SELF_BLOCK).map(Mutex::new).collect();
    let prep = rows_a.prep;
    tiles.par_iter().try_for_each_init(
        || {
            (
                vec![T::ZERO; SELF_BLOCK * SELF_BLOCK.min(n)],
                Rows::new(),
                Vec::new(),
            )
        },
        |(tile, rows, cbuf), &(r, c)| -> Result<()> {
            monitor.check()?;
            let (r0, c0) = (r * SELF_BLOCK, c * SELF_BLOCK);
            let (qb, db) = (SELF_BLOCK.min(m - r0), SELF_BLOCK.min(n - c0));
            let lhs = rows.get(prep, Side::Query, r, r0, qb);
            rows_a.gemm(lhs, prep.block(Side::Data, c0, db, cbuf), tile);
            let bias = &prep.bias[c0..c0 + db];
            rows_a.scan_rows(tile, (r0, c0), bias, &mut lock(&blocks_a, r));
            rows_b.scan_cols(tile, r0, qb, db, &mut lock(&blocks_b, c));
            monitor.advance(1);
            Ok(())
        },
    )
}

fn lock<'m, 'h>(blocks: &'m [Mutex<&'h mut [TopK]>], i: usize) -> MutexGuard<'m, &'h mut [TopK]> {
    blocks[i].lock().unwrap_or_else(|e| e.into_inner())
}
