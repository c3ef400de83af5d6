//! A borrowed dense row-major matrix, shared by the kNN search and the unargmax checks.

use crate::{Error, Result};

/// A borrowed dense row-major matrix.
#[derive(Debug, Clone, Copy)]
pub struct Matrix<'a, T> {
    /// The entries, row after row.
    pub data: &'a [T],
    /// Number of rows.
    pub rows: usize,
    /// Number of columns.
    pub cols: usize,
}

impl<'a, T> Matrix<'a, T> {
    /// Wrap `data` as a `rows x cols` matrix, checking the length.
    pub fn new(data: &'a [T], rows: usize, cols: usize) -> Result<Self> {
        if rows.checked_mul(cols) != Some(data.len()) {
            return Err(Error::invalid(format!(
                "buffer of length {} cannot be a {rows} x {cols} matrix",
                data.len()
            )));
        }
        Ok(Matrix { data, rows, cols })
    }

    /// Row `i`.
    pub fn row(&self, i: usize) -> &'a [T] {
        &self.data[i * self.cols..(i + 1) * self.cols]
    }
}
