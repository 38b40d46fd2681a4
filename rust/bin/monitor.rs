//! `ketch-monitor MONITOR.JSON READY_FD`: the monitor of one detached
//! container (monitor.rs) as a small program of its own, so that an idle
//! container costs a Rust process rather than a Python interpreter. The
//! JSON is Python's `MonitorConfig` (runtime/process.py start_detached writes it).
//! When the container has ended and there is Python work left (a bridge
//! network to release, --rm), it execs the program the JSON names for it
//! (the interpreter running ketch/runtime/after_monitor.py): the
//! interpreter is paid for only after the container.
//!
//! Started as `docker-init`, it is the container's `--init` instead (init.rs).

use ketch_native::monitor::MonitorConfig;
use ketch_native::sys::CArgv;

fn fail(msg: &str) -> ! {
    eprintln!("ketch-monitor: {msg}");
    std::process::exit(2)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    // The same program, re-executed from a sealed memfd, is the process that
    // crosses into a container (reexec.rs).
    if args.first().map(String::as_str) == Some(ketch_native::process::reexec::HELPER_ARGV0) {
        ketch_native::process::reexec::helper_main(&args)
    }
    // And, bind-mounted read-only at /sbin/docker-init, the init of `--init`
    // (init.rs): docker's tini, without the host having to install one.
    if args.first().is_some_and(|a| ketch_native::init::is_init(a)) {
        ketch_native::init::main(&args)
    }
    if args.len() != 3 {
        fail("usage: ketch-monitor MONITOR.JSON READY_FD");
    }
    let text =
        std::fs::read_to_string(&args[1]).unwrap_or_else(|e| fail(&format!("{}: {e}", args[1])));
    let ready: i32 = args[2]
        .parse()
        .unwrap_or_else(|_| fail("READY_FD must be a number"));
    let config =
        MonitorConfig::from_json(&text).unwrap_or_else(|e| fail(&format!("{}: {e}", args[1])));
    if let Err(e) = ketch_native::monitor::run(&config, ready) {
        eprintln!("ketch-monitor: {e}");
    }
    let Some(after) = config.after.filter(|a| !a.is_empty()) else {
        return;
    };
    // The published ports it held: free as soon as the container is gone.
    unsafe { libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32) };
    let argv = CArgv::new(&after).unwrap_or_else(|_| fail("a NUL in the clean-up's argv"));
    unsafe { libc::execv(argv.program(), argv.as_ptr()) };
    fail("cannot exec the interpreter for the clean-up");
}
