use super::*;
use crate::test_util::lcg;

fn run<T: Real>(m: Matrix<'_, T>, q: Option<Matrix<'_, T>>, p: &KnnParams) -> Result<Neighbors<T>> {
    knn(m, q, p, &Monitor::new())
}

fn brute(
    data: &[f64],
    n: usize,
    d: usize,
    k: usize,
    metric: Metric,
) -> Vec<(Vec<usize>, Vec<f64>)> {
    (0..n)
        .map(|i| {
            let mut v: Vec<(f64, usize)> = (0..n)
                .filter(|&j| j != i)
                .map(|j| {
                    let (a, b) = (&data[i * d..(i + 1) * d], &data[j * d..(j + 1) * d]);
                    let dot: f64 = a.iter().zip(b).map(|(x, y)| x * y).sum();
                    let sq: f64 = a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum();
                    let (na, nb) = (norm(a), norm(b));
                    let key = match metric {
                        Metric::Euclidean | Metric::SqEuclidean => sq,
                        Metric::Cosine => 1.0 - dot / (na * nb),
                        Metric::InnerProduct => -dot,
                    };
                    (key, j)
                })
                .collect();
            v.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            v.truncate(k);
            (
                v.iter().map(|p| p.1).collect(),
                v.iter().map(|p| p.0).collect(),
            )
        })
        .collect()
}

fn params(k: usize, metric: Metric, threads: Option<usize>) -> KnnParams {
    KnnParams {
        k,
        metric,
        self_offset: Some(0),
        n_threads: threads,
    }
}

#[test]
fn agrees_with_brute_force_all_metrics() {
    let (n, d, k) = (300, 7, 5);
    let data = lcg(1, n * d);
    for metric in [
        Metric::Euclidean,
        Metric::SqEuclidean,
        Metric::Cosine,
        Metric::InnerProduct,
    ] {
        let m = Matrix::new(&data, n, d).unwrap();
        let got = run(m, None, &params(k, metric, None)).unwrap();
        let want = brute(&data, n, d, k, metric);
        for (i, (want_idx, want_key)) in want.iter().enumerate() {
            let gi: Vec<usize> = got.indices[i * k..(i + 1) * k]
                .iter()
                .map(|&j| j as usize)
                .collect();
            assert_eq!(&gi, want_idx, "metric {metric:?} row {i}");
            for (s, &e) in want_key.iter().enumerate() {
                let expect = match metric {
                    Metric::Euclidean => e.sqrt(),
                    Metric::InnerProduct => -e,
                    _ => e,
                };
                assert!((got.distances[i * k + s] - expect).abs() < 1e-9);
            }
        }
    }
}

#[test]
fn f32_matches_f64_indices_and_large_offsets() {
    // A big common offset stresses the norm trick; centring keeps it exact.
    let (n, d, k) = (500, 16, 8);
    let data: Vec<f64> = lcg(7, n * d).iter().map(|v| v + 1000.0).collect();
    let data32: Vec<f32> = data.iter().map(|&v| v as f32).collect();
    let back: Vec<f64> = data32.iter().map(|&v| v as f64).collect();
    let got = run(
        Matrix::new(&data32, n, d).unwrap(),
        None,
        &params(k, Metric::Euclidean, None),
    )
    .unwrap();
    let want = brute(&back, n, d, k, Metric::Euclidean);
    for (i, (want_idx, _)) in want.iter().enumerate() {
        let gi: Vec<usize> = got.indices[i * k..(i + 1) * k]
            .iter()
            .map(|&j| j as usize)
            .collect();
        assert_eq!(&gi, want_idx);
    }
}

#[test]
fn duplicates_excluded_by_index_and_ties_to_lower_index() {
    let data = [0.0, 0.0, 0.0, 0.0, 5.0, 0.0, 5.0, 1.0];
    let got = run(
        Matrix::new(&data, 4, 2).unwrap(),
        None,
        &params(1, Metric::Euclidean, None),
    )
    .unwrap();
    assert_eq!(got.indices, vec![1, 0, 3, 2]);
    // Four equidistant points: ties go to the lower index.
    let sq = [1.0, 0.0, 0.0, 1.0, -1.0, 0.0, 0.0, -1.0, 0.0, 0.0];
    let got = run(
        Matrix::new(&sq, 5, 2).unwrap(),
        None,
        &params(2, Metric::Euclidean, None),
    )
    .unwrap();
    assert_eq!(&got.indices[8..10], &[0, 1]);
}

#[test]
fn thread_count_and_blocks_do_not_change_results() {
    let (n, d, k) = (2 * DATA_BLOCK + 37, 5, 12);
    // Quantised values create many exact ties.
    let data: Vec<f32> = lcg(3, n * d)
        .iter()
        .map(|v| (v * 4.0).round() as f32)
        .collect();
    let m = Matrix::new(&data, n, d).unwrap();
    let a = run(m, None, &params(k, Metric::Euclidean, Some(1))).unwrap();
    let b = run(m, None, &params(k, Metric::Euclidean, Some(2))).unwrap();
    assert_eq!(a, b);
    // A query chunk with an offset gives the same rows as the full self-join.
    let (lo, hi) = (300, 700);
    let q = Matrix::new(&data[lo * d..hi * d], hi - lo, d).unwrap();
    let p = KnnParams {
        self_offset: Some(lo),
        ..params(k, Metric::Euclidean, None)
    };
    let c = run(m, Some(q), &p).unwrap();
    assert_eq!(c.indices, a.indices[lo * k..hi * k]);
    // Without self-exclusion each point is its own nearest neighbour (distance 0).
    let p = KnnParams {
        self_offset: None,
        ..params(k, Metric::Euclidean, None)
    };
    let e = run(m, None, &p).unwrap();
    assert!((0..n).all(|i| e.indices[i * k] == i as i64 || e.distances[i * k] == 0.0));
}

#[test]
fn few_queries_split_the_data_without_changing_results() {
    let (n, d, k) = (3 * DATA_BLOCK + 11, 4, 7);
    let data: Vec<f64> = lcg(5, n * d).iter().map(|v| (v * 3.0).round()).collect();
    let m = Matrix::new(&data, n, d).unwrap();
    let q = Matrix::new(&data[..3 * d], 3, d).unwrap();
    let p = |t| KnnParams {
        self_offset: Some(0),
        ..params(k, Metric::Euclidean, Some(t))
    };
    let one = run(m, Some(q), &p(1)).unwrap();
    let two = run(m, Some(q), &p(2)).unwrap();
    let four = run(m, Some(q), &p(4)).unwrap();
    assert_eq!(one, two);
    assert_eq!(one, four);
    let full = run(m, None, &params(k, Metric::Euclidean, Some(2))).unwrap();
    assert_eq!(one.indices, full.indices[..3 * k]);
}

#[test]
fn bad_input_is_an_error() {
    let data = [0.0, 1.0, 2.0, f64::NAN];
    let m = Matrix::new(&data, 2, 2).unwrap();
    assert!(run(m, None, &params(1, Metric::Euclidean, None)).is_err());
    let data = [0.0, 1.0, 2.0, 3.0];
    let m = Matrix::new(&data, 2, 2).unwrap();
    assert!(run(m, None, &params(2, Metric::Euclidean, None)).is_err());
    assert!(run(m, None, &params(0, Metric::Euclidean, None)).is_err());
    let q = Matrix::new(&data[..3], 1, 3).unwrap();
    let p = KnnParams {
        self_offset: None,
        ..params(1, Metric::Euclidean, None)
    };
    assert!(run(m, Some(q), &p).is_err());
    let mon = Monitor::new();
    mon.cancel();
    assert_eq!(
        knn(m, None, &params(1, Metric::Euclidean, None), &mon),
        Err(Error::Cancelled)
    );
    assert!(Matrix::new(&data, 3, 2).is_err());
}

#[test]
fn keys_are_the_unreported_ranking_values_and_merge_across_blocks() {
    // knn_keys returns the neighbours of knn with their exact f64 ranking values; top-k lists of
    // disjoint data blocks merged by (value, index) are the top k of all the data.
    let (n, d, k) = (90, 5, 6);
    let data: Vec<f32> = lcg(7, n * d).iter().map(|&v| v as f32).collect();
    let m = Matrix::new(&data, n, d).unwrap();
    for metric in [Metric::Euclidean, Metric::Cosine, Metric::InnerProduct] {
        let p = KnnParams {
            k,
            metric,
            self_offset: None,
            n_threads: Some(2),
        };
        let full = knn_keys(m, Some(m), &p, &Monitor::new()).unwrap();
        let reported = knn(m, Some(m), &p, &Monitor::new()).unwrap();
        assert_eq!(full.indices, reported.indices);
        let mut merged: Vec<Vec<(f64, i64)>> = vec![Vec::new(); n];
        for (lo, hi) in [(0, 31), (31, 32), (32, 90)] {
            let block = Matrix::new(&data[lo * d..hi * d], hi - lo, d).unwrap();
            let pb = KnnParams {
                k: k.min(hi - lo),
                ..p
            };
            let part = knn_keys(block, Some(m), &pb, &Monitor::new()).unwrap();
            for (i, row) in merged.iter_mut().enumerate() {
                for s in 0..part.k {
                    let at = i * part.k + s;
                    row.push((part.distances[at], part.indices[at] + lo as i64));
                }
            }
        }
        for (i, mut row) in merged.into_iter().enumerate() {
            row.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            let idx: Vec<i64> = row[..k].iter().map(|e| e.1).collect();
            let keys: Vec<f64> = row[..k].iter().map(|e| e.0).collect();
            assert_eq!(idx, full.indices[i * k..(i + 1) * k]);
            assert_eq!(keys, full.distances[i * k..(i + 1) * k]);
        }
    }
}

#[test]
fn a_block_pair_ranks_both_ways_as_two_searches() {
    // Blocks of 700 and 530 rows (several tiles each way, ragged ends), with duplicated rows
    // across the blocks for ties: both lists equal the two one-way searches bit for bit.
    let d = 6;
    let mut a: Vec<f32> = lcg(11, 700 * d).iter().map(|&v| v as f32).collect();
    let b: Vec<f32> = lcg(12, 530 * d).iter().map(|&v| v as f32).collect();
    a[..3 * d].copy_from_slice(&b[..3 * d]);
    a[3 * d..4 * d].copy_from_slice(&b[..d]);
    let (ma, mb) = (
        Matrix::new(&a, 700, d).unwrap(),
        Matrix::new(&b, 530, d).unwrap(),
    );
    for metric in [
        Metric::Euclidean,
        Metric::SqEuclidean,
        Metric::Cosine,
        Metric::InnerProduct,
    ] {
        for threads in [Some(1), Some(2)] {
            let (ra, rb) =
                knn_keys_pair(ma, mb, (7, 530), metric, threads, &Monitor::new()).unwrap();
            let one_way = |data, query, k| {
                let p = KnnParams {
                    k,
                    metric,
                    self_offset: None,
                    n_threads: threads,
                };
                knn_keys(data, Some(query), &p, &Monitor::new()).unwrap()
            };
            assert_eq!(ra, one_way(mb, ma, 7));
            assert_eq!(rb, one_way(ma, mb, 530));
        }
    }
}

#[test]
fn a_block_pair_rejects_bad_input() {
    let a = vec![0.0f64; 12];
    let (ma, mb) = (
        Matrix::new(&a, 4, 3).unwrap(),
        Matrix::new(&a[..6], 2, 3).unwrap(),
    );
    let run = |k| knn_keys_pair(ma, mb, k, Metric::Euclidean, None, &Monitor::new());
    assert!(run((3, 1)).is_err(), "ka larger than the rows of b");
    assert!(run((1, 5)).is_err(), "kb larger than the rows of a");
    assert!(run((0, 1)).is_err());
    assert!(run((2, 4)).is_ok());
    let other = Matrix::new(&a[..8], 2, 4).unwrap();
    assert!(knn_keys_pair(ma, other, (1, 1), Metric::Cosine, None, &Monitor::new()).is_err());
}

/// The exact top k of each query row among the data rows, by (f64 value, index).
fn brute_cross(data: &[f64], query: &[f64], d: usize, k: usize, metric: Metric) -> Vec<Vec<i64>> {
    let value = |a: &[f64], b: &[f64]| {
        let dot: f64 = a.iter().zip(b).map(|(x, y)| x * y).sum();
        match metric {
            Metric::Euclidean | Metric::SqEuclidean => {
                a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
            }
            Metric::Cosine => {
                let den = norm(a) * norm(b);
                1.0 - if den > 0.0 { dot / den } else { 0.0 }
            }
            Metric::InnerProduct => -dot,
        }
    };
    query
        .chunks(d)
        .map(|q| {
            let mut v: Vec<(f64, i64)> = data
                .chunks(d)
                .enumerate()
                .map(|(j, x)| (value(q, x), j as i64))
                .collect();
            v.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            v.iter().take(k).map(|p| p.1).collect()
        })
        .collect()
}

#[test]
fn few_queries_on_hostile_data_match_brute_force() {
    // More rows than the centre's sample and several data blocks; a large common offset (the
    // centre comes from a sample of rows), duplicated rows and quantised values (exact ties).
    let (n, d, k) = (2 * DATA_BLOCK + 4133, 6, 9);
    let mut data: Vec<f32> = lcg(21, n * d)
        .iter()
        .map(|v| ((v * 4.0).round() + 3.0e4) as f32)
        .collect();
    data.copy_within(..50 * d, 3000 * d);
    let query: Vec<f32> = data[2990 * d..3030 * d].to_vec();
    let wide = |v: &[f32]| v.iter().map(|&x| x as f64).collect::<Vec<f64>>();
    let (m, q) = (
        Matrix::new(&data, n, d).unwrap(),
        Matrix::new(&query, 40, d).unwrap(),
    );
    for metric in [
        Metric::Euclidean,
        Metric::SqEuclidean,
        Metric::Cosine,
        Metric::InnerProduct,
    ] {
        let p = KnnParams {
            self_offset: None,
            ..params(k, metric, Some(2))
        };
        let got = run(m, Some(q), &p).unwrap();
        let want = brute_cross(&wide(&data), &wide(&query), d, k, metric);
        for (i, w) in want.iter().enumerate() {
            assert_eq!(&got.indices[i * k..(i + 1) * k], w, "{metric:?} row {i}");
        }
    }
}

#[test]
fn few_queries_report_the_first_non_finite_value() {
    let (n, d) = (DATA_BLOCK + 100, 3);
    let mut data: Vec<f64> = lcg(4, n * d);
    let mut query = data[..2 * d].to_vec();
    let p = KnnParams {
        self_offset: None,
        ..params(1, Metric::Euclidean, Some(2))
    };
    let search = |data: &[f64], query: &[f64]| {
        let (m, q) = (
            Matrix::new(data, n, d).unwrap(),
            Matrix::new(query, 2, d).unwrap(),
        );
        run(m, Some(q), &p).unwrap_err().to_string()
    };
    let at = |what: &str, i: usize| {
        format!("{what} contains a non-finite value (NaN or inf) at flat position {i}")
    };
    data[(DATA_BLOCK + 7) * d + 1] = f64::INFINITY;
    data[(DATA_BLOCK + 50) * d] = f64::NAN;
    assert!(search(&data, &query).ends_with(&at("the data", (DATA_BLOCK + 7) * d + 1)));
    query[4] = f64::NAN;
    assert!(search(&data, &query).ends_with(&at("the data", (DATA_BLOCK + 7) * d + 1)));
    let clean: Vec<f64> = lcg(4, n * d);
    assert!(search(&clean, &query).ends_with(&at("the query", 4)));
}

#[test]
fn few_queries_survive_an_overflow_of_the_norms() {
    // Finite values whose squares overflow: the bound cannot prove anything, so every row is
    // searched exactly (all distances infinite but the duplicate's, ties to the lower index).
    let (n, d) = (300, 2);
    let data: Vec<f64> = lcg(8, n * d).iter().map(|v| (v + 2.0) * 1e200).collect();
    let query = data[5 * d..6 * d].to_vec();
    let (m, q) = (
        Matrix::new(&data, n, d).unwrap(),
        Matrix::new(&query, 1, d).unwrap(),
    );
    let p = KnnParams {
        self_offset: None,
        ..params(3, Metric::SqEuclidean, Some(2))
    };
    let got = run(m, Some(q), &p).unwrap();
    assert_eq!(got.indices[0], 5);
    assert_eq!(got.distances[0], 0.0);
}

#[test]
fn the_sampled_centre_is_a_mean_of_evenly_spaced_rows_when_it_helps() {
    let data: Vec<f32> = (0..10_000).map(|i| i as f32).collect();
    let all = sampled_centre(Matrix::new(&data[..4000], 2000, 2).unwrap());
    assert_eq!(all, Some(vec![1999.0, 2000.0]));
    let c = sampled_centre(Matrix::new(&data, 10_000, 1).unwrap()).unwrap();
    assert!((c[0] - 4999.5).abs() < 2.0, "{c:?}");
    let bad = sampled_centre(Matrix::new(&[1.0, f64::NAN, 3.0, 4.0], 2, 2).unwrap());
    assert_eq!(bad, None);
    let nan_free = sampled_centre(Matrix::new(&[1.0, f64::INFINITY, 3.0, 4.0], 2, 2).unwrap());
    assert_eq!(nan_free, None, "an infinite spread: centring cannot help");
    // Zero-mean rows: the offset is small against the spread, no centring.
    let sym: Vec<f64> = lcg(9, 3000).iter().map(|v| v * 10.0).collect();
    assert_eq!(sampled_centre(Matrix::new(&sym, 1000, 3).unwrap()), None);
    let shifted: Vec<f64> = sym.iter().map(|v| v + 10.0).collect();
    assert!(sampled_centre(Matrix::new(&shifted, 1000, 3).unwrap()).is_some());
}

#[test]
fn the_vectorised_tile_matches_the_generic_one_bit_for_bit() {
    // The tile code dispatched to AVX2 / AVX-512 and its plain (SSE2) body: same prepared rows,
    // biases, largest norm, GEMM tile and candidate pools.
    let (n, m, d) = (DATA_BLOCK + 300, 40, 37);
    let data: Vec<f32> = lcg(31, n * d).iter().map(|v| (v + 50.0) as f32).collect();
    let query: Vec<f32> = lcg(32, m * d).iter().map(|v| (v + 50.0) as f32).collect();
    let (dm, qm) = (
        Matrix::new(&data, n, d).unwrap(),
        Matrix::new(&query, m, d).unwrap(),
    );
    for metric in [Metric::Euclidean, Metric::Cosine, Metric::InnerProduct] {
        let p = KnnParams {
            self_offset: None,
            ..params(5, metric, Some(1))
        };
        let prep = Prepared::for_queries(dm, qm, metric);
        let search = Search {
            data: dm,
            query: qm,
            prep: &prep,
            params: &p,
            n,
            d,
            max_norm: 0.0,
        };
        let mut qbuf = Vec::new();
        let lhs = prep.block(Side::Query, 0, m, &mut qbuf);
        for c0 in [0, DATA_BLOCK] {
            let db = DATA_BLOCK.min(n - c0);
            let run = |dispatched: bool| {
                let (mut tile, mut dbuf, mut bias) = (vec![0.0f32; m * db], Vec::new(), Vec::new());
                let mut heaps: Vec<TopK> = (0..m).map(|_| TopK::new(search.pool())).collect();
                let bufs = (&mut tile[..], &mut dbuf, &mut bias);
                let top = if dispatched {
                    search.cross_tile(lhs, (0, c0), db, bufs, &mut heaps)
                } else {
                    search.cross_tile_generic(lhs, (0, c0), db, bufs, &mut heaps)
                };
                let pools: Vec<Vec<(f64, usize)>> =
                    heaps.iter_mut().map(|h| h.drain_sorted()).collect();
                let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<u32>>();
                (
                    top.map(f64::to_bits),
                    bits(&tile),
                    bits(&dbuf),
                    bits(&bias),
                    pools,
                )
            };
            assert_eq!(run(true), run(false), "{metric:?} block at {c0}");
        }
    }
}
