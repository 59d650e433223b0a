//! Fault injection from the estate's `behaviour.faults`: throttling (429 with
//! `Retry-After`), server errors (500/503), and dropped connections.
//!
//! One seeded RNG draws for every ARM request in arrival order, so the same seed and the
//! same request sequence give the same faults. A dropped connection is drawn either
//! before the request is handled (nothing happened) or after (the action happened but
//! the answer was lost) — the case that proves a client does not act twice.

use std::sync::Mutex;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::estate::Faults;

/// What to do with one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    None,
    Throttle,
    InternalServerError,
    ServiceUnavailable,
    /// Close the connection without answering, before handling the request.
    DropBefore,
    /// Handle the request, then close the connection without sending the answer.
    DropAfter,
}

/// The fault plan of a running simulator.
#[derive(Debug)]
pub struct FaultPlan {
    rates: Faults,
    rng: Mutex<StdRng>,
}

impl FaultPlan {
    pub fn new(rates: Faults, seed_override: Option<u64>) -> FaultPlan {
        let seed = seed_override.unwrap_or(rates.seed);
        FaultPlan {
            rates,
            rng: Mutex::new(StdRng::seed_from_u64(seed)),
        }
    }

    /// Whether any fault can happen at all.
    pub fn active(&self) -> bool {
        self.rates.http_429_rate > 0.0
            || self.rates.http_5xx_rate > 0.0
            || self.rates.drop_rate > 0.0
    }

    /// Draws the fault for the next request.
    pub fn draw(&self) -> Fault {
        if !self.active() {
            return Fault::None;
        }
        let mut rng = match self.rng.lock() {
            Ok(rng) => rng,
            Err(poisoned) => poisoned.into_inner(),
        };
        let roll: f64 = rng.random();
        let second: f64 = rng.random();
        let r429 = self.rates.http_429_rate.max(0.0);
        let r5xx = self.rates.http_5xx_rate.max(0.0);
        let drop = self.rates.drop_rate.max(0.0);
        if roll < r429 {
            Fault::Throttle
        } else if roll < r429 + r5xx {
            if second < 0.5 {
                Fault::InternalServerError
            } else {
                Fault::ServiceUnavailable
            }
        } else if roll < r429 + r5xx + drop {
            if second < 0.5 {
                Fault::DropBefore
            } else {
                Fault::DropAfter
            }
        } else {
            Fault::None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rates(r429: f64, r5xx: f64, drop: f64) -> Faults {
        Faults {
            seed: 7,
            http_429_rate: r429,
            http_5xx_rate: r5xx,
            drop_rate: drop,
            failing_jobs: Vec::new(),
        }
    }

    #[test]
    fn same_seed_same_sequence() {
        let a = FaultPlan::new(rates(0.2, 0.2, 0.2), None);
        let b = FaultPlan::new(rates(0.2, 0.2, 0.2), None);
        let seq_a: Vec<Fault> = (0..200).map(|_| a.draw()).collect();
        let seq_b: Vec<Fault> = (0..200).map(|_| b.draw()).collect();
        assert_eq!(seq_a, seq_b);
        for kind in [
            Fault::None,
            Fault::Throttle,
            Fault::InternalServerError,
            Fault::ServiceUnavailable,
            Fault::DropBefore,
            Fault::DropAfter,
        ] {
            assert!(seq_a.contains(&kind), "{kind:?} never drawn");
        }
    }

    #[test]
    fn seed_override_changes_the_sequence() {
        let a = FaultPlan::new(rates(0.3, 0.3, 0.3), None);
        let b = FaultPlan::new(rates(0.3, 0.3, 0.3), Some(99));
        let seq_a: Vec<Fault> = (0..50).map(|_| a.draw()).collect();
        let seq_b: Vec<Fault> = (0..50).map(|_| b.draw()).collect();
        assert_ne!(seq_a, seq_b);
    }

    #[test]
    fn zero_rates_never_fault() {
        let plan = FaultPlan::new(rates(0.0, 0.0, 0.0), None);
        assert!((0..100).all(|_| plan.draw() == Fault::None));
    }

    #[test]
    fn full_rate_always_faults() {
        let plan = FaultPlan::new(rates(1.0, 0.0, 0.0), None);
        assert!((0..100).all(|_| plan.draw() == Fault::Throttle));
    }
}
