//! The simulated clock: wall time since start, sped up by the estate's `time_scale`.
//!
//! Every time-dependent fact of the world (heartbeat ages, agent registration, job
//! progress) is computed from this clock when it is read, so nothing runs in the
//! background and a test never races a timer.

use std::time::{Duration, Instant};

use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};

/// Simulated time: `epoch + elapsed_real * scale`.
#[derive(Debug, Clone)]
pub struct Clock {
    started: Instant,
    epoch: DateTime<Utc>,
    scale: f64,
    /// Simulated time added by [`Clock::advance`] (tests skip ahead instead of sleeping).
    skipped: TimeDelta,
}

impl Clock {
    /// A clock that reads `epoch` now and runs `scale` times faster than real time.
    pub fn new(epoch: DateTime<Utc>, scale: f64) -> Clock {
        let scale = if scale.is_finite() && scale > 0.0 {
            scale
        } else {
            1.0
        };
        Clock {
            started: Instant::now(),
            epoch,
            scale,
            skipped: TimeDelta::zero(),
        }
    }

    /// The simulated time at which the simulator started.
    pub fn epoch(&self) -> DateTime<Utc> {
        self.epoch
    }

    pub fn scale(&self) -> f64 {
        self.scale
    }

    /// The simulated time now.
    pub fn now(&self) -> DateTime<Utc> {
        self.epoch + self.skipped + sim_delta(self.started.elapsed().as_secs_f64() * self.scale)
    }

    /// Moves simulated time forward by `sim_seconds` at once.
    pub fn advance(&mut self, sim_seconds: f64) {
        self.skipped += sim_delta(sim_seconds.max(0.0));
    }

    /// How much real time a span of simulated seconds takes.
    pub fn real_duration(&self, sim_seconds: f64) -> Duration {
        Duration::from_secs_f64((sim_seconds / self.scale).max(0.0))
    }
}

/// A span of simulated seconds as a chrono delta (millisecond precision).
pub fn sim_delta(seconds: f64) -> TimeDelta {
    let millis = (seconds * 1000.0).round();
    if millis.is_finite() && millis.abs() < 1e15 {
        TimeDelta::milliseconds(millis as i64)
    } else {
        TimeDelta::zero()
    }
}

/// ARM's timestamp format (`2026-11-26T11:40:00Z`).
pub fn arm_time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scaled_clock_runs_faster() {
        let epoch = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default();
        let clock = Clock::new(epoch, 1000.0);
        std::thread::sleep(Duration::from_millis(20));
        assert!(clock.now() - epoch >= TimeDelta::seconds(20));
        assert_eq!(clock.real_duration(3000.0), Duration::from_secs(3));
    }

    #[test]
    fn advance_skips_ahead() {
        let mut clock = Clock::new(Utc::now(), 1.0);
        let before = clock.now();
        clock.advance(3600.0);
        assert!(clock.now() - before >= TimeDelta::seconds(3600));
        clock.advance(-5.0);
        assert!(clock.now() - before >= TimeDelta::seconds(3600));
    }

    #[test]
    fn nonsense_scale_falls_back_to_real_time() {
        assert_eq!(Clock::new(Utc::now(), 0.0).scale(), 1.0);
        assert_eq!(Clock::new(Utc::now(), f64::NAN).scale(), 1.0);
    }

    #[test]
    fn arm_time_has_seconds_and_z() {
        let at = DateTime::parse_from_rfc3339("2026-11-26T11:40:00.123Z")
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default();
        assert_eq!(arm_time(at), "2026-11-26T11:40:00Z");
    }
}
