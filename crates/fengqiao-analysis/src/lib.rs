//! Pure computations over the case stream: text triage and near-duplicates (`text`), spatial
//! and space–time statistics (`spatial`).
//!
//! Invariant: no IO, no async, no SQL, no HTTP. Inputs are plain values (ids, counts, weights,
//! texts); results are plain values, so every statistic can be checked against the reference
//! tools on the same numbers.

pub mod burst;
pub mod spatial;
pub mod text;
