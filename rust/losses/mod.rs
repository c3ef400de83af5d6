//! Loss kernels: the EXACT expected accuracy (`latentgeo.losses.expected_accuracy`).

pub mod expected_accuracy;
