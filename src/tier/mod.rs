//! Tiers of segment data: what is held in memory, under which budget, and where it comes from.
pub mod cache;
