//! The attach socket of a detached container (as conmon's): a unix socket
//! `attach.sock` in the container's state directory on which any number of
//! clients receive the container's output and may send its stdin, while the
//! container and its json-file log never wait for them.
//!
//! The protocol (python/ketch/runtime/attach.py is its client):
//!
//! - The client connects (only root or the monitor's own user get past
//!   SO_PEERCRED) and sends a 4-byte hello: `K`, `A`, version 1, flags
//!   (`STDIN` 1: it sends stdin; `STDOUT` 2 and `STDERR` 4: the streams it
//!   wants).
//! - Then both ways, frames with docker's stdcopy header: 8 bytes, the
//!   kind, three zeros, the payload's length (u32, big-endian), the payload.
//!   From the monitor: 1 stdout, 2 stderr (with -t everything is 1, as the
//!   pty merges them), and last 3, the exit: the process's exit code (i32,
//!   big-endian), after which the monitor closes the connection (a restart
//!   policy starts the process again; clients attach again, as docker's).
//!   From the client: 0 stdin bytes, 4 a terminal size (rows, cols: u16
//!   big-endian each) for a -t container's pty, 5 the end of the
//!   container's stdin (a pipe's write end closed, a ^D on a pty: what a
//!   client sends when its own input ended and it was asked to, docker's
//!   StdinOnce).
//! - The client's close (or half-close) is a detach: the container runs on,
//!   its stdin open. The detach keys are the client's to see.
//!
//! A client is never waited for: its output is kept in a buffer of its own
//! (MAX_PENDING bytes) and a client that lets it fill is disconnected; stdin
//! waits (the client's reads stop) only while the container does not read
//! what was sent before.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

pub const STDIN: u8 = 1;
pub const STDOUT: u8 = 2;
pub const STDERR: u8 = 4;
pub const KIND_STDIN: u8 = 0;
pub const KIND_STDOUT: u8 = 1;
pub const KIND_STDERR: u8 = 2;
pub const KIND_EXIT: u8 = 3;
pub const KIND_RESIZE: u8 = 4;
pub const KIND_CLOSE_STDIN: u8 = 5;
/// The socket's name in the container's state directory.
pub const SOCKET: &str = "attach.sock";
/// A client's output buffer: one that lets more wait is disconnected.
pub const MAX_PENDING: usize = 1 << 20;
/// What stdin keeps waiting for the container before clients are read no more.
const MAX_STDIN: usize = 64 * 1024;
/// The largest frame a client may send.
const MAX_FRAME: usize = 64 * 1024;

/// The 8-byte header of a frame.
pub fn header(kind: u8, len: usize) -> [u8; 8] {
    let n = (len as u32).to_be_bytes();
    [kind, 0, 0, 0, n[0], n[1], n[2], n[3]]
}

struct Client {
    fd: OwnedFd,
    /// The hello's flags, once it has come.
    flags: Option<u8>,
    input: Vec<u8>,
    output: Vec<u8>,
    /// Its end of stream came (its stdin ended).
    done_reading: bool,
    /// To be closed once its output is written (the exit was sent).
    closing: bool,
    /// To be dropped (gone, stuck, or done).
    dead: bool,
}

/// The container's stdin as the monitor holds it.
pub enum Stdin {
    /// A pipe's write end (-i without -t).
    Pipe(OwnedFd),
    /// The pty's master side (-t -i): a ^D ends the input.
    Pty(OwnedFd),
}

impl Stdin {
    fn fd(&self) -> RawFd {
        match self {
            Stdin::Pipe(f) | Stdin::Pty(f) => f.as_raw_fd(),
        }
    }
}

pub struct Attach {
    listener: Option<OwnedFd>,
    path: Option<std::path::PathBuf>,
    clients: Vec<Client>,
    stdin: Option<Stdin>,
    stdin_pending: Vec<u8>,
    /// The pty (for sizes), -t only.
    pty: Option<RawFd>,
    me: u32,
}

fn last_error(what: &str) -> Error {
    Error::io(what, io::Error::last_os_error())
}

fn nonblocking(fd: RawFd) {
    unsafe {
        let fl = libc::fcntl(fd, libc::F_GETFL);
        libc::fcntl(fd, libc::F_SETFL, fl | libc::O_NONBLOCK);
    }
}

/// The directory the socket goes in, opened so that no symlink can stand
/// for it (O_NOFOLLOW) and checked to be ours and writable by us alone,
/// as its parent is: nobody else can swap it for another.
fn open_dir(dir: &Path) -> Result<OwnedFd> {
    let me = unsafe { libc::geteuid() };
    let check = |fd: RawFd, what: &Path| -> Result<()> {
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        if unsafe { libc::fstat(fd, &mut st) } < 0 {
            return Err(last_error("stat the container's directory"));
        }
        if st.st_uid != me || st.st_mode & 0o022 != 0 {
            return Err(Error::Invalid(format!(
                "{}: not owned by the monitor's user or writable by others: no attach socket in it",
                what.display()
            )));
        }
        Ok(())
    };
    let open = |p: &Path, flags: i32| -> Result<OwnedFd> {
        let c = CString::new(p.as_os_str().as_bytes())
            .map_err(|_| Error::Invalid("a NUL in the container's directory".into()))?;
        let fd = unsafe { libc::open(c.as_ptr(), flags | libc::O_CLOEXEC) };
        if fd < 0 {
            return Err(last_error("open the container's directory"));
        }
        Ok(unsafe { OwnedFd::from_raw_fd(fd) })
    };
    let fd = open(dir, libc::O_PATH | libc::O_DIRECTORY | libc::O_NOFOLLOW)?;
    check(fd.as_raw_fd(), dir)?;
    if let Some(parent) = dir.parent() {
        let p = open(parent, libc::O_PATH | libc::O_DIRECTORY)?;
        check(p.as_raw_fd(), parent)?;
    }
    Ok(fd)
}

/// A sockaddr_un for `path`.
fn address(path: &[u8]) -> Result<libc::sockaddr_un> {
    let mut addr: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
    if path.len() >= addr.sun_path.len() {
        return Err(Error::Invalid(
            "the attach socket's path is too long".into(),
        ));
    }
    for (d, s) in addr.sun_path.iter_mut().zip(path) {
        *d = *s as libc::c_char;
    }
    Ok(addr)
}

/// The attach socket, listening, in `dir`: bound through the directory's
/// descriptor (/proc/self/fd/N/attach.sock), so the path resolved at bind
/// is the directory checked; mode 0600.
pub fn listen(dir: &Path) -> Result<OwnedFd> {
    let d = open_dir(dir)?;
    let name = CString::new(SOCKET).unwrap_or_default();
    // a previous run's (or anything else left under the name: never followed)
    unsafe { libc::unlinkat(d.as_raw_fd(), name.as_ptr(), 0) };
    let fd = unsafe {
        libc::socket(
            libc::AF_UNIX,
            libc::SOCK_STREAM | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
            0,
        )
    };
    if fd < 0 {
        return Err(last_error("attach socket"));
    }
    let sock = unsafe { OwnedFd::from_raw_fd(fd) };
    let path = format!("/proc/self/fd/{}/{SOCKET}", d.as_raw_fd());
    let addr = address(path.as_bytes())?;
    // the monitor has no other thread yet: the umask is its alone
    let old = unsafe { libc::umask(0o177) };
    let r = unsafe {
        libc::bind(
            fd,
            (&addr as *const libc::sockaddr_un).cast(),
            std::mem::size_of::<libc::sockaddr_un>() as libc::socklen_t,
        )
    };
    unsafe { libc::umask(old) };
    if r < 0 {
        return Err(last_error("bind the attach socket"));
    }
    if unsafe { libc::listen(fd, 16) } < 0 {
        return Err(last_error("listen on the attach socket"));
    }
    Ok(sock)
}

/// The peer's uid (SO_PEERCRED).
pub fn peer_uid(fd: RawFd) -> Option<u32> {
    let mut cred: libc::ucred = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    let r = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&mut cred as *mut libc::ucred).cast(),
            &mut len,
        )
    };
    (r == 0).then_some(cred.uid)
}

impl Attach {
    /// No socket: output goes nowhere but the log (a monitor without one).
    pub fn none() -> Attach {
        Attach {
            listener: None,
            path: None,
            clients: Vec::new(),
            stdin: None,
            stdin_pending: Vec::new(),
            pty: None,
            me: unsafe { libc::geteuid() },
        }
    }

    /// The socket in `dir` (see `listen`); a failure is reported and the
    /// container runs without one.
    pub fn new(dir: Option<&Path>) -> Attach {
        let mut a = Attach::none();
        if let Some(dir) = dir {
            match listen(dir) {
                Ok(l) => {
                    a.listener = Some(l);
                    a.path = Some(dir.join(SOCKET));
                }
                Err(e) => eprintln!("ketch-monitor: attach socket: {e}"),
            }
        }
        a
    }

    /// A client connected before the container started (the caller's own
    /// end of a socket pair: `run` and `start -a` lose no output), with the
    /// hello's flags already known.
    pub fn add(&mut self, fd: OwnedFd, flags: u8) {
        nonblocking(fd.as_raw_fd());
        self.clients.push(client(fd, Some(flags)));
    }

    /// The new process's stdin (None: it has none) and pty (-t).
    pub fn started(&mut self, stdin: Option<Stdin>, pty: Option<RawFd>) {
        if let Some(s) = &stdin {
            nonblocking(s.fd());
        }
        self.stdin = stdin;
        self.stdin_pending.clear();
        self.pty = pty;
    }

    /// The descriptors to poll (fd, events); `serve` takes their revents in the same order.
    pub fn pollfds(&self) -> Vec<libc::pollfd> {
        let pfd = |fd, events| libc::pollfd {
            fd,
            events,
            revents: 0,
        };
        let mut out = vec![pfd(
            self.listener.as_ref().map_or(-1, |l| l.as_raw_fd()),
            libc::POLLIN,
        )];
        let stdin_full = self.stdin_pending.len() >= MAX_STDIN;
        for c in &self.clients {
            let mut ev = 0;
            if !(c.done_reading || stdin_full && c.flags.is_some_and(|f| f & STDIN != 0)) {
                ev |= libc::POLLIN;
            }
            if !c.output.is_empty() {
                ev |= libc::POLLOUT;
            }
            out.push(pfd(c.fd.as_raw_fd(), ev));
        }
        out.push(pfd(
            match &self.stdin {
                Some(s) if !self.stdin_pending.is_empty() => s.fd(),
                _ => -1,
            },
            libc::POLLOUT,
        ));
        out
    }

    /// After a poll of `pollfds`: new clients accepted, stdin read and
    /// written on, output written, clients gone dropped.
    pub fn serve(&mut self, revents: &[libc::pollfd]) {
        let n = self.clients.len();
        if revents.len() != n + 2 {
            return;
        }
        for (i, pfd) in revents[1..=n].iter().enumerate() {
            if pfd.revents == 0 {
                continue;
            }
            let hung_up = pfd.revents & (libc::POLLHUP | libc::POLLERR) != 0;
            if pfd.revents & libc::POLLIN != 0 || hung_up {
                self.read_client(i, hung_up);
            }
            if pfd.revents & libc::POLLOUT != 0 {
                self.write_client(i);
            }
        }
        if revents[n + 1].revents != 0 {
            self.write_stdin();
        }
        self.clients.retain(|c| !is_dead(c));
        if revents[0].revents != 0 {
            self.accept();
        }
    }

    fn accept(&mut self) {
        let Some(l) = &self.listener else { return };
        loop {
            let fd = unsafe {
                libc::accept4(
                    l.as_raw_fd(),
                    std::ptr::null_mut(),
                    std::ptr::null_mut(),
                    libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
                )
            };
            if fd < 0 {
                return;
            }
            let fd = unsafe { OwnedFd::from_raw_fd(fd) };
            match peer_uid(fd.as_raw_fd()) {
                Some(uid) if uid == 0 || uid == self.me => self.clients.push(client(fd, None)),
                _ => drop(fd), // not root, not the container's owner
            }
        }
    }

    /// What client `i` sent (all of it, up to a few reads); its end of
    /// stream makes it read no more, a hang-up or an error drops it.
    fn read_client(&mut self, i: usize, hung_up: bool) {
        for _ in 0..8 {
            if self.clients[i].done_reading || self.stdin_pending.len() >= MAX_STDIN {
                break;
            }
            if !self.read_once(i) {
                break;
            }
        }
        if hung_up {
            mark_dead(&mut self.clients[i]);
        }
    }

    /// One read from client `i`; false when there is no more for now.
    fn read_once(&mut self, i: usize) -> bool {
        let mut buf = [0u8; 16 * 1024];
        let c = &mut self.clients[i];
        let r = unsafe { libc::read(c.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        if r < 0 {
            let e = io::Error::last_os_error().raw_os_error();
            if e != Some(libc::EAGAIN) && e != Some(libc::EINTR) {
                mark_dead(c);
            }
            return false;
        }
        if r == 0 {
            // its half-close: it sends no more (a detach is its close)
            c.done_reading = true;
            if c.flags.is_none() {
                mark_dead(c);
            }
            return false;
        }
        c.input.extend_from_slice(&buf[..r as usize]);
        if c.flags.is_none() {
            if c.input.len() < 4 {
                return true;
            }
            if &c.input[..3] != b"KA\x01" {
                mark_dead(c);
                return false;
            }
            c.flags = Some(c.input[3]);
            c.input.drain(..4);
        }
        let input = std::mem::take(&mut c.input);
        let mut rest = input.as_slice();
        while rest.len() >= 8 {
            let len = u32::from_be_bytes([rest[4], rest[5], rest[6], rest[7]]) as usize;
            if len > MAX_FRAME {
                mark_dead(&mut self.clients[i]);
                return false;
            }
            if rest.len() < 8 + len {
                break;
            }
            self.frame(i, rest[0], &rest[8..8 + len]);
            rest = &rest[8 + len..];
        }
        self.clients[i].input = rest.to_vec();
        self.write_stdin();
        true
    }

    fn frame(&mut self, i: usize, kind: u8, payload: &[u8]) {
        let flags = self.clients[i].flags.unwrap_or(0);
        match kind {
            KIND_STDIN if flags & STDIN != 0 && self.stdin.is_some() => {
                self.stdin_pending.extend_from_slice(payload);
            }
            KIND_RESIZE if payload.len() == 4 => {
                if let Some(pty) = self.pty {
                    let ws = libc::winsize {
                        ws_row: u16::from_be_bytes([payload[0], payload[1]]),
                        ws_col: u16::from_be_bytes([payload[2], payload[3]]),
                        ws_xpixel: 0,
                        ws_ypixel: 0,
                    };
                    unsafe { libc::ioctl(pty, libc::TIOCSWINSZ, &ws) };
                }
            }
            KIND_CLOSE_STDIN if flags & STDIN != 0 => self.close_stdin(),
            _ => {}
        }
    }

    fn write_client(&mut self, i: usize) {
        let c = &mut self.clients[i];
        while !c.output.is_empty() {
            let r = unsafe {
                libc::send(
                    c.fd.as_raw_fd(),
                    c.output.as_ptr().cast(),
                    c.output.len(),
                    libc::MSG_NOSIGNAL,
                )
            };
            if r < 0 {
                let e = io::Error::last_os_error().raw_os_error();
                if e != Some(libc::EAGAIN) && e != Some(libc::EINTR) {
                    mark_dead(c);
                }
                return;
            }
            c.output.drain(..r as usize);
        }
        if c.closing {
            mark_dead(c);
        }
    }

    fn write_stdin(&mut self) {
        let Some(s) = &self.stdin else {
            self.stdin_pending.clear();
            return;
        };
        while !self.stdin_pending.is_empty() {
            let r = unsafe {
                libc::write(
                    s.fd(),
                    self.stdin_pending.as_ptr().cast(),
                    self.stdin_pending.len(),
                )
            };
            if r < 0 {
                let e = io::Error::last_os_error().raw_os_error();
                if e == Some(libc::EAGAIN) || e == Some(libc::EINTR) {
                    return;
                }
                // the container closed its stdin: what it was sent goes
                self.stdin = None;
                self.stdin_pending.clear();
                return;
            }
            self.stdin_pending.drain(..r as usize);
        }
    }

    /// The container's stdin ended (a client sent KIND_CLOSE_STDIN).
    fn close_stdin(&mut self) {
        // what was sent before still goes, at once if it can
        self.write_stdin();
        match self.stdin.take() {
            Some(Stdin::Pty(f)) => {
                unsafe { libc::write(f.as_raw_fd(), b"\x04".as_ptr().cast(), 1) };
            }
            Some(Stdin::Pipe(f)) => drop(f),
            None => {}
        }
        self.stdin_pending.clear();
    }

    /// Output of the container (`kind` 1 or 2) to every client that wants
    /// it; a client whose buffer would pass MAX_PENDING is disconnected.
    pub fn output(&mut self, kind: u8, data: &[u8]) {
        let want = if kind == KIND_STDERR { STDERR } else { STDOUT };
        let mut any = false;
        for c in &mut self.clients {
            let Some(f) = c.flags else { continue };
            if f & want == 0 || c.closing {
                continue;
            }
            if c.output.len() + data.len() + 8 > MAX_PENDING {
                mark_dead(c); // a stuck client: the container does not wait for it
                continue;
            }
            c.output.extend_from_slice(&header(kind, data.len()));
            c.output.extend_from_slice(data);
            any = true;
        }
        if any {
            for i in 0..self.clients.len() {
                if !self.clients[i].output.is_empty() {
                    self.write_client(i);
                }
            }
        }
        self.clients.retain(|c| !is_dead(c));
    }

    /// The process ended with `code`: every client gets the exit frame and
    /// is closed once it has read its output (`grace` at most, all told).
    pub fn ended(&mut self, code: i32, grace: Duration) {
        self.stdin = None;
        self.stdin_pending.clear();
        self.pty = None;
        for c in &mut self.clients {
            if c.flags.is_none() {
                mark_dead(c);
                continue;
            }
            c.output.extend_from_slice(&header(KIND_EXIT, 4));
            c.output.extend_from_slice(&code.to_be_bytes());
            c.closing = true;
        }
        self.clients.retain(|c| !is_dead(c));
        let until = Instant::now() + grace;
        while !self.clients.is_empty() {
            for i in 0..self.clients.len() {
                self.write_client(i);
            }
            self.clients.retain(|c| !is_dead(c));
            let left = until.saturating_duration_since(Instant::now());
            if self.clients.is_empty() || left.is_zero() {
                break;
            }
            let mut pfds: Vec<libc::pollfd> = self
                .clients
                .iter()
                .map(|c| libc::pollfd {
                    fd: c.fd.as_raw_fd(),
                    events: libc::POLLOUT,
                    revents: 0,
                })
                .collect();
            unsafe {
                libc::poll(
                    pfds.as_mut_ptr(),
                    pfds.len() as libc::nfds_t,
                    left.as_millis().clamp(1, 1000) as i32,
                )
            };
        }
        self.clients.clear();
    }
}

impl Drop for Attach {
    fn drop(&mut self) {
        if let Some(p) = &self.path {
            let _ = std::fs::remove_file(p);
        }
    }
}

fn client(fd: OwnedFd, flags: Option<u8>) -> Client {
    Client {
        fd,
        flags,
        input: Vec::new(),
        output: Vec::new(),
        done_reading: false,
        closing: false,
        dead: false,
    }
}

fn mark_dead(c: &mut Client) {
    c.output.clear();
    c.dead = true;
}

fn is_dead(c: &Client) -> bool {
    c.dead
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair() -> (OwnedFd, OwnedFd) {
        let mut fds = [0; 2];
        let r = unsafe {
            libc::socketpair(
                libc::AF_UNIX,
                libc::SOCK_STREAM | libc::SOCK_CLOEXEC,
                0,
                fds.as_mut_ptr(),
            )
        };
        assert_eq!(r, 0);
        unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) }
    }

    fn read_all(fd: &OwnedFd) -> Vec<u8> {
        nonblocking(fd.as_raw_fd());
        let mut out = Vec::new();
        let mut buf = [0u8; 65536];
        loop {
            let r = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
            if r <= 0 {
                return out;
            }
            out.extend_from_slice(&buf[..r as usize]);
        }
    }

    #[test]
    fn output_is_framed_by_stream_and_ends_with_the_exit() {
        let (ours, theirs) = pair();
        let mut a = Attach::none();
        a.add(theirs, STDOUT); // stdout only
        a.output(KIND_STDOUT, b"out");
        a.output(KIND_STDERR, b"err");
        a.ended(7, Duration::from_millis(100));
        let got = read_all(&ours);
        let mut want = header(KIND_STDOUT, 3).to_vec();
        want.extend_from_slice(b"out");
        want.extend_from_slice(&header(KIND_EXIT, 4));
        want.extend_from_slice(&7i32.to_be_bytes());
        assert_eq!(got, want);
    }

    #[test]
    fn a_client_that_does_not_read_is_dropped_not_waited_for() {
        let (ours, theirs) = pair();
        let mut a = Attach::none();
        a.add(theirs, STDOUT | STDERR);
        let chunk = vec![b'x'; 64 * 1024];
        let began = Instant::now();
        for _ in 0..200 {
            a.output(KIND_STDOUT, &chunk); // 12.5 MiB, never read
        }
        assert!(a.clients.is_empty());
        assert!(began.elapsed() < Duration::from_secs(5));
        drop(ours);
    }

    #[test]
    fn stdin_frames_reach_the_pipe_and_a_close_frame_ends_it() {
        let (ours, theirs) = pair();
        let (r, w) = crate::sys::pipe().unwrap();
        let mut a = Attach::none();
        a.add(theirs, STDIN | STDOUT);
        a.started(Some(Stdin::Pipe(w)), None);
        let mut msg = header(KIND_STDIN, 5).to_vec();
        msg.extend_from_slice(b"hello");
        msg.extend_from_slice(&header(KIND_CLOSE_STDIN, 0));
        let n = unsafe { libc::write(ours.as_raw_fd(), msg.as_ptr().cast(), msg.len()) };
        assert_eq!(n as usize, msg.len());
        let mut pfds = a.pollfds();
        unsafe { libc::poll(pfds.as_mut_ptr(), pfds.len() as libc::nfds_t, 1000) };
        a.serve(&pfds);
        let mut buf = [0u8; 16];
        let n = unsafe { libc::read(r.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        assert_eq!(&buf[..n as usize], b"hello");
        // the write end is closed: end of file
        let n = unsafe { libc::read(r.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        assert_eq!(n, 0);
    }
}
