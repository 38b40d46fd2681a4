//! docker's restart policies (--restart) and their back-off, and the stop
//! file (`ketch stop`, kill, rm) that ends them.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::MonitorConfig;

/// docker's restart policies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Policy {
    No,
    OnFailure,
    Always,
    UnlessStopped,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Restart {
    pub policy: Policy,
    /// on-failure:N (0: no maximum).
    pub max_retries: u32,
}

/// docker's back-off: 100 ms doubled at each restart up to a minute, back
/// to 100 ms once the process had run 10 seconds.
pub const FIRST_DELAY: Duration = Duration::from_millis(100);
const MAX_DELAY: Duration = Duration::from_secs(60);
const RAN_LONG_ENOUGH: Duration = Duration::from_secs(10);

impl Restart {
    /// Whether a process that exited with `code` after `restarts` restarts
    /// is started again (a manual stop was checked before).
    pub fn again(&self, code: i32, restarts: u32) -> bool {
        match self.policy {
            Policy::No => false,
            Policy::Always | Policy::UnlessStopped => true,
            Policy::OnFailure => {
                code != 0 && (self.max_retries == 0 || restarts < self.max_retries)
            }
        }
    }
}

/// The next back-off delay after `previous` (None: the first), for a process that ran `ran`.
pub fn next_delay(previous: Option<Duration>, ran: Duration) -> Duration {
    match previous {
        Some(d) if ran < RAN_LONG_ENOUGH => (d * 2).min(MAX_DELAY),
        _ => FIRST_DELAY,
    }
}

/// `ketch stop` (or rm) asked for the end: its stop file, or the
/// container's directory gone altogether.
pub(super) fn stopped(args: &MonitorConfig) -> bool {
    args.stop_file.exists() || args.exit_file.parent().is_some_and(|d| !d.exists())
}

/// Waits `d`, looking for the stop file every 100 ms; false if it came.
pub(super) fn sleep_unless_stopped(args: &MonitorConfig, d: Duration) -> bool {
    let until = Instant::now() + d;
    loop {
        if stopped(args) {
            return false;
        }
        let now = Instant::now();
        if now >= until {
            return true;
        }
        std::thread::sleep((until - now).min(FIRST_DELAY));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restart_policies_are_dockers() {
        let p = |policy, max_retries| Restart {
            policy,
            max_retries,
        };
        assert!(!p(Policy::No, 0).again(1, 0));
        assert!(p(Policy::Always, 0).again(0, 100));
        assert!(p(Policy::UnlessStopped, 0).again(0, 0));
        let f = p(Policy::OnFailure, 2);
        assert!(!f.again(0, 0));
        assert!(f.again(3, 0) && f.again(3, 1) && !f.again(3, 2));
        assert!(p(Policy::OnFailure, 0).again(1, 1000));
        let e = serde_json::from_str::<Restart>(r#"{"policy":"sometimes","max_retries":0}"#);
        assert!(e.is_err());
    }

    #[test]
    fn the_back_off_doubles_and_resets() {
        let ms = Duration::from_millis;
        assert_eq!(next_delay(None, ms(1)), ms(100));
        assert_eq!(next_delay(Some(ms(100)), ms(1)), ms(200));
        assert_eq!(next_delay(Some(ms(40_000)), ms(1)), Duration::from_secs(60));
        assert_eq!(next_delay(Some(ms(800)), Duration::from_secs(10)), ms(100));
    }
}
