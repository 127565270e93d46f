//! Matching engine of reemploi: decides which ESS partners should be offered
//! which lots of reusable building materials, and computes site-wide
//! allocations. Pure: no I/O, no async, no clock (callers pass `now`), so the
//! matching service, the CLI and the benchmarks all get the same answers.
//!
//! - [`gate`]: hard feasibility rules, each named ([`Gate`]) so a refusal is
//!   explainable and every rule testable on its own.
//! - [`score`]: a score in [0, 1] with its per-factor [`Breakdown`].
//! - [`index`]: sparse grids per material family for top-k partners of a lot
//!   and top-k lots of a partner, identical to a linear scan.
//! - [`alloc`]: the site-wide allocation, documented below.
//!
//! # Availability windows
//!
//! A lot is available on `[from, until]` (either side may be open). A partner
//! can pick up on `[now, now + horizon_ms]` where `horizon_ms` is its own
//! planning horizon. The pair is feasible only if the two closed intervals
//! share an instant, so a lot whose deadline has passed, or that opens after
//! the partner's horizon, is never proposed.
//!
//! # Allocation model
//!
//! Data: lots `i` with `u_i` whole units of `m_i` grams each (supply
//! `s_i = u_i·m_i`); partners `j` with capacity `C_j = weekly_intake_g −
//! committed_g`; an arc `(i, j)` for every pair passing all gates at `now`,
//! with cost `d_ij` = great-circle distance rounded to whole metres.
//!
//! **Mass model, solved exactly.** Choose integer grams `f_ij ≥ 0` on the
//! arcs with `Σ_j f_ij ≤ s_i` and `Σ_i f_ij ≤ C_j`; lexicographically
//! maximise the mass reused `Σ f_ij`, then minimise `Σ d_ij·f_ij`
//! (gram-metres; ÷10⁹ = tonne-km). This is a min-cost maximum flow
//! `source →(s_i) lot →(d_ij per gram) partner →(C_j) sink`, solved by
//! successive shortest paths with potentials on integer data, hence exact:
//! [`alloc::solve_mass_flow`] returns its optimum ([`alloc::MassFlow`]).
//!
//! **Why not whole units directly.** Requiring each `f_ij` to be a multiple
//! of `m_i` turns the problem into a multiple-knapsack integer program, not
//! a network: one partner of capacity `T` and one-unit lots of masses
//! `a_1..a_n` can be filled to exactly `T` iff some subset of the `a_k` sums
//! to `T` (subset sum, NP-complete). No flow network expresses it.
//!
//! **Whole units in the answer.** [`allocate`] floors each arc of the mass
//! optimum to whole units, then greedily places the units that flooring
//! freed (heaviest units first, nearest partner with room first). The plan
//! therefore never exceeds a lot's units or a partner's capacity, and
//! `plan mass ≤ best whole-unit mass ≤ mass-model optimum`, with the gap
//! ([`Plan::gap_g`]) below the sum of `m_i` over arcs where the optimum
//! split a unit ([`Plan::split_arcs`] of them). When the optimum splits no
//! unit, the plan is that optimum, hence optimal for whole units in both
//! objectives; a zero gap alone proves the mass optimal, not the tonne-km. The checks in
//! `tests/engine.rs` compare the mass model with brute force (tiny instances)
//! and with an independent LP solver (medium ones), and the whole-unit plan
//! with a brute-force integer optimum.

pub mod alloc;
pub mod gate;
mod grid;
pub mod index;
mod mcmf;
pub mod profile;
pub mod score;

pub use alloc::{Assignment, Plan, Unallocated, allocate};
pub use gate::{Gate, failed_gates, feasible};
pub use index::Index;
pub use profile::{LotProfile, PartnerProfile, StructureKind, Window};
pub use score::{Breakdown, Scored, Scorer, Weights};
