//! Capabilities: docker's default set, the bounding set dropped and the
//! process's own set, in the container process before its exec (no
//! allocation: this runs on the way to the exec).

use crate::process::prepare::Prepared;
use crate::process::report::{fail, ok, Stage};
use crate::sys::errno;

/// Docker's default capabilities: CHOWN, DAC_OVERRIDE, FOWNER, FSETID, KILL,
/// SETGID, SETUID, SETPCAP, NET_BIND_SERVICE, NET_RAW, SYS_CHROOT, MKNOD,
/// AUDIT_WRITE, SETFCAP.
pub const DOCKER_CAPS: u64 = (1 << 0)
    | (1 << 1)
    | (1 << 3)
    | (1 << 4)
    | (1 << 5)
    | (1 << 6)
    | (1 << 7)
    | (1 << 8)
    | (1 << 10)
    | (1 << 13)
    | (1 << 18)
    | (1 << 27)
    | (1 << 29)
    | (1 << 31);

pub(crate) fn last_cap() -> u32 {
    std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(40)
}

/// Drops from the bounding set every capability the process is not to keep.
pub(crate) unsafe fn drop_bounding(p: &Prepared) {
    for cap in 0..=p.last_cap {
        if p.caps & (1u64 << cap) == 0
            && libc::prctl(libc::PR_CAPBSET_DROP, cap as libc::c_ulong, 0, 0, 0) < 0
        {
            let e = errno();
            if e != libc::EINVAL {
                fail(p, Stage::Capabilities, e);
            }
        }
    }
}

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: libc::c_int,
}

#[repr(C)]
#[derive(Clone, Copy)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

pub(crate) unsafe fn set_caps(p: &Prepared) {
    // A non-root user keeps none (setuid cleared them); root keeps the set asked for.
    let mask = if p.uid == 0 { p.caps } else { 0 };
    let hdr = CapHeader {
        version: 0x2008_0522, // _LINUX_CAPABILITY_VERSION_3
        pid: 0,
    };
    let lo = mask as u32;
    let hi = (mask >> 32) as u32;
    let data = [
        CapData {
            effective: lo,
            permitted: lo,
            inheritable: 0,
        },
        CapData {
            effective: hi,
            permitted: hi,
            inheritable: 0,
        },
    ];
    ok(
        p,
        Stage::Capabilities,
        libc::syscall(libc::SYS_capset, &hdr as *const CapHeader, data.as_ptr()) as libc::c_int,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_caps_are_fourteen() {
        assert_eq!(DOCKER_CAPS.count_ones(), 14);
    }
}
