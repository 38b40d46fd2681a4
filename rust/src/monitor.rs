//! The monitor of a detached container: it starts the container as its own
//! child, writes the container's output in docker's json-file log format,
//! reaps it, records its exit, and removes its cgroups. One small process
//! per container, no daemon.

pub mod attach;
mod health;
mod log;
mod restart;
mod state;

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::process::report::{report, report_started};
use crate::process::{self, Config, Stage};
use crate::sys::pipe;
use crate::tty::{recv_fd, seqpacket_pair};
use attach::Attach;
pub use health::{go_duration, Health};
pub use log::{json_string, log_line, rfc3339_nano};
use log::{Log, MAX_LINE};
pub use restart::{next_delay, Policy, Restart, FIRST_DELAY};
use restart::{sleep_unless_stopped, stopped};
use state::{epoch, Status};

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
    // -- restart policy, healthcheck, log rotation (issue 12) --
    /// --restart: whether the process is started again once it has exited.
    pub restart: Restart,
    /// The healthcheck run while the process lives; null: none.
    #[serde(deserialize_with = "crate::process::config::present")]
    pub health: Option<Health>,
    /// --log-opt max-size in bytes (0: the log is never rotated) and max-file.
    pub log_max_size: u64,
    pub log_max_files: u32,
    /// The process as it is now (its pid, restarts, health), rewritten
    /// atomically at each change: Python's runtime/state.py reads it.
    pub state_file: PathBuf,
    /// Made by `ketch stop` (and kill, rm): the process is not started again.
    pub stop_file: PathBuf,
    // -- attach (monitor/attach.rs) --
    /// -i: the container's stdin is a pipe the monitor holds (the pty's
    /// master with -t) for attached clients to write to; else /dev/null.
    pub stdin: bool,
    /// The directory the attach socket is made in (the container's own);
    /// null: none.
    #[serde(deserialize_with = "crate::process::config::present")]
    pub attach_dir: Option<PathBuf>,
    /// The clients connected before the start (`run`, `start -a`; the
    /// Engine API's attach before its start): each one's socket and hello's flags.
    pub attached: Vec<(RawFd, u8)>,
}

impl MonitorConfig {
    pub fn from_json(text: &str) -> Result<MonitorConfig> {
        serde_json::from_str(text)
            .map_err(|e| Error::Invalid(format!("invalid monitor configuration: {e}")))
    }
}

struct Stream {
    fd: OwnedFd,
    name: &'static str,
    pending: Vec<u8>,
    open: bool,
}

/// A started process: its pid, the descriptors its output comes from and
/// its stdin (with -i).
struct Started {
    pid: i32,
    streams: Vec<Stream>,
    stdin: Option<attach::Stdin>,
}

/// Starts the container's process once: its stdout and stderr on pipes of
/// ours (or its pty's master with -t).
fn start(args: &MonitorConfig) -> Result<Started> {
    let mut config = args.process.clone();
    let (out_r, out_w) = pipe()?;
    let (err_r, err_w) = pipe()?;
    // stdin: a pipe of ours with -i, else the container's own /dev/null
    // (-1), as docker's.
    let stdin = if args.stdin && !args.tty {
        Some(pipe()?)
    } else {
        None
    };
    let in_r = stdin.as_ref().map_or(-1, |(r, _)| r.as_raw_fd());
    config.stdio = [in_r, out_w.as_raw_fd(), err_w.as_raw_fd()];
    let sockets = if args.tty {
        let (ours, theirs) = seqpacket_pair()?;
        config.tty_socket = theirs.as_raw_fd();
        Some((ours, theirs))
    } else {
        None
    };
    let pid = process::spawn(&config)?;
    drop((out_w, err_w));
    let mut stdin = stdin.map(|(r, w)| {
        drop(r);
        attach::Stdin::Pipe(w)
    });
    let stream = |fd, name| Stream {
        fd,
        name,
        pending: Vec::new(),
        open: true,
    };
    let streams = match sockets {
        // Nothing reaches the pipes of a -t container: its stdio is the pty
        // (its master side sent by the child, which has exec'd by now).
        Some((ours, theirs)) => {
            drop(theirs);
            let master = recv_fd(&ours)?;
            if args.stdin {
                let fd = unsafe { libc::fcntl(master.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 3) };
                if fd >= 0 {
                    stdin = Some(attach::Stdin::Pty(unsafe { OwnedFd::from_raw_fd(fd) }));
                }
            }
            vec![stream(master, "stdout")]
        }
        None => vec![stream(out_r, "stdout"), stream(err_r, "stderr")],
    };
    Ok(Started {
        pid,
        streams,
        stdin,
    })
}

/// docker's exit code for a process that could not start (127 not found, 126 not executable).
fn spawn_code(e: &Error) -> i32 {
    match e {
        Error::Spawn { stage, errno, .. } if *stage == Stage::Exec => {
            if *errno == libc::ENOENT {
                127
            } else {
                126
            }
        }
        _ => 125,
    }
}

/// Runs a detached container to its end. `ready` gets one `Ready` once
/// the container has exec'd or failed to; then it is closed. Once it has
/// exited, its restart policy says whether it is started again (after
/// docker's back-off), unless `ketch stop` made the stop file.
/// With `tty`, the container gets a pty from its own devpts and everything
/// it writes there is logged as stdout (as docker logs a -t container).
pub fn run(args: &MonitorConfig, ready: RawFd) -> Result<()> {
    let cgroup_dirs = &args.cgroup_dirs[..];
    // The one answer on the ready pipe, on spawn's report protocol
    // (process/report.rs): the container's pid, or where it failed.
    let ready = unsafe { OwnedFd::from_raw_fd(ready) };
    // The attach socket before the first start (its umask is set while
    // the monitor has one thread), with the client that came with us.
    let mut attach = Attach::new(args.attach_dir.as_deref());
    for &(fd, flags) in &args.attached {
        attach.add(unsafe { OwnedFd::from_raw_fd(fd) }, flags);
    }
    let first = match start(args) {
        Ok(s) => s,
        Err(Error::Spawn {
            stage,
            errno,
            message,
        }) => {
            report(ready.as_raw_fd(), stage, errno, message.as_bytes());
            cleanup(cgroup_dirs);
            return Ok(());
        }
        Err(e) => {
            let errno = e.raw_os_error().unwrap_or(libc::EIO);
            report(
                ready.as_raw_fd(),
                Stage::Prepare,
                errno,
                e.to_string().as_bytes(),
            );
            cleanup(cgroup_dirs);
            return Err(e);
        }
    };
    // Only now threads may start (a fork-like clone in a threaded process
    // can deadlock the child on a lock another thread held; the later
    // starts' children only exec the sealed helper).
    for (fd, ip, port) in &args.proxies {
        crate::net::proxy_start(*fd, std::net::SocketAddrV4::new(*ip, *port));
    }
    report_started(ready.as_raw_fd(), first.pid);
    drop(ready);

    let mut log = Log::open(&args.log, args.log_max_size, args.log_max_files)?;
    let mut restarts = 0u32;
    let mut delay: Option<Duration> = None;
    let mut current = Some(first);
    let code = loop {
        let began = Instant::now();
        let started = epoch(SystemTime::now());
        let code = match current.take() {
            Some(Started {
                pid,
                streams,
                stdin,
            }) => {
                let pty = args.tty.then(|| streams[0].fd.as_raw_fd());
                attach.started(stdin, pty);
                let mut health = args.health.as_ref().map(|_| health::State::new());
                let status = |h: Option<&health::State>| {
                    Status {
                        pid,
                        started,
                        restart_count: restarts,
                        restarting: false,
                        exit_code: None,
                        finished: None,
                        health: h,
                    }
                    .write(&args.state_file)
                };
                status(health.as_ref());
                let mut watch = Watch {
                    log: &mut log,
                    attach: &mut attach,
                };
                supervise(
                    args,
                    pid,
                    streams,
                    &mut watch,
                    health.as_mut(),
                    began,
                    |h| status(Some(h)),
                )?
            }
            None => 125,
        };
        // the clients attached to this run of the process see its end
        attach.ended(code, ATTACH_GRACE);
        let ran = began.elapsed();
        let finished = epoch(SystemTime::now());
        if stopped(args) || !args.restart.again(code, restarts) {
            break code;
        }
        let wait = next_delay(delay, ran);
        delay = Some(wait);
        restarts += 1;
        Status {
            pid: 0,
            started,
            restart_count: restarts,
            restarting: true,
            exit_code: Some(code),
            finished: Some(finished),
            health: None,
        }
        .write(&args.state_file);
        if !sleep_unless_stopped(args, wait) {
            break code;
        }
        match start(args) {
            Ok(s) => current = Some(s),
            Err(e) => {
                eprintln!("ketch-monitor: restart: {e}");
                // counted as an exit with docker's code, under the same policy
                let code = spawn_code(&e);
                if stopped(args) || !args.restart.again(code, restarts) {
                    break code;
                }
            }
        }
    };
    let finished = epoch(SystemTime::now());
    // The exit first: a reader that finds the process gone waits for this
    // file, and the cgroups' removal can take a while (EBUSY retries).
    let written = state::write_exit(&args.exit_file, code, finished);
    cleanup(cgroup_dirs);
    written
}

/// How long the clients attached when the process ends are given to read
/// what they were sent.
const ATTACH_GRACE: Duration = Duration::from_secs(1);

/// Where a process's output goes: its log and the attached clients.
struct Watch<'a> {
    log: &'a mut Log,
    attach: &'a mut Attach,
}

/// Logs the process's output (and hands it to the attached clients) until
/// it has ended, running its healthcheck meanwhile (`report` is given the
/// health after each probe); its exit code.
fn supervise(
    args: &MonitorConfig,
    pid: i32,
    mut streams: Vec<Stream>,
    watch: &mut Watch,
    mut health: Option<&mut health::State>,
    began: Instant,
    report: impl Fn(&health::State),
) -> Result<i32> {
    let check = args.health.as_ref();
    let mut next_probe = check.map(|h| began + h.interval());
    let mut probe: Option<health::Probe> = None;
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
        let n_streams = pfds.len();
        pfds.extend(watch.attach.pollfds());
        let n_attach = pfds.len();
        if let Some(p) = &probe {
            for fd in [
                p.out.as_ref().map_or(-1, |f| f.as_raw_fd()),
                p.pidfd.as_raw_fd(),
            ] {
                pfds.push(libc::pollfd {
                    fd,
                    events: libc::POLLIN,
                    revents: 0,
                });
            }
        }
        let due = match &probe {
            Some(p) => Some(p.deadline),
            None => next_probe,
        };
        let timeout = due.map_or(-1, |t| {
            let left = t.saturating_duration_since(Instant::now());
            left.as_millis().min(i32::MAX as u128) as i32
                + i32::from(left.subsec_nanos() % 1_000_000 != 0)
        });
        let n = unsafe { libc::poll(pfds.as_mut_ptr(), pfds.len() as libc::nfds_t, timeout) };
        if n < 0 {
            if io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            break;
        }
        let log = &mut *watch.log;
        for (s, pfd) in streams.iter_mut().zip(&pfds[..n_streams]) {
            if !s.open || pfd.revents == 0 {
                continue;
            }
            let r = unsafe { libc::read(s.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
            if r <= 0 {
                // EAGAIN: with -t -i the pty's master is non-blocking (its
                // stdin side shares the open file); nothing there yet
                let e = io::Error::last_os_error().raw_os_error();
                if r < 0 && (e == Some(libc::EINTR) || e == Some(libc::EAGAIN)) {
                    continue;
                }
                s.open = false;
                if !s.pending.is_empty() {
                    log.push(log_line(&s.pending, s.name, SystemTime::now()).as_bytes());
                    log.flush();
                    s.pending.clear();
                }
                continue;
            }
            let kind = if s.name == "stderr" {
                attach::KIND_STDERR
            } else {
                attach::KIND_STDOUT
            };
            watch.attach.output(kind, &buf[..r as usize]);
            s.pending.extend_from_slice(&buf[..r as usize]);
            let now = SystemTime::now();
            while let Some(i) = s.pending.iter().position(|&b| b == b'\n') {
                log.push(log_line(&s.pending[..=i], s.name, now).as_bytes());
                s.pending.drain(..=i);
            }
            if s.pending.len() >= MAX_LINE {
                log.push(log_line(&s.pending, s.name, now).as_bytes());
                s.pending.clear();
            }
            log.flush();
        }
        watch.attach.serve(&pfds[n_streams..n_attach]);
        let (Some(h), Some(state)) = (check, health.as_deref_mut()) else {
            continue;
        };
        let now = Instant::now();
        if let Some(mut p) = probe.take() {
            let (out_ready, exited) =
                (pfds[n_attach].revents != 0, pfds[n_attach + 1].revents != 0);
            if out_ready {
                p.read();
            }
            let timed_out = !exited && now >= p.deadline;
            if exited || timed_out {
                let entry = p.finish(timed_out.then(|| h.timeout()));
                state.record(entry, h, began.elapsed());
                report(state);
                next_probe = Some(Instant::now() + h.interval());
            } else {
                probe = Some(p);
            }
        } else if next_probe.is_some_and(|t| now >= t) {
            match health::Probe::start(h, pid) {
                Ok(p) => probe = Some(p),
                Err(e) => {
                    state.record(health::failed(e.to_string()), h, began.elapsed());
                    report(state);
                    next_probe = Some(now + h.interval());
                }
            }
        }
    }
    if let Some(p) = probe {
        // the container has ended: its probe's result is of no use
        let _ = p.finish(Some(Duration::ZERO));
    }
    loop {
        if let Some(code) = process::wait(pid)? {
            return Ok(code);
        }
    }
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
        assert_eq!(m.restart.policy, Policy::OnFailure);
        assert_eq!(
            (m.restart.max_retries, m.log_max_size, m.log_max_files),
            (2, 1000, 3)
        );
        assert!(m.stdin);
        assert_eq!(m.attach_dir.as_deref(), Some(std::path::Path::new("/c")));
        assert_eq!(m.attached, vec![(9, 6)]);
        let h = m.health.unwrap();
        assert!(h.process.container.is_none());
        assert_eq!((h.retries, h.interval()), (3, Duration::from_secs(30)));
        let mut v: serde_json::Value = serde_json::from_str(text).unwrap();
        v.as_object_mut().unwrap().remove("after");
        let e = MonitorConfig::from_json(&v.to_string()).unwrap_err();
        assert!(e.to_string().contains("missing field `after`"), "{e}");
    }

    #[test]
    fn the_ready_answer_is_a_spawn_report() {
        use crate::process::report::{decode, Report};
        let (r, w) = pipe().unwrap();
        report_started(w.as_raw_fd(), 42);
        report(
            w.as_raw_fd(),
            Stage::Exec,
            2,
            b"No such file or directory (os error 2)",
        );
        drop(w);
        let mut buf = vec![0u8; 1024];
        let n = unsafe { libc::read(r.as_raw_fd(), buf.as_mut_ptr().cast(), 12) };
        assert_eq!(decode(&buf[..n as usize]), Some(Report::Started(42)));
        let n = unsafe { libc::read(r.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        assert_eq!(
            decode(&buf[..n as usize]),
            Some(Report::Failed {
                stage: Stage::Exec,
                errno: 2,
                message: "No such file or directory (os error 2)".into()
            })
        );
        assert_eq!(decode(b"short"), None);
    }
}
