//! Forgetting the UDP flows to a port that is no longer published, by
//! ctnetlink (what `conntrack -D -p udp --dport N` does, without the host
//! needing conntrack-tools). A UDP "connection" that conntrack remembers
//! keeps being NATed to the old container's address until it times out, so
//! a client that keeps sending never reaches the port's next owner.
//!
//! The table is dumped, the entries whose original direction is UDP to the
//! port picked, and each deleted by its original tuple (as the tool does:
//! the kernel deletes by tuple, not by filter, on every kernel this runs on).

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use crate::error::{Error, Result};

const NETLINK_NETFILTER: libc::c_int = 12;
const NFNL_SUBSYS_CTNETLINK: u16 = 1;
const IPCTNL_MSG_CT_GET: u16 = 1;
const IPCTNL_MSG_CT_DELETE: u16 = 2;
const NLM_F_REQUEST: u16 = 1;
const NLM_F_ACK: u16 = 4;
const NLM_F_DUMP: u16 = 0x300;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLA_TYPE_MASK: u16 = 0x3fff;
const CTA_TUPLE_ORIG: u16 = 1;
const CTA_ZONE: u16 = 18;
const CTA_TUPLE_PROTO: u16 = 2;
const CTA_PROTO_NUM: u16 = 1;
const CTA_PROTO_DST_PORT: u16 = 3;

fn align(n: usize) -> usize {
    (n + 3) & !3
}

/// The attributes in `buf`: (type without flags, the whole attribute, its payload).
fn attrs(buf: &[u8]) -> impl Iterator<Item = (u16, &[u8], &[u8])> {
    let mut at = 0;
    std::iter::from_fn(move || {
        let head = buf.get(at..at + 4)?;
        let len = u16::from_ne_bytes([head[0], head[1]]) as usize;
        let kind = u16::from_ne_bytes([head[2], head[3]]) & NLA_TYPE_MASK;
        let whole = buf.get(at..at + len).filter(|_| len >= 4)?;
        at += align(len);
        Some((kind, whole, &whole[4..]))
    })
}

fn find(buf: &[u8], kind: u16) -> Option<(&[u8], &[u8])> {
    attrs(buf)
        .find(|(k, _, _)| *k == kind)
        .map(|(_, whole, payload)| (whole, payload))
}

/// Whether an entry's original tuple (the payload of CTA_TUPLE_ORIG) is UDP to `port`.
fn udp_to(tuple: &[u8], port: u16) -> bool {
    let Some((_, proto)) = find(tuple, CTA_TUPLE_PROTO) else {
        return false;
    };
    let num = find(proto, CTA_PROTO_NUM).and_then(|(_, p)| p.first().copied());
    let dport = find(proto, CTA_PROTO_DST_PORT)
        .and_then(|(_, p)| p.get(..2))
        .map(|p| u16::from_be_bytes([p[0], p[1]]));
    num == Some(libc::IPPROTO_UDP as u8) && dport == Some(port)
}

/// One ctnetlink message: nlmsghdr, nfgenmsg (family, version 0, res_id 0), attributes.
fn message(kind: u16, flags: u16, family: u8, body: &[u8]) -> Vec<u8> {
    let len = 16 + 4 + body.len();
    let mut m = Vec::with_capacity(align(len));
    m.extend_from_slice(&(len as u32).to_ne_bytes());
    m.extend_from_slice(&((NFNL_SUBSYS_CTNETLINK << 8) | kind).to_ne_bytes());
    m.extend_from_slice(&(flags | NLM_F_REQUEST).to_ne_bytes());
    m.extend_from_slice(&1u32.to_ne_bytes()); // sequence
    m.extend_from_slice(&0u32.to_ne_bytes()); // port id: the kernel's
    m.extend_from_slice(&[family, 0, 0, 0]);
    m.extend_from_slice(body);
    m
}

struct Socket(OwnedFd);

impl Socket {
    fn open() -> Result<Socket> {
        let s = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                NETLINK_NETFILTER,
            )
        };
        if s < 0 {
            return Err(Error::io(
                "netfilter netlink socket",
                io::Error::last_os_error(),
            ));
        }
        Ok(Socket(unsafe { OwnedFd::from_raw_fd(s) }))
    }

    fn send(&self, m: &[u8]) -> Result<()> {
        let n = unsafe { libc::send(self.0.as_raw_fd(), m.as_ptr().cast(), m.len(), 0) };
        if n < 0 {
            return Err(Error::io("send to ctnetlink", io::Error::last_os_error()));
        }
        Ok(())
    }

    /// The messages of one receive: (type, payload after the nlmsghdr).
    fn recv(&self, buf: &mut [u8]) -> Result<Vec<(u16, Vec<u8>)>> {
        let n = unsafe { libc::recv(self.0.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
        if n < 0 {
            return Err(Error::io(
                "receive from ctnetlink",
                io::Error::last_os_error(),
            ));
        }
        let buf = &buf[..n as usize];
        let mut out = Vec::new();
        let mut at = 0;
        while let Some(head) = buf.get(at..at + 16) {
            let len = u32::from_ne_bytes([head[0], head[1], head[2], head[3]]) as usize;
            let kind = u16::from_ne_bytes([head[4], head[5]]);
            let Some(msg) = buf.get(at + 16..at + len).filter(|_| len >= 16) else {
                break;
            };
            out.push((kind, msg.to_vec()));
            at += align(len);
        }
        Ok(out)
    }
}

/// The errno of an NLMSG_ERROR payload (0: an acknowledgement).
fn errno(payload: &[u8]) -> i32 {
    payload
        .get(..4)
        .map(|p| -i32::from_ne_bytes([p[0], p[1], p[2], p[3]]))
        .unwrap_or(libc::EPROTO)
}

/// Deletes every conntrack entry, of any address family, whose original
/// direction is UDP to `port`, in the caller's network namespace. Returns
/// how many went (an entry that ended meanwhile is not an error).
pub fn delete_udp_to(port: u16) -> Result<usize> {
    let s = Socket::open()?;
    s.send(&message(
        IPCTNL_MSG_CT_GET,
        NLM_F_DUMP,
        libc::AF_UNSPEC as u8,
        &[],
    ))?;
    // (family, the request's attributes: the original tuple and the zone)
    let mut picked: Vec<(u8, Vec<u8>)> = Vec::new();
    let mut buf = vec![0u8; 1 << 16];
    'dump: loop {
        for (kind, payload) in s.recv(&mut buf)? {
            match kind {
                NLMSG_DONE => break 'dump,
                NLMSG_ERROR => {
                    return Err(Error::io(
                        "dump the conntrack table",
                        io::Error::from_raw_os_error(errno(&payload)),
                    ))
                }
                _ => {}
            }
            let (Some(&family), Some(body)) = (payload.first(), payload.get(4..)) else {
                continue;
            };
            let Some((whole, tuple)) = find(body, CTA_TUPLE_ORIG) else {
                continue;
            };
            if udp_to(tuple, port) {
                let mut request = whole.to_vec();
                request.resize(align(request.len()), 0);
                if let Some((zone, _)) = find(body, CTA_ZONE) {
                    request.extend_from_slice(zone);
                    request.resize(align(request.len()), 0);
                }
                picked.push((family, request));
            }
        }
    }
    let mut deleted = 0;
    for (family, request) in picked {
        s.send(&message(IPCTNL_MSG_CT_DELETE, NLM_F_ACK, family, &request))?;
        for (kind, payload) in s.recv(&mut buf)? {
            if kind != NLMSG_ERROR {
                continue;
            }
            match errno(&payload) {
                0 => deleted += 1,
                libc::ENOENT => {}
                e => {
                    return Err(Error::io(
                        format!("delete a conntrack entry to UDP port {port}"),
                        io::Error::from_raw_os_error(e),
                    ))
                }
            }
        }
    }
    Ok(deleted)
}

#[cfg(feature = "python")]
pub mod bindings {
    use pyo3::prelude::*;

    use crate::error::without_gil;

    /// Deletes the conntrack entries of UDP flows to `port` (in this network
    /// namespace); how many went.
    #[pyfunction]
    pub fn conntrack_delete_udp(port: u16) -> PyResult<usize> {
        without_gil(|| super::delete_udp_to(port))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    #[test]
    fn parses_what_it_builds() {
        // CTA_TUPLE_ORIG { CTA_TUPLE_PROTO { CTA_PROTO_NUM 17, CTA_PROTO_DST_PORT 53 } }
        let proto = [
            &[5u8, 0, 1, 0, 17, 0, 0, 0][..],
            &[6, 0, 3, 0, 0, 53, 0, 0][..],
        ]
        .concat();
        let mut nested = vec![(4 + proto.len()) as u8, 0, 2, 0x80];
        nested.extend_from_slice(&proto);
        assert!(udp_to(&nested, 53));
        assert!(!udp_to(&nested, 54));
        let tcp = [&nested[..8], &[6], &nested[9..]].concat();
        assert!(!udp_to(&tcp, 53));
        // truncated input is no match, never a panic
        for cut in 0..nested.len() {
            let _ = udp_to(&nested[..cut], 53);
        }
    }

    /// In a network namespace of this test's own (its conntrack table is its
    /// own; the host's is never read or touched): two UDP flows and a TCP
    /// attempt on loopback, then only the UDP flow to the port goes.
    #[test]
    fn deletes_only_the_udp_flows_to_the_port() {
        if unsafe { libc::geteuid() } != 0 {
            eprintln!("skipped: needs root (a network namespace of its own)");
            return;
        }
        let iptables = ["/usr/sbin/iptables", "/sbin/iptables"]
            .into_iter()
            .find(|p| std::path::Path::new(p).exists());
        let Some(iptables) = iptables else {
            eprintln!("skipped: no iptables to make the namespace track connections");
            return;
        };
        std::thread::spawn(move || {
            assert_eq!(unsafe { libc::unshare(libc::CLONE_NEWNET) }, 0);
            // Children forked from this thread are in its namespace.
            let ok = |c: &mut Command| c.status().is_ok_and(|s| s.success());
            assert!(ok(Command::new("ip").args(["link", "set", "lo", "up"])));
            // conntrack runs in a namespace only once a rule there needs it
            if !ok(Command::new(iptables).args([
                "-A",
                "OUTPUT",
                "-m",
                "conntrack",
                "--ctstate",
                "NEW",
                "-j",
                "ACCEPT",
            ])) {
                eprintln!("skipped: iptables cannot use conntrack here");
                return;
            }
            let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
            for port in [40101, 40102] {
                udp.send_to(b"x", ("127.0.0.1", port)).unwrap();
            }
            let _ = std::net::TcpStream::connect("127.0.0.1:40101");
            let dump = || -> Vec<(u8, u16)> {
                // (protocol, original destination port) of every entry, by the same dump
                let s = Socket::open().unwrap();
                s.send(&message(IPCTNL_MSG_CT_GET, NLM_F_DUMP, 0, &[]))
                    .unwrap();
                let mut buf = vec![0u8; 1 << 16];
                let mut seen = Vec::new();
                loop {
                    for (kind, payload) in s.recv(&mut buf).unwrap() {
                        if kind == NLMSG_DONE || kind == NLMSG_ERROR {
                            seen.sort();
                            return seen;
                        }
                        let (_, tuple) = find(&payload[4..], CTA_TUPLE_ORIG).unwrap();
                        let (_, proto) = find(tuple, CTA_TUPLE_PROTO).unwrap();
                        let num = find(proto, CTA_PROTO_NUM).unwrap().1[0];
                        let p = find(proto, CTA_PROTO_DST_PORT).unwrap().1;
                        seen.push((num, u16::from_be_bytes([p[0], p[1]])));
                    }
                }
            };
            let before = dump();
            assert!(
                before.contains(&(17, 40101)) && before.contains(&(17, 40102)),
                "{before:?}"
            );
            assert_eq!(delete_udp_to(40101).unwrap(), 1);
            let after = dump();
            assert!(!after.contains(&(17, 40101)), "{after:?}");
            assert!(after.contains(&(17, 40102)), "{after:?}");
            assert_eq!(
                after.iter().filter(|e| e.0 == 6).count(),
                before.iter().filter(|e| e.0 == 6).count(),
                "TCP entries stay"
            );
            assert_eq!(delete_udp_to(40101).unwrap(), 0); // nothing left: no error
        })
        .join()
        .unwrap();
    }
}
