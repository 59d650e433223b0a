//! When to poll a long-running ARM operation or an ASR job next.
//!
//! A fixed pause between polls costs either requests (short pause, a job of an hour
//! polled a thousand times) or time (long pause, a job that failed its prerequisite
//! check after ten seconds noticed a minute later). [`PollSchedule`] starts short,
//! because a job that ends soon after being accepted usually ended badly and the user
//! wants to know, and doubles the pause up to [`PollSettings::max_interval`]. ARM's
//! `Retry-After` is a floor: no poll comes earlier than the service asked (within the
//! settings' bounds).
//!
//! Reprotects in one run are alike, so the provider remembers how long the shortest
//! of them took to be seen ended ([`JobDurations`]): a job is polled a minimum pause
//! apart from one minimum pause before to one after the moment one like it was seen
//! ended, and from there the backoff starts short again. Without that, with the pause grown to its maximum, every job would be seen
//! on average half a maximum pause after it ended. Polling a little early keeps the
//! remembered duration honest: a duration is learnt from polls, so one learnt late
//! would otherwise never shrink.

use std::sync::Mutex;
use std::time::Duration;

use crate::PollSettings;

/// How much the pause grows after each poll that found the job still running.
const GROWTH: u32 = 2;

/// The pauses between the polls of one job or operation.
#[derive(Debug, Clone)]
pub struct PollSchedule {
    min: Duration,
    max: Duration,
    /// The pause the backoff gives next.
    backoff: Duration,
    /// How long after acceptance a job like this one ended, while not yet reached.
    expected: Option<Duration>,
    /// Polls are a minimum pause apart until then: around the expected end.
    dense_until: Option<Duration>,
}

impl PollSchedule {
    /// A schedule for a job accepted now; `expected` is how long a job like it took.
    pub fn new(settings: &PollSettings, expected: Option<Duration>) -> PollSchedule {
        let min = settings.min_interval;
        let max = settings.max_interval.max(min);
        PollSchedule {
            min,
            max,
            backoff: min,
            expected,
            dense_until: None,
        }
    }

    /// The pause before the next poll, `elapsed` after the job was accepted, given the
    /// `Retry-After` of the last answer.
    pub fn next_wait(&mut self, elapsed: Duration, retry_after: Option<Duration>) -> Duration {
        let wait = match self.dense_until {
            Some(end) if elapsed < end => self.min,
            _ => {
                self.dense_until = None;
                self.backoff_wait(elapsed)
            }
        };
        match retry_after {
            Some(asked) => wait.max(asked.clamp(self.min, self.max)),
            None => wait,
        }
    }
}

impl PollSchedule {
    fn backoff_wait(&mut self, elapsed: Duration) -> Duration {
        let wait = self.backoff;
        self.backoff = self.backoff.saturating_mul(GROWTH).min(self.max);
        let Some(expected) = self.expected else {
            return wait;
        };
        let until = expected.saturating_sub(self.min).saturating_sub(elapsed);
        if until > wait {
            return wait;
        }
        // The next poll lands a minimum pause before a job like this one was seen
        // ended; the job is due, so polls stay a minimum pause apart until a minimum
        // pause after that moment, and the backoff then starts short again.
        self.expected = None;
        self.dense_until = Some(expected.saturating_add(self.min));
        self.backoff = self.min.saturating_mul(GROWTH).min(self.max);
        until.max(self.min)
    }
}

/// How long the reprotect jobs this provider followed from their acceptance took,
/// shared by the actions of one run.
#[derive(Debug, Default)]
pub struct JobDurations {
    shortest: Mutex<Option<Duration>>,
}

impl JobDurations {
    /// Records a job that succeeded `took` after it was accepted.
    pub fn record(&self, took: Duration) {
        if let Ok(mut shortest) = self.shortest.lock() {
            *shortest = Some(shortest.map_or(took, |known| known.min(took)));
        }
    }

    /// The shortest recorded, if any.
    pub fn expected(&self) -> Option<Duration> {
        self.shortest.lock().ok().and_then(|shortest| *shortest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(min_ms: u64, max_ms: u64) -> PollSettings {
        PollSettings {
            min_interval: Duration::from_millis(min_ms),
            max_interval: Duration::from_millis(max_ms),
            ..PollSettings::default()
        }
    }

    /// The moments (ms after acceptance) of the polls a schedule makes while a job
    /// runs for `job_ms`, and the first poll that sees it ended.
    fn polls(schedule: &mut PollSchedule, retry_after_ms: Option<u64>, job_ms: u64) -> Vec<u64> {
        let mut at = Duration::ZERO;
        let mut retry_after = retry_after_ms.map(Duration::from_millis);
        let mut moments = Vec::new();
        loop {
            at += schedule.next_wait(at, retry_after.take());
            moments.push(at.as_millis() as u64);
            if at.as_millis() as u64 >= job_ms {
                return moments;
            }
        }
    }

    #[test]
    fn the_pause_doubles_from_the_minimum_to_the_maximum() {
        let mut schedule = PollSchedule::new(&settings(5_000, 60_000), None);
        let moments = polls(&mut schedule, None, 300_000);
        assert_eq!(
            &moments[..7],
            &[5_000, 15_000, 35_000, 75_000, 135_000, 195_000, 255_000]
        );
        // A job of five minutes is seen within one maximum pause of its end, with
        // 7 polls where a fixed 5 s pause would have taken 60.
        assert_eq!(moments.len(), 7 + 1);
        assert!(moments[moments.len() - 1] - 300_000 <= 60_000);
    }

    #[test]
    fn retry_after_is_a_floor_within_the_bounds() {
        let mut schedule = PollSchedule::new(&settings(10, 50), None);
        assert_eq!(
            schedule.next_wait(Duration::ZERO, Some(Duration::from_millis(30))),
            Duration::from_millis(30)
        );
        // ARM asking for 30 s is capped by the settings' maximum.
        assert_eq!(
            schedule.next_wait(Duration::ZERO, Some(Duration::from_secs(30))),
            Duration::from_millis(50)
        );
        // Asking for less than the backoff gives does not shorten it.
        let mut schedule = PollSchedule::new(&settings(10, 50), None);
        schedule.next_wait(Duration::ZERO, None);
        assert_eq!(
            schedule.next_wait(Duration::ZERO, Some(Duration::from_millis(1))),
            Duration::from_millis(20)
        );
    }

    #[test]
    fn a_job_like_an_earlier_one_is_polled_when_that_one_ended() {
        let mut schedule = PollSchedule::new(&settings(10, 50), Some(Duration::from_millis(300)));
        let moments = polls(&mut schedule, None, 300);
        // Backoff 10, 20, 40, 50, 50 …, then a minimum pause apart from 290 to 310,
        // then short again.
        assert_eq!(moments, vec![10, 30, 70, 120, 170, 220, 270, 290, 300]);
        let mut schedule = PollSchedule::new(&settings(10, 50), Some(Duration::from_millis(300)));
        assert_eq!(
            polls(&mut schedule, None, 340)[7..],
            [290, 300, 310, 330, 370]
        );
        let mut blind = PollSchedule::new(&settings(10, 50), None);
        let without = polls(&mut blind, None, 300);
        assert_eq!(*without.last().unwrap_or(&0), 320);
        // A job shorter than the remembered one is seen at the early poll, which
        // teaches a shorter duration.
        let mut schedule = PollSchedule::new(&settings(10, 50), Some(Duration::from_millis(300)));
        assert_eq!(polls(&mut schedule, None, 285).last(), Some(&290));
    }

    #[test]
    fn an_expected_end_never_brings_two_polls_closer_than_the_minimum() {
        let mut schedule = PollSchedule::new(&settings(10, 50), Some(Duration::from_millis(25)));
        assert_eq!(
            schedule.next_wait(Duration::ZERO, None),
            Duration::from_millis(10)
        );
        assert_eq!(
            schedule.next_wait(Duration::from_millis(10), None),
            Duration::from_millis(10),
            "5 ms to the early poll is still a minimum pause"
        );
        // Around the expected end (25 ms): a minimum pause apart until 35 ms…
        for at in [20, 30] {
            assert_eq!(
                schedule.next_wait(Duration::from_millis(at), None),
                Duration::from_millis(10)
            );
        }
        // …then the backoff again, short.
        assert_eq!(
            schedule.next_wait(Duration::from_millis(40), None),
            Duration::from_millis(20)
        );
    }

    #[test]
    fn a_job_longer_than_expected_backs_off_again_after_the_expected_end() {
        let mut schedule =
            PollSchedule::new(&settings(5_000, 60_000), Some(Duration::from_secs(600)));
        let moments = polls(&mut schedule, None, 3_600_000);
        // Polls do not pile up after the expected end: about one a minute.
        assert!(moments.len() < 3_600 / 60 + 10, "{} polls", moments.len());
        assert!(moments.contains(&595_000) && moments.contains(&600_000));
    }

    #[test]
    fn the_shortest_job_is_remembered() {
        let durations = JobDurations::default();
        assert_eq!(durations.expected(), None);
        durations.record(Duration::from_millis(320));
        durations.record(Duration::from_millis(305));
        durations.record(Duration::from_millis(340));
        assert_eq!(durations.expected(), Some(Duration::from_millis(305)));
    }
}
