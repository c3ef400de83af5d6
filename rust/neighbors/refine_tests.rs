use super::*;
use crate::neighbors::{exact_key, knn_keys, norm, KnnParams};
use crate::test_util::lcg;

/// `clusters` tight groups of points in `d` dimensions (row order interleaves the groups).
fn clustered(n: usize, d: usize, clusters: usize) -> Vec<f64> {
    let centres = lcg(7, clusters * d);
    let noise = lcg(8, n * d);
    (0..n * d)
        .map(|e| 20.0 * centres[(e / d) % clusters * d + e % d] + noise[e])
        .collect()
}

fn exact(data: &[f64], n: usize, d: usize, k: usize, metric: Metric) -> Table {
    let m = Matrix::new(data, n, d).unwrap();
    let p = KnnParams {
        k,
        metric,
        self_offset: Some(0),
        n_threads: None,
    };
    let r = knn_keys(m, None, &p, &Monitor::new()).unwrap();
    Table {
        indices: r.indices,
        keys: r.distances,
        k,
    }
}

/// A poor table: each row's neighbours drawn from a fixed stride pattern, with exact values.
fn poor(data: &[f64], n: usize, d: usize, k: usize, metric: Metric) -> Table {
    let m = Matrix::new(data, n, d).unwrap();
    let norms: Vec<f64> = (0..n).map(|i| norm(m.row(i))).collect();
    let (mut indices, mut keys) = (Vec::new(), Vec::new());
    for i in 0..n {
        let mut row: Vec<(f64, i64)> = (1..=k)
            .map(|s| (i + s * 37) % n)
            .map(|j| {
                (
                    exact_key(metric, m.row(i), m.row(j), || (norms[i], norms[j])),
                    j as i64,
                )
            })
            .collect();
        row.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        indices.extend(row.iter().map(|p| p.1));
        keys.extend(row.iter().map(|p| p.0));
    }
    Table { indices, keys, k }
}

fn params(metric: Metric, rounds: usize, threads: Option<usize>) -> RefineParams {
    RefineParams {
        metric,
        rounds,
        reverse: 10,
        exclude_self: true,
        n_threads: threads,
    }
}

fn recall(got: &Table, truth: &Table) -> f64 {
    let k = got.k;
    let hits: usize = got
        .indices
        .chunks(k)
        .zip(truth.indices.chunks(k))
        .map(|(a, b)| a.iter().filter(|j| b.contains(j)).count())
        .sum();
    hits as f64 / got.indices.len() as f64
}

#[test]
fn refinement_reaches_the_exact_lists_from_a_poor_start() {
    let (n, d, k) = (600, 6, 5);
    let data = clustered(n, d, 12);
    let m = Matrix::new(&data, n, d).unwrap();
    for metric in [Metric::SqEuclidean, Metric::Cosine, Metric::InnerProduct] {
        let truth = exact(&data, n, d, k, metric);
        let start = poor(&data, n, d, k, metric);
        let before = recall(&start, &truth);
        let (got, changes) = refine(
            m,
            start,
            None,
            None,
            &params(metric, 20, None),
            &Monitor::new(),
        )
        .unwrap();
        assert!(
            changes[0] > 0 && changes.len() >= 2,
            "{metric:?}: {changes:?}"
        );
        let after = recall(&got, &truth);
        assert!(
            after > 0.95 && after > before,
            "{metric:?}: {before} -> {after}"
        );
        for (i, (row, vals)) in got.indices.chunks(k).zip(got.keys.chunks(k)).enumerate() {
            let mut seen = row.to_vec();
            seen.sort();
            seen.dedup();
            assert_eq!(seen.len(), k, "duplicates in row {i}");
            assert!(!row.contains(&(i as i64)), "self in row {i}");
            for (s, (&j, &v)) in row.iter().zip(vals).enumerate() {
                let (qn, xn) = (norm(m.row(i)), norm(m.row(j as usize)));
                assert_eq!(
                    v,
                    exact_key(metric, m.row(i), m.row(j as usize), || (qn, xn))
                );
                // No list can beat the exact one, slot by slot.
                assert!(v >= truth.keys[i * k + s]);
                if s > 0 {
                    assert!((vals[s - 1], row[s - 1]) < (v, j), "row {i} not ordered");
                }
            }
        }
    }
}

#[test]
fn an_exact_table_is_a_fixed_point() {
    let (n, d, k) = (300, 5, 4);
    let data = clustered(n, d, 6);
    let m = Matrix::new(&data, n, d).unwrap();
    let truth = exact(&data, n, d, k, Metric::Euclidean);
    let (got, changes) = refine(
        m,
        truth.clone(),
        None,
        None,
        &params(Metric::Euclidean, 3, None),
        &Monitor::new(),
    )
    .unwrap();
    assert_eq!(changes, vec![0]);
    assert_eq!(got, truth);
}

#[test]
fn threads_and_visiting_order_do_not_change_the_result() {
    let (n, d, k) = (2500, 4, 6);
    let data = clustered(n, d, 30);
    let m = Matrix::new(&data, n, d).unwrap();
    let start = poor(&data, n, d, k, Metric::SqEuclidean);
    let run = |threads, order: Option<&[i64]>| {
        let p = params(Metric::SqEuclidean, 2, threads);
        refine(m, start.clone(), order, None, &p, &Monitor::new()).unwrap()
    };
    let reversed: Vec<i64> = (0..n as i64).rev().collect();
    let one = run(Some(1), None);
    assert_eq!(one, run(Some(3), None));
    assert_eq!(one, run(Some(2), Some(&reversed)));
}

#[test]
fn self_is_found_when_not_excluded() {
    let (n, d, k) = (200, 3, 3);
    let data = clustered(n, d, 4);
    let m = Matrix::new(&data, n, d).unwrap();
    let start = poor(&data, n, d, k, Metric::SqEuclidean);
    let mut p = params(Metric::SqEuclidean, 5, None);
    p.exclude_self = false;
    let (got, _) = refine(m, start, None, None, &p, &Monitor::new()).unwrap();
    for i in 0..n {
        assert_eq!(got.indices[i * k], i as i64);
        assert_eq!(got.keys[i * k], 0.0);
    }
}

#[test]
fn bad_tables_and_orders_are_errors() {
    let (n, d) = (10, 2);
    let data = lcg(3, n * d);
    let m = Matrix::new(&data, n, d).unwrap();
    let good = Table {
        indices: vec![1; n],
        keys: vec![0.0; n],
        k: 1,
    };
    let p = params(Metric::Euclidean, 1, None);
    let err = |t: Table, o: Option<&[i64]>| {
        refine(m, t, o, None, &p, &Monitor::new())
            .unwrap_err()
            .to_string()
    };
    let mut bad = good.clone();
    bad.indices[3] = 10;
    assert!(err(bad, None).contains("outside the 10 data rows"));
    let mut bad = good.clone();
    bad.indices[3] = -1;
    assert!(err(bad, None).contains("outside"));
    let short = Table {
        indices: vec![1; 4],
        keys: vec![0.0; 4],
        k: 1,
    };
    assert!(err(short, None).contains("must have 10 rows"));
    assert!(err(good.clone(), Some(&[0, 1, 2])).contains("permutation"));
    let dup: Vec<i64> = (0..10).map(|i| i / 2).collect();
    assert!(err(good.clone(), Some(&dup)).contains("permutation"));
    let wide = Table {
        indices: vec![1; n * n],
        keys: vec![0.0; n * n],
        k: n,
    };
    assert!(err(wide, None).contains("smaller than the number of points"));
}

#[test]
fn only_paths_through_fresh_entries_are_compared() {
    let (n, d, k) = (800, 5, 5);
    let data = clustered(n, d, 16);
    let m = Matrix::new(&data, n, d).unwrap();
    let p = params(Metric::SqEuclidean, 10, None);
    let start = poor(&data, n, d, k, Metric::SqEuclidean);
    // Nothing fresh: nothing to compare, nothing changes.
    let none = vec![false; n * k];
    let (same, changes) = refine(m, start.clone(), None, Some(&none), &p, &Monitor::new()).unwrap();
    assert_eq!((same, changes), (start.clone(), vec![0]));
    // All fresh is the default.
    let all = vec![true; n * k];
    let full = refine(m, start.clone(), None, Some(&all), &p, &Monitor::new()).unwrap();
    assert_eq!(
        full,
        refine(m, start.clone(), None, None, &p, &Monitor::new()).unwrap()
    );
    let err = refine(m, start, None, Some(&all[1..]), &p, &Monitor::new()).unwrap_err();
    assert!(err.to_string().contains("shape of the table"));
}

#[test]
fn the_vectorised_rows_match_the_plain_ones_bit_for_bit() {
    let (n, d, k) = (500, 37, 6);
    let data = clustered(n, d, 10);
    let m = Matrix::new(&data, n, d).unwrap();
    for metric in [Metric::Euclidean, Metric::Cosine, Metric::InnerProduct] {
        let table = poor(&data, n, d, k, metric);
        let norms: Vec<f64> = (0..n).map(|i| norm(m.row(i))).collect();
        let fresh = vec![true; n * k];
        let p = params(metric, 1, None);
        let round = Round {
            data: m,
            table: &table,
            fresh: &fresh,
            reverse: Reverse::new(&table, n, p.reverse).unwrap(),
            norms: &norms,
            params: &p,
        };
        let rows: Vec<usize> = (0..n).collect();
        let bits = |r: Vec<Entry>| -> Vec<(i64, u64, bool)> {
            r.into_iter().map(|(j, v, f)| (j, v.to_bits(), f)).collect()
        };
        assert_eq!(
            bits(round.rows(&rows)),
            bits(round.rows_generic(&rows)),
            "{metric:?}"
        );
    }
}
