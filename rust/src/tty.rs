//! A container's pty (-t): opened by the container process from its own
//! devpts, whose master side travels to ketch over a unix socket
//! (SCM_RIGHTS) while the slave becomes the process's stdio and terminal.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use crate::error::{Error, Result};
use crate::process::prepare::Prepared;
use crate::process::report::{fail, ok, Stage};
use crate::sys::errno;

/// The socket pair the master side travels over: (ours, the child's).
pub fn seqpacket_pair() -> Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as RawFd; 2];
    let r = unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC,
            0,
            fds.as_mut_ptr(),
        )
    };
    if r < 0 {
        return Err(Error::io("socketpair", io::Error::last_os_error()));
    }
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// One descriptor received in an SCM_RIGHTS message (the pty's master side).
pub fn recv_fd(sock: &OwnedFd) -> Result<OwnedFd> {
    let mut cbuf = [0u64; 4];
    let mut byte = [0u8; 1];
    let mut iov = libc::iovec {
        iov_base: byte.as_mut_ptr().cast(),
        iov_len: 1,
    };
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&cbuf);
    let n = unsafe { libc::recvmsg(sock.as_raw_fd(), &mut msg, libc::MSG_CMSG_CLOEXEC) };
    if n < 0 {
        return Err(Error::io("receive the pty", io::Error::last_os_error()));
    }
    let cmsg = unsafe { libc::CMSG_FIRSTHDR(&msg) };
    if cmsg.is_null() || unsafe { (*cmsg).cmsg_type } != libc::SCM_RIGHTS {
        return Err(Error::io(
            "receive the pty",
            io::Error::from_raw_os_error(libc::EPROTO),
        ));
    }
    let fd = unsafe { std::ptr::read_unaligned(libc::CMSG_DATA(cmsg) as *const libc::c_int) };
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

// ---- in the container process: async-signal-safe ------------------------

/// A pty from the container's devpts (mounted at /dev/pts): its master side
/// goes to the parent over `tty_socket`; returns the slave side.
pub(crate) unsafe fn open_container_pty(p: &Prepared) -> RawFd {
    let master = libc::open(
        c"/dev/ptmx".as_ptr(),
        libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
    );
    ok(p, Stage::MountDev, master);
    let unlock: libc::c_int = 0;
    ok(
        p,
        Stage::MountDev,
        libc::ioctl(master, libc::TIOCSPTLCK, &unlock),
    );
    let slave = libc::ioctl(master, libc::TIOCGPTPEER, libc::O_RDWR | libc::O_NOCTTY);
    ok(p, Stage::MountDev, slave);
    // One descriptor in an SCM_RIGHTS message, built on the stack.
    let mut cbuf = [0u64; 4]; // CMSG_SPACE(sizeof(int)) is 24 bytes here; aligned
    let mut byte = [0u8; 1];
    let mut iov = libc::iovec {
        iov_base: byte.as_mut_ptr().cast(),
        iov_len: 1,
    };
    let mut msg: libc::msghdr = std::mem::zeroed();
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf.as_mut_ptr().cast();
    msg.msg_controllen = libc::CMSG_SPACE(std::mem::size_of::<libc::c_int>() as u32) as usize;
    let cmsg = libc::CMSG_FIRSTHDR(&msg);
    (*cmsg).cmsg_level = libc::SOL_SOCKET;
    (*cmsg).cmsg_type = libc::SCM_RIGHTS;
    (*cmsg).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<libc::c_int>() as u32) as usize;
    std::ptr::write_unaligned(libc::CMSG_DATA(cmsg) as *mut libc::c_int, master);
    if libc::sendmsg(p.tty_socket, &msg, 0) < 0 {
        fail(p, Stage::MountDev, errno());
    }
    libc::close(master);
    slave
}
