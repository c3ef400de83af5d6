//! k-occurrence: how often each index point appears in the neighbour lists.

use crate::{Error, Result};

/// Count, for each of `n_index` points, how many rows of the `(rows x k)` neighbour table
/// `indices` (row-major) contain it. Entries equal to -1 mark missing neighbours and are skipped.
pub fn k_occurrence(indices: &[i64], n_index: usize) -> Result<Vec<i64>> {
    let what = format!("the k-occurrence counts of n_index = {n_index} points");
    let mut counts: Vec<i64> = crate::buffers::zeros(n_index, &what)?;
    for (pos, &j) in indices.iter().enumerate() {
        if j == -1 {
            continue;
        }
        if j < 0 || j as usize >= n_index {
            return Err(Error::invalid(format!(
                "neighbour index {j} at flat position {pos} is out of range for {n_index} points"
            )));
        }
        counts[j as usize] += 1;
    }
    Ok(counts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn star_graph_counts() {
        // Origin plus e1..e4, k = 1: everyone's nearest neighbour is the origin, whose is e1.
        let idx = [1, 0, 0, 0, 0];
        assert_eq!(k_occurrence(&idx, 5).unwrap(), vec![4, 1, 0, 0, 0]);
    }

    #[test]
    fn rejects_out_of_range() {
        assert!(k_occurrence(&[0, 5], 5).is_err());
        assert!(k_occurrence(&[-2], 5).is_err());
    }

    #[test]
    fn skips_missing() {
        assert_eq!(k_occurrence(&[-1, 1, 1], 2).unwrap(), vec![0, 2]);
    }
}
