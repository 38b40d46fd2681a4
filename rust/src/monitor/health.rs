//! The healthcheck the monitor runs (--health-cmd or the image's
//! HEALTHCHECK): every `interval` a probe is exec'd into the container (as
//! `ketch exec` does), its output kept (the first 4 KiB, as docker), killed
//! once `timeout` has passed; its results make docker's `State.Health`.

use std::collections::{BTreeMap, VecDeque};
use std::io::{self, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::process::{self, Config};
use crate::sys::pipe;

/// docker keeps this much of a probe's output, and this many results.
pub const MAX_OUTPUT: usize = 4096;
const MAX_LOG: usize = 5;
/// store/events.py's MAX_BYTES: the event log is rotated past it.
const EVENTS_MAX: u64 = 1 << 20;

/// What Python's `HealthConfig` says (python/ketch/models/container.py).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Health {
    /// The probe: a process exec'd into the container (no `container` part).
    pub process: Config,
    pub interval_ns: u64,
    pub timeout_ns: u64,
    pub start_period_ns: u64,
    pub retries: u32,
    /// The store's event log (python/ketch/store/events.py): each change of
    /// status is appended there as docker's `health_status: STATUS` event
    /// of `event_id` with `event_attributes`; an empty path: none.
    pub events_file: PathBuf,
    pub event_id: String,
    pub event_attributes: BTreeMap<String, String>,
}

impl Health {
    /// Appends one `health_status: STATUS` line to the event log, as
    /// store/events.py writes its lines (one O_APPEND write, the log renamed
    /// to `.1` once past EVENTS_MAX bytes); a failure is said on stderr and
    /// changes nothing else.
    fn log_status(&self, status: &str) {
        if self.events_file.as_os_str().is_empty() {
            return;
        }
        let nano = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        let line = serde_json::json!({
            "Type": "container",
            "Action": format!("health_status: {status}"),
            "ID": self.event_id,
            "Attributes": self.event_attributes,
            "timeNano": nano,
        })
        .to_string()
            + "\n";
        let written = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .mode(0o600)
            .custom_flags(libc::O_CLOEXEC)
            .open(&self.events_file)
            .and_then(|mut f| {
                f.write_all(line.as_bytes())?;
                if f.metadata()?.len() > EVENTS_MAX {
                    let mut old = self.events_file.clone().into_os_string();
                    old.push(".1");
                    std::fs::rename(&self.events_file, old)?;
                }
                Ok(())
            });
        if let Err(e) = written {
            eprintln!("ketch-monitor: {}: {e}", self.events_file.display());
        }
    }

    pub fn interval(&self) -> Duration {
        Duration::from_nanos(self.interval_ns.max(1_000_000))
    }
    pub fn timeout(&self) -> Duration {
        Duration::from_nanos(self.timeout_ns.max(1_000_000))
    }
}

/// One probe's result, as docker's inspect shows it.
#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    #[serde(rename = "Start")]
    pub start: String,
    #[serde(rename = "End")]
    pub end: String,
    #[serde(rename = "ExitCode")]
    pub exit_code: i32,
    #[serde(rename = "Output")]
    pub output: String,
}

/// docker's `State.Health`.
#[derive(Debug, Clone, Serialize)]
pub struct State {
    #[serde(rename = "Status")]
    pub status: &'static str,
    #[serde(rename = "FailingStreak")]
    pub failing_streak: u32,
    #[serde(rename = "Log")]
    pub log: VecDeque<Entry>,
}

impl State {
    pub fn new() -> State {
        State {
            status: "starting",
            failing_streak: 0,
            log: VecDeque::new(),
        }
    }

    /// docker's rule: a success is healthy; a failure counts towards
    /// `retries` unless no probe has succeeded yet and the start period is
    /// still on; `retries` failures in a row are unhealthy.
    pub fn record(&mut self, e: Entry, h: &Health, since_start: Duration) {
        let before = self.status;
        if e.exit_code == 0 {
            self.failing_streak = 0;
            self.status = "healthy";
        } else if !(self.status == "starting"
            && since_start < Duration::from_nanos(h.start_period_ns))
        {
            self.failing_streak += 1;
            if self.failing_streak >= h.retries.max(1) {
                self.status = "unhealthy";
            }
        }
        self.log.push_back(e);
        while self.log.len() > MAX_LOG {
            self.log.pop_front();
        }
        if self.status != before {
            h.log_status(self.status); // docker's rule: an event at each change only
        }
    }
}

impl Default for State {
    fn default() -> Self {
        State::new()
    }
}

/// A Go duration as docker prints one in its timeout message (`30s`, `500ms`, `1m30s`).
pub fn go_duration(d: Duration) -> String {
    let ns = d.as_nanos();
    if ns == 0 {
        return "0s".into();
    }
    if ns < 1_000_000_000 {
        return if ns.is_multiple_of(1_000_000) {
            format!("{}ms", ns / 1_000_000)
        } else {
            format!("{}µs", ns / 1_000)
        };
    }
    let (h, m) = (ns / 3_600_000_000_000, ns / 60_000_000_000 % 60);
    let s = (ns % 60_000_000_000) as f64 / 1e9;
    let secs = format!("{s}").trim_end_matches(".0").to_string() + "s";
    match (h, m) {
        (0, 0) => secs,
        (0, m) => format!("{m}m{secs}"),
        (h, m) => format!("{h}h{m}m{secs}"),
    }
}

/// A probe under way.
pub struct Probe {
    pid: i32,
    /// Readable once the probe has exited (pidfd_open).
    pub pidfd: OwnedFd,
    /// Its stdout and stderr, together (non-blocking).
    pub out: Option<OwnedFd>,
    output: Vec<u8>,
    start: SystemTime,
    pub deadline: Instant,
}

fn pidfd_open(pid: i32) -> Result<OwnedFd> {
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return Err(Error::io("pidfd_open", io::Error::last_os_error()));
    }
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// A probe that could not even start: a failure with docker's -1.
pub fn failed(message: String) -> Entry {
    let now = super::rfc3339_nano(SystemTime::now());
    Entry {
        start: now.clone(),
        end: now,
        exit_code: -1,
        output: message,
    }
}

impl Probe {
    /// Starts `h`'s probe in the container whose init is `container`.
    pub fn start(h: &Health, container: i32) -> Result<Probe> {
        let (r, w) = pipe()?;
        unsafe { libc::fcntl(r.as_raw_fd(), libc::F_SETFL, libc::O_NONBLOCK) };
        let mut config = h.process.clone();
        config.stdio = [-1, w.as_raw_fd(), w.as_raw_fd()];
        let start = SystemTime::now();
        let pid = process::exec_in(container, &config)?;
        drop(w);
        let pidfd = match pidfd_open(pid) {
            Ok(fd) => fd,
            Err(e) => {
                unsafe { libc::kill(pid, libc::SIGKILL) };
                let _ = process::wait(pid);
                return Err(e);
            }
        };
        Ok(Probe {
            pid,
            pidfd,
            out: Some(r),
            output: Vec::new(),
            start,
            deadline: Instant::now() + h.timeout(),
        })
    }

    /// Reads what the probe wrote: the first MAX_OUTPUT bytes are kept,
    /// the rest read and dropped (a flood never grows the monitor).
    pub fn read(&mut self) {
        let Some(fd) = &self.out else { return };
        let mut buf = [0u8; 4096];
        loop {
            let r = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
            if r > 0 {
                let room = MAX_OUTPUT - self.output.len();
                self.output
                    .extend_from_slice(&buf[..(r as usize).min(room)]);
                continue;
            }
            if r < 0 && io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            if r == 0 {
                self.out = None; // EOF
            }
            return; // EAGAIN: nothing more for now
        }
    }

    /// The probe ended (or, with `timed_out`, is killed): its result.
    pub fn finish(mut self, timed_out: Option<Duration>) -> Entry {
        if timed_out.is_some() {
            // The middle process; the probe itself dies with it (PDEATHSIG).
            unsafe { libc::kill(self.pid, libc::SIGKILL) };
        }
        let code = loop {
            match process::wait(self.pid) {
                Ok(Some(c)) => break c,
                Ok(None) => continue,
                Err(_) => break -1,
            }
        };
        self.read();
        let end = SystemTime::now();
        let (exit_code, output) = match timed_out {
            Some(t) => (
                -1,
                format!("Health check exceeded timeout ({})", go_duration(t)),
            ),
            None => (code, String::from_utf8_lossy(&self.output).into_owned()),
        };
        Entry {
            start: super::rfc3339_nano(self.start),
            end: super::rfc3339_nano(end),
            exit_code,
            output,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn health(retries: u32, start_period_ns: u64) -> Health {
        let text = include_str!("../../tests/fixtures/process.json");
        let mut process = Config::from_json(text).unwrap();
        process.container = None;
        Health {
            process,
            interval_ns: 1_000_000_000,
            timeout_ns: 1_000_000_000,
            start_period_ns,
            retries,
            events_file: PathBuf::new(),
            event_id: "c0ffee".into(),
            event_attributes: BTreeMap::from([("name".into(), "web".into())]),
        }
    }

    fn entry(code: i32) -> Entry {
        Entry {
            start: String::new(),
            end: String::new(),
            exit_code: code,
            output: String::new(),
        }
    }

    /// Probes with these exit codes at these seconds after the start, and
    /// (status, failing streak) after each, as docker's rules give them.
    fn probes(h: &Health, steps: &[(i32, u64, &str, u32)]) -> State {
        let mut s = State::new();
        for &(code, at, status, streak) in steps {
            s.record(entry(code), h, Duration::from_secs(at));
            assert_eq!(
                (s.status, s.failing_streak),
                (status, streak),
                "probe at {at}s"
            );
        }
        s
    }

    #[test]
    fn statuses_follow_dockers_rules() {
        let h = health(2, 0);
        let mut s = probes(
            &h,
            &[
                (1, 1, "starting", 1),
                (0, 2, "healthy", 0),
                (1, 3, "healthy", 1),
                (2, 4, "unhealthy", 2),
            ],
        );
        for _ in 0..10 {
            s.record(entry(1), &h, Duration::from_secs(5));
        }
        assert_eq!(s.log.len(), 5);
    }

    #[test]
    fn failures_in_the_start_period_do_not_count() {
        probes(
            &health(1, 10_000_000_000),
            &[(1, 1, "starting", 0), (1, 11, "unhealthy", 1)],
        );
    }

    #[test]
    fn each_change_of_status_is_one_event_line() {
        let dir = std::env::temp_dir().join(format!("ketch-health-events-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut h = health(2, 0);
        h.events_file = dir.join("events.jsonl");
        let mut s = State::new();
        for code in [1, 0, 0, 1, 1, 1, 0] {
            s.record(entry(code), &h, Duration::from_secs(5));
        }
        let text = std::fs::read_to_string(&h.events_file).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let actions: Vec<&str> = lines
            .iter()
            .map(|l| l["Action"].as_str().unwrap())
            .collect();
        assert_eq!(
            actions,
            [
                "health_status: healthy",
                "health_status: unhealthy",
                "health_status: healthy"
            ]
        );
        assert_eq!(lines[0]["Type"], "container");
        assert_eq!(lines[0]["ID"], "c0ffee");
        assert_eq!(lines[0]["Attributes"]["name"], "web");
        assert!(lines[0]["timeNano"].as_u64().unwrap() > 1_600_000_000_000_000_000);
    }

    #[test]
    fn durations_are_printed_as_go_does() {
        assert_eq!(go_duration(Duration::from_secs(30)), "30s");
        assert_eq!(go_duration(Duration::from_millis(500)), "500ms");
        assert_eq!(go_duration(Duration::from_secs(90)), "1m30s");
        assert_eq!(go_duration(Duration::from_millis(1500)), "1.5s");
    }
}
