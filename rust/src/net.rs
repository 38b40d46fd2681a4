//! A container's network plumbing on the hot path, without a netlink
//! library's start-up cost: a network namespace kept as a bind-mounted
//! file, a veth pair made straight into it (rtnetlink by hand), its
//! address and default route set from inside (ioctls), `lo` up.

use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;

use crate::error::{Context, Error, Result};

fn cpath(p: &Path) -> Result<CString> {
    use std::os::unix::ffi::OsStrExt;
    CString::new(p.as_os_str().as_bytes())
        .map_err(|_| Error::Invalid(format!("{} has a NUL", p.display())))
}

fn check(r: libc::c_int, what: &str) -> Result<()> {
    if r < 0 {
        return Err(Error::io(what.to_string(), io::Error::last_os_error()));
    }
    Ok(())
}

/// Runs `f` on a thread of its own (network namespaces are per thread).
fn on_thread<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    std::thread::spawn(f)
        .join()
        .map_err(|_| Error::Invalid("network setup thread panicked".into()))?
}

/// A new network namespace, kept by a bind mount at `path` (a new file),
/// with `lo` up.
pub fn netns_create(path: &Path) -> Result<()> {
    let p = path.to_path_buf();
    std::fs::File::options()
        .write(true)
        .create_new(true)
        .open(&p)
        .ctx(|| format!("create {}", p.display()))?;
    let made = on_thread(move || {
        check(
            unsafe { libc::unshare(libc::CLONE_NEWNET) },
            "unshare(CLONE_NEWNET)",
        )?;
        let target = cpath(&p)?;
        check(
            unsafe {
                libc::mount(
                    c"/proc/thread-self/ns/net".as_ptr(),
                    target.as_ptr(),
                    std::ptr::null(),
                    libc::MS_BIND,
                    std::ptr::null(),
                )
            },
            "bind the network namespace",
        )?;
        set_up(c"lo")
    });
    if made.is_err() {
        netns_remove(path);
    }
    made
}

/// Unmounts and removes a namespace file (its interfaces go with the last user).
pub fn netns_remove(path: &Path) {
    if let Ok(c) = cpath(path) {
        unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
    }
    let _ = std::fs::remove_file(path);
}

fn ifreq(name: &CStr) -> libc::ifreq {
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (i, b) in name.to_bytes().iter().take(libc::IFNAMSIZ - 1).enumerate() {
        req.ifr_name[i] = *b as libc::c_char;
    }
    req
}

fn socket() -> Result<OwnedFd> {
    let s = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    check(s, "socket")?;
    Ok(unsafe { OwnedFd::from_raw_fd(s) })
}

fn set_up(name: &CStr) -> Result<()> {
    let s = socket()?;
    let mut req = ifreq(name);
    check(
        unsafe { libc::ioctl(s.as_raw_fd(), libc::SIOCGIFFLAGS, &mut req) },
        "get interface flags",
    )?;
    unsafe { req.ifr_ifru.ifru_flags |= (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short };
    check(
        unsafe { libc::ioctl(s.as_raw_fd(), libc::SIOCSIFFLAGS, &req) },
        "bring the interface up",
    )
}

fn sockaddr_in(ip: [u8; 4]) -> libc::sockaddr {
    let sin = libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: 0,
        sin_addr: libc::in_addr {
            s_addr: u32::from_ne_bytes(ip),
        },
        sin_zero: [0; 8],
    };
    unsafe { std::mem::transmute::<libc::sockaddr_in, libc::sockaddr>(sin) }
}

/// Inside the namespace at `netns`: `ifname` gets `addr/prefix`, comes up,
/// and the default route goes through `gateway`.
pub fn configure(
    netns: &Path,
    ifname: &str,
    addr: [u8; 4],
    prefix: u8,
    gateway: [u8; 4],
) -> Result<()> {
    let ns = OwnedFd::from(std::fs::File::open(netns).ctx(|| format!("open {}", netns.display()))?);
    let name = CString::new(ifname).map_err(|_| Error::Invalid("interface name".into()))?;
    on_thread(move || {
        check(
            unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) },
            "enter the network namespace",
        )?;
        let s = socket()?;
        let mut req = ifreq(&name);
        req.ifr_ifru.ifru_addr = sockaddr_in(addr);
        check(
            unsafe { libc::ioctl(s.as_raw_fd(), libc::SIOCSIFADDR, &req) },
            "set the address",
        )?;
        let mask: u32 = if prefix == 0 {
            0
        } else {
            u32::MAX << (32 - prefix as u32)
        };
        req.ifr_ifru.ifru_netmask = sockaddr_in(mask.to_be_bytes());
        check(
            unsafe { libc::ioctl(s.as_raw_fd(), libc::SIOCSIFNETMASK, &req) },
            "set the netmask",
        )?;
        set_up(&name)?;
        if gateway == [0, 0, 0, 0] {
            return Ok(()); // a second network: its subnet only, the default route stays
        }
        let mut rt: libc::rtentry = unsafe { std::mem::zeroed() };
        rt.rt_dst = sockaddr_in([0, 0, 0, 0]);
        rt.rt_genmask = sockaddr_in([0, 0, 0, 0]);
        rt.rt_gateway = sockaddr_in(gateway);
        rt.rt_flags = libc::RTF_UP | libc::RTF_GATEWAY;
        check(
            unsafe { libc::ioctl(s.as_raw_fd(), libc::SIOCADDRT, &rt) },
            "add the default route",
        )
    })
}

// ---- rtnetlink -------------------------------------------------------------

const RTM_NEWLINK: u16 = 16;
const RTM_DELLINK: u16 = 17;
const RTM_NEWADDR: u16 = 20;
const NLM_F_REQUEST: u16 = 1;
const NLM_F_ACK: u16 = 4;
const NLM_F_EXCL: u16 = 0x200;
const NLM_F_CREATE: u16 = 0x400;
const NLMSG_ERROR: u16 = 2;
const IFLA_IFNAME: u16 = 3;
const IFLA_MASTER: u16 = 10;
const IFLA_LINKINFO: u16 = 18;
const IFLA_NET_NS_FD: u16 = 28;
const IFLA_INFO_KIND: u16 = 1;
const IFLA_INFO_DATA: u16 = 2;
const VETH_INFO_PEER: u16 = 1;
const NLA_F_NESTED: u16 = 0x8000;
const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;

/// A netlink request under construction.
struct Msg {
    buf: Vec<u8>,
    nests: Vec<usize>,
}

impl Msg {
    fn new(kind: u16, flags: u16) -> Msg {
        let mut buf = vec![0u8; 16];
        buf[4..6].copy_from_slice(&kind.to_ne_bytes());
        buf[6..8].copy_from_slice(&(flags | NLM_F_REQUEST | NLM_F_ACK).to_ne_bytes());
        buf[8..12].copy_from_slice(&1u32.to_ne_bytes());
        Msg {
            buf,
            nests: Vec::new(),
        }
    }
    fn align(&mut self) {
        while !self.buf.len().is_multiple_of(4) {
            self.buf.push(0);
        }
    }
    /// struct ifinfomsg
    fn ifinfo(&mut self, index: i32, flags: u32, change: u32) {
        self.buf
            .extend_from_slice(&[libc::AF_UNSPEC as u8, 0, 0, 0]);
        self.buf.extend_from_slice(&index.to_ne_bytes());
        self.buf.extend_from_slice(&flags.to_ne_bytes());
        self.buf.extend_from_slice(&change.to_ne_bytes());
    }
    /// struct ifaddrmsg (scope 0: universe, as `ip addr add` gives)
    fn ifaddr(&mut self, family: u8, prefix: u8, index: i32) {
        self.buf.extend_from_slice(&[family, prefix, 0, 0]);
        self.buf.extend_from_slice(&index.to_ne_bytes());
    }
    fn attr(&mut self, kind: u16, data: &[u8]) {
        self.align();
        self.buf
            .extend_from_slice(&((4 + data.len()) as u16).to_ne_bytes());
        self.buf.extend_from_slice(&kind.to_ne_bytes());
        self.buf.extend_from_slice(data);
        self.align();
    }
    fn str_attr(&mut self, kind: u16, s: &str) {
        let mut d = s.as_bytes().to_vec();
        d.push(0);
        self.attr(kind, &d);
    }
    fn begin(&mut self, kind: u16) {
        self.align();
        self.nests.push(self.buf.len());
        self.buf.extend_from_slice(&[0, 0]);
        self.buf
            .extend_from_slice(&(kind | NLA_F_NESTED).to_ne_bytes());
    }
    fn end(&mut self) {
        let at = self.nests.pop().expect("balanced nests");
        let len = (self.buf.len() - at) as u16;
        self.buf[at..at + 2].copy_from_slice(&len.to_ne_bytes());
    }
    fn send(mut self, what: &str) -> Result<()> {
        self.align();
        let len = self.buf.len() as u32;
        self.buf[0..4].copy_from_slice(&len.to_ne_bytes());
        let s = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                libc::NETLINK_ROUTE,
            )
        };
        check(s, "netlink socket")?;
        let s = unsafe { OwnedFd::from_raw_fd(s) };
        let n = unsafe { libc::send(s.as_raw_fd(), self.buf.as_ptr().cast(), self.buf.len(), 0) };
        if n < 0 {
            return Err(Error::io(what.to_string(), io::Error::last_os_error()));
        }
        let mut reply = [0u8; 4096];
        let n = unsafe { libc::recv(s.as_raw_fd(), reply.as_mut_ptr().cast(), reply.len(), 0) };
        if n < 20 {
            return Err(Error::io(what.to_string(), io::Error::last_os_error()));
        }
        let kind = u16::from_ne_bytes([reply[4], reply[5]]);
        if kind == NLMSG_ERROR {
            let code = i32::from_ne_bytes([reply[16], reply[17], reply[18], reply[19]]);
            if code != 0 {
                return Err(Error::io(
                    what.to_string(),
                    io::Error::from_raw_os_error(-code),
                ));
            }
        }
        Ok(())
    }
}

fn index_of(name: &str) -> Result<i32> {
    let c = CString::new(name).map_err(|_| Error::Invalid("interface name".into()))?;
    let i = unsafe { libc::if_nametoindex(c.as_ptr()) };
    if i == 0 {
        return Err(Error::io(
            format!("find interface {name}"),
            io::Error::last_os_error(),
        ));
    }
    Ok(i as i32)
}

/// A veth pair: `host` stays here, enslaved to `bridge` and up; `peer`
/// (named `peer_name`) is made directly inside the namespace at `netns`.
pub fn veth(host: &str, peer_name: &str, netns: &Path, bridge: &str) -> Result<()> {
    let ns = std::fs::File::open(netns).ctx(|| format!("open {}", netns.display()))?;
    let master = index_of(bridge)?;
    let mut m = Msg::new(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);
    m.ifinfo(0, 0, 0);
    m.str_attr(IFLA_IFNAME, host);
    m.attr(IFLA_MASTER, &master.to_ne_bytes());
    m.begin(IFLA_LINKINFO);
    m.str_attr(IFLA_INFO_KIND, "veth");
    m.begin(IFLA_INFO_DATA);
    m.begin(VETH_INFO_PEER);
    m.ifinfo(0, 0, 0);
    m.str_attr(IFLA_IFNAME, peer_name);
    m.attr(IFLA_NET_NS_FD, &(ns.as_raw_fd() as u32).to_ne_bytes());
    m.end();
    m.end();
    m.end();
    m.send(&format!("create veth {host}"))?;
    link_up(host)
}

fn link_up(name: &str) -> Result<()> {
    let idx = index_of(name)?;
    let mut up = Msg::new(RTM_NEWLINK, 0);
    up.ifinfo(idx, libc::IFF_UP as u32, libc::IFF_UP as u32);
    up.send(&format!("bring {name} up"))
}

fn addr_add(name: &str, addr: [u8; 4], prefix: u8) -> Result<()> {
    if prefix > 32 {
        return Err(Error::Invalid(format!("prefix length {prefix}")));
    }
    let mut m = Msg::new(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL);
    m.ifaddr(libc::AF_INET as u8, prefix, index_of(name)?);
    m.attr(IFA_LOCAL, &addr);
    m.attr(IFA_ADDRESS, &addr);
    m.send(&format!("add an address to {name}"))
}

/// A new Linux bridge `name` with `addr/prefix` (no broadcast address, as
/// before), up. On failure the bridge is not left behind.
pub fn bridge_create(name: &str, addr: [u8; 4], prefix: u8) -> Result<()> {
    let mut m = Msg::new(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);
    m.ifinfo(0, 0, 0);
    m.str_attr(IFLA_IFNAME, name);
    m.begin(IFLA_LINKINFO);
    m.str_attr(IFLA_INFO_KIND, "bridge");
    m.end();
    m.send(&format!("create bridge {name}"))?;
    let made = addr_add(name, addr, prefix).and_then(|()| link_up(name));
    if made.is_err() {
        let _ = link_delete(name);
    }
    made
}

/// Removes a link by name (its veth peer goes with it); missing is fine.
pub fn link_delete(name: &str) -> Result<()> {
    let Ok(idx) = index_of(name) else {
        return Ok(());
    };
    let mut m = Msg::new(RTM_DELLINK, 0);
    m.ifinfo(idx, 0, 0);
    match m.send(&format!("delete {name}")) {
        // gone meanwhile (its peer's namespace went first)
        Err(e) if e.raw_os_error() == Some(libc::ENODEV) => Ok(()),
        r => r,
    }
}

// ---- a userland proxy for what DNAT cannot do ---------------------------------

/// Serves a listening TCP socket (taken over) on threads of its own: every
/// connection is forwarded to `target` (the container's IPv4 address and
/// port), both ways, until either side closes. For `[::]:PORT`, which
/// cannot be DNATed to a container that has only IPv4 (docker runs
/// docker-proxy for the same reason). Returns at once.
pub fn proxy_start(listen_fd: i32, target: std::net::SocketAddrV4) {
    let listener = unsafe { std::net::TcpListener::from_raw_fd(listen_fd) };
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(client) = conn else { continue };
            std::thread::spawn(move || {
                let Ok(upstream) = std::net::TcpStream::connect(target) else {
                    return;
                };
                let (Ok(c2), Ok(u2)) = (client.try_clone(), upstream.try_clone()) else {
                    return;
                };
                let one = std::thread::spawn(move || pipe_half(client, upstream));
                pipe_half(u2, c2);
                let _ = one.join();
            });
        }
    });
}

fn pipe_half(mut from: std::net::TcpStream, mut to: std::net::TcpStream) {
    let _ = io::copy(&mut from, &mut to);
    let _ = to.shutdown(std::net::Shutdown::Write);
}

/// The Python face of the network plumbing (registered in lib.rs).
#[cfg(feature = "python")]
pub mod bindings {
    use std::path::PathBuf;

    use pyo3::prelude::*;

    use crate::error::without_gil;

    /// A new Linux bridge `name` with `addr`/`prefix`, up (removed again on failure).
    #[pyfunction]
    pub fn bridge_create(name: String, addr: [u8; 4], prefix: u8) -> PyResult<()> {
        without_gil(|| super::bridge_create(&name, addr, prefix))
    }

    /// A new network namespace kept at `path` (a bind mount), `lo` up.
    #[pyfunction]
    pub fn netns_create(path: PathBuf) -> PyResult<()> {
        without_gil(|| super::netns_create(&path))
    }

    /// Unmounts and removes a namespace file.
    #[pyfunction]
    pub fn netns_remove(path: PathBuf) {
        super::netns_remove(&path)
    }

    /// A veth pair: `host` on `bridge` and up, `peer` made inside the namespace at `netns`.
    #[pyfunction]
    pub fn veth(host: String, peer: String, netns: PathBuf, bridge: String) -> PyResult<()> {
        without_gil(|| super::veth(&host, &peer, &netns, &bridge))
    }

    /// Inside the namespace: `ifname` gets `addr`/`prefix`, comes up, default route via `gateway`.
    #[pyfunction]
    pub fn net_configure(
        netns: PathBuf,
        ifname: String,
        addr: [u8; 4],
        prefix: u8,
        gateway: [u8; 4],
    ) -> PyResult<()> {
        without_gil(|| super::configure(&netns, &ifname, addr, prefix, gateway))
    }

    /// Forwards every connection on the listening socket `fd` (taken over)
    /// to `ip:port`, on background threads (the `[::]` side of a published port).
    #[pyfunction]
    pub fn proxy_start(fd: i32, ip: String, port: u16) -> PyResult<()> {
        let addr: std::net::Ipv4Addr = ip
            .parse()
            .map_err(|_| pyo3::exceptions::PyValueError::new_err(format!("bad address {ip}")))?;
        super::proxy_start(fd, std::net::SocketAddrV4::new(addr, port));
        Ok(())
    }

    /// Removes a network link by name (missing is fine).
    #[pyfunction]
    pub fn link_delete(name: String) -> PyResult<()> {
        Ok(super::link_delete(&name)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root() -> bool {
        unsafe { libc::geteuid() == 0 }
    }

    /// (up, address, netmask) of `name`, by ioctl in this thread's namespace.
    fn state(name: &str) -> (bool, [u8; 4], [u8; 4]) {
        let s = socket().unwrap();
        let c = CString::new(name).unwrap();
        let mut req = ifreq(&c);
        check(
            unsafe { libc::ioctl(s.as_raw_fd(), libc::SIOCGIFFLAGS, &mut req) },
            "flags",
        )
        .unwrap();
        let up = unsafe { req.ifr_ifru.ifru_flags } & libc::IFF_UP as libc::c_short != 0;
        let ip = |req: &libc::ifreq| -> [u8; 4] {
            let sa = unsafe { req.ifr_ifru.ifru_addr };
            let sin: libc::sockaddr_in = unsafe { std::mem::transmute(sa) };
            sin.sin_addr.s_addr.to_ne_bytes()
        };
        check(
            unsafe { libc::ioctl(s.as_raw_fd(), libc::SIOCGIFADDR, &mut req) },
            "addr",
        )
        .unwrap();
        let addr = ip(&req);
        check(
            unsafe { libc::ioctl(s.as_raw_fd(), libc::SIOCGIFNETMASK, &mut req) },
            "mask",
        )
        .unwrap();
        (up, addr, ip(&req))
    }

    #[test]
    fn a_bridge_is_made_up_with_its_address_and_deleted() {
        if !root() {
            eprintln!("skipped: needs root (a network namespace of its own)");
            return;
        }
        // In a fresh network namespace of this thread's own: nothing on the host is touched.
        on_thread(|| {
            check(unsafe { libc::unshare(libc::CLONE_NEWNET) }, "unshare").unwrap();
            bridge_create("ktbr0", [10, 77, 0, 1], 16).unwrap();
            assert_eq!(state("ktbr0"), (true, [10, 77, 0, 1], [255, 255, 0, 0]));
            // a second one of the same name is refused, and the first stays as it was
            let again = bridge_create("ktbr0", [10, 78, 0, 1], 16).unwrap_err();
            assert_eq!(again.raw_os_error(), Some(libc::EEXIST));
            assert_eq!(state("ktbr0"), (true, [10, 77, 0, 1], [255, 255, 0, 0]));
            // a bad address leaves no bridge behind
            assert!(bridge_create("ktbr1", [10, 79, 0, 1], 33).is_err());
            assert!(index_of("ktbr1").is_err());
            link_delete("ktbr0").unwrap();
            assert!(index_of("ktbr0").is_err());
            link_delete("ktbr0").unwrap(); // missing is fine
            Ok(())
        })
        .unwrap();
    }
}
