//! Diffusion samplers and likelihoods in Rust: closed-form schedules, counter-based noise, the
//! model interface (score / eps / x_0 / v), fixed-grid and adaptive integrators, the exact
//! probability-flow likelihood, and the analytic Gaussian mixture ([`gmm`]). The Python layer
//! builds time grids and calls these loops.

pub mod adaptive;
pub mod fixed;
pub mod gmm;
pub mod likelihood;
pub mod model;
pub mod rng;
pub mod runge_kutta;
pub mod schedule;

#[cfg(test)]
mod tests;
