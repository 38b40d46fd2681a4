//! The monitor of a detached container: it starts the container as its own
//! child, writes the container's output in docker's json-file log format,
//! reaps it, records its exit, and removes its cgroups. One small process
//! per container, no daemon.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::error::{Context, Error, Result};
use crate::process::{self, Config, Stage};
use crate::sys::pipe;
use crate::tty::{recv_fd, seqpacket_pair};

/// What the monitor of one detached container is given (Python's
/// `MonitorConfig` in python/ketch/models/container.py, as JSON).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MonitorConfig {
    pub process: Config,
    /// docker's json-file log the container's output goes to.
    pub log: PathBuf,
    /// Written (atomically) with the exit code once the container has ended.
    pub exit_file: PathBuf,
    /// Removed once the container has ended.
    pub cgroup_dirs: Vec<PathBuf>,
    /// -t: the container gets a pty from its own devpts, logged as stdout.
    pub tty: bool,
    /// The `[::]` sides of published ports: (listening socket, container ip, port).
    pub proxies: Vec<(RawFd, std::net::Ipv4Addr, u16)>,
    /// The program (argv) exec'd once the container has ended, for the
    /// work left to Python (a bridge network to release, --rm); null: none.
    #[serde(deserialize_with = "crate::process::config::present")]
    pub after: Option<Vec<String>>,
}

impl MonitorConfig {
    pub fn from_json(text: &str) -> Result<MonitorConfig> {
        serde_json::from_str(text)
            .map_err(|e| Error::Invalid(format!("invalid monitor configuration: {e}")))
    }
}

/// The one message on the ready pipe, as JSON: {"pid": N} once the
/// container has exec'd, or where it failed (process.start_detached
/// reads it; nothing at all means the monitor died first).
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum Ready {
    Started {
        pid: i32,
    },
    Failed {
        stage: &'static str,
        errno: i32,
        message: String,
    },
}

/// docker's json-file splits lines longer than this into partial entries.
const MAX_LINE: usize = 16 * 1024;

/// RFC 3339 with nanoseconds, UTC, as docker's logs carry it.
pub fn rfc3339_nano(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = if month <= 2 { y + 1 } else { y };
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:09}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        d.subsec_nanos()
    )
}

/// A JSON string literal.
pub fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// One log entry, as docker's json-file driver writes it.
pub fn log_line(bytes: &[u8], stream: &str, t: SystemTime) -> String {
    format!(
        "{{\"log\":{},\"stream\":\"{}\",\"time\":\"{}\"}}\n",
        json_string(&String::from_utf8_lossy(bytes)),
        stream,
        rfc3339_nano(t)
    )
}

struct Stream {
    fd: OwnedFd,
    name: &'static str,
    pending: Vec<u8>,
    open: bool,
}

fn write_atomically(path: &Path, data: &str) -> Result<()> {
    let tmp = path.with_extension("tmp");
    let mut f = File::create(&tmp).ctx(|| format!("create {}", tmp.display()))?;
    f.write_all(data.as_bytes())
        .ctx(|| format!("write {}", tmp.display()))?;
    f.sync_all().ctx(|| format!("sync {}", tmp.display()))?;
    std::fs::rename(&tmp, path).ctx(|| format!("rename {}", tmp.display()))
}

/// Runs a detached container to its end. `ready` gets one `Ready` once
/// the container has exec'd or failed to; then it is closed.
/// With `tty`, the container gets a pty from its own devpts and everything
/// it writes there is logged as stdout (as docker logs a -t container).
pub fn run(args: &MonitorConfig, ready: RawFd) -> Result<()> {
    let mut config = args.process.clone();
    let (log, exit_file, cgroup_dirs) = (&args.log, &args.exit_file, &args.cgroup_dirs[..]);
    let ready = unsafe { File::from_raw_fd(ready) };
    let (out_r, out_w) = pipe()?;
    let (err_r, err_w) = pipe()?;
    // stdin: the container's own /dev/null (-1), as docker's without -i.
    config.stdio = [-1, out_w.as_raw_fd(), err_w.as_raw_fd()];
    let sockets = if args.tty {
        let (ours, theirs) = seqpacket_pair()?;
        config.tty_socket = theirs.as_raw_fd();
        Some((ours, theirs))
    } else {
        None
    };
    let spawned = process::spawn(&config);
    drop((out_w, err_w));
    // The pty's master side, once the child has sent it (it has exec'd by now).
    let master = match (&spawned, sockets) {
        (Ok(_), Some((ours, theirs))) => {
            drop(theirs);
            Some(recv_fd(&ours)?)
        }
        _ => None,
    };
    let tell = |r: Ready| {
        let _ = (&ready).write_all(serde_json::to_string(&r).unwrap_or_default().as_bytes());
    };
    let pid = match spawned {
        Ok(pid) => pid,
        Err(Error::Spawn {
            stage,
            errno,
            message,
        }) => {
            tell(Ready::Failed {
                stage: stage.name(),
                errno,
                message,
            });
            cleanup(cgroup_dirs);
            return Ok(());
        }
        Err(e) => {
            tell(Ready::Failed {
                stage: Stage::Prepare.name(),
                errno: e.raw_os_error().unwrap_or(libc::EIO),
                message: e.to_string(),
            });
            cleanup(cgroup_dirs);
            return Err(e);
        }
    };
    // Only now threads may start (a fork-like clone in a threaded process
    // can deadlock the child on a lock another thread held).
    for (fd, ip, port) in &args.proxies {
        crate::net::proxy_start(*fd, std::net::SocketAddrV4::new(*ip, *port));
    }
    tell(Ready::Started { pid });
    drop(ready);

    let mut logf = OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .ctx(|| format!("open {}", log.display()))?;
    let (first, second) = match master {
        // Nothing reaches the pipes of a -t container: its stdio is the pty.
        Some(m) => (m, None),
        None => (out_r, Some(err_r)),
    };
    let mut streams = vec![Stream {
        fd: first,
        name: "stdout",
        pending: Vec::new(),
        open: true,
    }];
    if let Some(fd) = second {
        streams.push(Stream {
            fd,
            name: "stderr",
            pending: Vec::new(),
            open: true,
        });
    }
    let mut buf = vec![0u8; 64 * 1024];
    while streams.iter().any(|s| s.open) {
        let mut pfds: Vec<libc::pollfd> = streams
            .iter()
            .map(|s| libc::pollfd {
                fd: if s.open { s.fd.as_raw_fd() } else { -1 },
                events: libc::POLLIN,
                revents: 0,
            })
            .collect();
        let n = unsafe { libc::poll(pfds.as_mut_ptr(), pfds.len() as libc::nfds_t, -1) };
        if n < 0 {
            if io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            break;
        }
        for (s, pfd) in streams.iter_mut().zip(&pfds) {
            if !s.open || pfd.revents == 0 {
                continue;
            }
            let r = unsafe { libc::read(s.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
            if r <= 0 {
                if r < 0 && io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
                    continue;
                }
                s.open = false;
                if !s.pending.is_empty() {
                    let line = log_line(&s.pending, s.name, SystemTime::now());
                    let _ = logf.write_all(line.as_bytes());
                    s.pending.clear();
                }
                continue;
            }
            s.pending.extend_from_slice(&buf[..r as usize]);
            let now = SystemTime::now();
            let mut out = String::new();
            while let Some(i) = s.pending.iter().position(|&b| b == b'\n') {
                out.push_str(&log_line(&s.pending[..=i], s.name, now));
                s.pending.drain(..=i);
            }
            if s.pending.len() >= MAX_LINE {
                out.push_str(&log_line(&s.pending, s.name, now));
                s.pending.clear();
            }
            if !out.is_empty() {
                let _ = logf.write_all(out.as_bytes());
            }
        }
    }
    let code = loop {
        if let Some(code) = process::wait(pid)? {
            break code;
        }
    };
    let finished = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64();
    // The exit first: a reader that finds the process gone waits for this
    // file, and the cgroups' removal can take a while (EBUSY retries).
    let written = write_atomically(
        exit_file,
        &format!("{{\"exit_code\": {code}, \"finished\": {finished}}}\n"),
    );
    cleanup(cgroup_dirs);
    written
}

/// Removes the container's cgroups, and their shared parent once it is empty.
fn cleanup(cgroup_dirs: &[PathBuf]) {
    for d in cgroup_dirs {
        for _ in 0..150 {
            match std::fs::remove_dir(d) {
                Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
                    std::thread::sleep(std::time::Duration::from_millis(20))
                }
                _ => break,
            }
        }
        if let Some(parent) = d.parent() {
            let _ = std::fs::remove_dir(parent); // fails while other containers use it
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn the_python_monitor_config_is_accepted() {
        let text = include_str!("../tests/fixtures/monitor.json");
        let m = MonitorConfig::from_json(text).unwrap();
        assert_eq!(
            m.proxies,
            vec![(7, std::net::Ipv4Addr::new(10, 0, 0, 2), 80)]
        );
        assert_eq!(m.after.unwrap().last().map(String::as_str), Some("--rm"));
        let mut v: serde_json::Value = serde_json::from_str(text).unwrap();
        v.as_object_mut().unwrap().remove("after");
        let e = MonitorConfig::from_json(&v.to_string()).unwrap_err();
        assert!(e.to_string().contains("missing field `after`"), "{e}");
    }

    #[test]
    fn the_ready_message_is_one_json_object() {
        let ok = serde_json::to_string(&Ready::Started { pid: 42 }).unwrap();
        assert_eq!(ok, r#"{"pid":42}"#);
        let failed = Ready::Failed {
            stage: Stage::Exec.name(),
            errno: 2,
            message: "No such file or directory (os error 2)".into(),
        };
        assert_eq!(
            serde_json::to_string(&failed).unwrap(),
            r#"{"stage":"exec","errno":2,"message":"No such file or directory (os error 2)"}"#
        );
    }

    #[test]
    fn times_are_rfc3339_nano() {
        let t = UNIX_EPOCH + Duration::new(1_764_168_000, 123_456_789);
        assert_eq!(rfc3339_nano(t), "2025-11-26T14:40:00.123456789Z");
        assert_eq!(rfc3339_nano(UNIX_EPOCH), "1970-01-01T00:00:00.000000000Z");
    }

    #[test]
    fn log_lines_are_docker_json() {
        let t = UNIX_EPOCH;
        assert_eq!(
            log_line(b"a \"q\"\tb\n", "stdout", t),
            "{\"log\":\"a \\\"q\\\"\\tb\\n\",\"stream\":\"stdout\",\"time\":\"1970-01-01T00:00:00.000000000Z\"}\n"
        );
        assert!(
            log_line(&[0xff, 0x01], "stderr", t).contains("\\ufffd")
                || log_line(&[0xff, 0x01], "stderr", t).contains('\u{fffd}')
        );
    }
}
