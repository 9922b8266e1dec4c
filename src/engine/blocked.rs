//! Closed model: how long users waited beyond their steps' usual time, second by second.
//!
//! A closed-model user sends nothing while it waits, so a stall shows in its measured times
//! only once per user, however long it lasted. Each wait of at least twice its step's usual
//! service time is noted here as the stretch beyond the usual time, spread over the seconds
//! of the run it covers; at the end, [`crate::metrics::find_stalls`] turns the seconds in
//! which the users lost much of their time this way into the stall windows the reports
//! show. Such waits are rare on a healthy target, so one lock is enough.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Instant;

use crate::metrics::{BlockedSecond, CellInfo};

/// The waits of a run, by second.
#[derive(Default)]
pub(super) struct Blocked {
    seconds: Mutex<BTreeMap<u64, Second>>,
}

#[derive(Default, Clone, Copy)]
struct Second {
    blocked_us: u64,
    longest_us: u64,
    usual_us: u64,
    cell: usize,
}

impl Blocked {
    /// A request of `cell` sent at `sent` waited `waited_us` where its step usually takes
    /// `usual_us`: the stretch beyond the usual time counts in the seconds it covers.
    pub fn note(&self, start: Instant, cell: usize, sent: Instant, usual_us: u64, waited_us: u64) {
        let sent_us = sent.saturating_duration_since(start).as_micros() as u64;
        let from = sent_us + usual_us;
        let to = sent_us + waited_us;
        if to <= from {
            return;
        }
        let mut seconds = self.seconds.lock().unwrap_or_else(|p| p.into_inner());
        for s in from / 1_000_000..=(to - 1) / 1_000_000 {
            let lo = from.max(s * 1_000_000);
            let hi = to.min((s + 1) * 1_000_000);
            let e = seconds.entry(s).or_default();
            e.blocked_us += hi.saturating_sub(lo);
            if waited_us > e.longest_us {
                e.longest_us = waited_us;
                e.usual_us = usual_us;
                e.cell = cell;
            }
        }
    }

    /// The seconds with waits, for `result.json` (steps named by `cells`).
    pub fn finish(&self, cells: &[CellInfo]) -> Vec<BlockedSecond> {
        let seconds = self.seconds.lock().unwrap_or_else(|p| p.into_inner());
        seconds
            .iter()
            .map(|(&t_s, e)| BlockedSecond {
                t_s,
                blocked_us: e.blocked_us,
                longest_us: e.longest_us,
                usual_us: e.usual_us,
                step: cells
                    .get(e.cell)
                    .map(|c| c.step.clone())
                    .unwrap_or_default(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_wait_is_spread_over_the_seconds_it_covers() {
        let b = Blocked::default();
        let t0 = Instant::now();
        // Sent at 0.5 s, usually 10 ms, waited 1.5 s: blocked from 0.51 s to 2.0 s.
        b.note(t0, 0, t0 + Duration::from_millis(500), 10_000, 1_500_000);
        // A shorter one in second 1.
        b.note(t0, 1, t0 + Duration::from_millis(1200), 5_000, 100_000);
        let cells = vec![
            CellInfo {
                step: "slow".into(),
                ..CellInfo::default()
            },
            CellInfo {
                step: "other".into(),
                ..CellInfo::default()
            },
        ];
        let s = b.finish(&cells);
        assert_eq!(s.len(), 2);
        assert_eq!((s[0].t_s, s[0].blocked_us), (0, 490_000));
        assert_eq!((s[1].t_s, s[1].blocked_us), (1, 1_000_000 + 95_000));
        assert_eq!((s[1].longest_us, s[1].usual_us), (1_500_000, 10_000));
        assert_eq!(s[1].step, "slow");
    }
}
