//! Diffusion samplers and likelihoods in Rust: closed-form schedules, counter-based noise, the
//! model interface (score / eps / x_0 / v), fixed-grid and adaptive integrators, and the exact
//! probability-flow likelihood. The Python layer builds time grids and calls these loops.

pub mod adaptive;
pub mod fixed;
pub mod likelihood;
pub mod model;
pub mod rng;
pub mod schedule;

#[cfg(test)]
mod tests;
