//! `ketch-monitor MONITOR.JSON READY_FD`: the monitor of one detached
//! container (monitor.rs) as a small program of its own, so that an idle
//! container costs a Rust process rather than a Python interpreter. The
//! JSON is what the Python side writes for it (containers.start_detached).
//! When the container has ended and there is Python work left (a bridge
//! network to release, --rm), it execs the interpreter named in the JSON to
//! do it: the interpreter is paid for only after the container.

use std::ffi::CString;
use std::path::PathBuf;

use ketch_native::monitor_config::{config_from_json, proxies_from_json};
use serde_json::Value;

fn fail(msg: &str) -> ! {
    eprintln!("ketch-monitor: {msg}");
    std::process::exit(2)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    // The same program, re-executed from a sealed memfd, is the process that
    // crosses into a container (reexec.rs).
    if args.first().map(String::as_str) == Some(ketch_native::reexec::HELPER_ARGV0) {
        ketch_native::reexec::helper_main(&args)
    }
    if args.len() != 3 {
        fail("usage: ketch-monitor MONITOR.JSON READY_FD");
    }
    let text =
        std::fs::read_to_string(&args[1]).unwrap_or_else(|e| fail(&format!("{}: {e}", args[1])));
    let v: Value =
        serde_json::from_str(&text).unwrap_or_else(|e| fail(&format!("{}: {e}", args[1])));
    let ready: i32 = args[2]
        .parse()
        .unwrap_or_else(|_| fail("READY_FD must be a number"));
    let config = config_from_json(&v["process"]).unwrap_or_else(|e| fail(&e));
    let s = |k: &str| {
        v[k].as_str()
            .map(PathBuf::from)
            .unwrap_or_else(|| fail(&format!("{k} missing")))
    };
    let cgroup_dirs: Vec<PathBuf> = v["cgroup_dirs"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(PathBuf::from))
                .collect()
        })
        .unwrap_or_default();
    let proxies = proxies_from_json(&v["proxies"]).unwrap_or_else(|e| fail(&e));
    let tty = v["tty"].as_bool().unwrap_or(false);
    if let Err(e) = ketch_native::monitor::run(
        config,
        &s("log"),
        &s("exit_file"),
        ready,
        &cgroup_dirs,
        tty,
        &proxies,
    ) {
        eprintln!("ketch-monitor: {e}");
    }
    // What is left is Python's: release a bridge network, remove for --rm.
    if v["network"].is_array() || v["autoremove"].is_array() {
        unsafe { libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32) };
        let (Some(python), Some(site)) = (v["python"].as_str(), v["site"].as_str()) else {
            return;
        };
        let argv: Vec<CString> = [python, "-S", "-E", "-c", CLEANUP, site, &args[1]]
            .iter()
            .map(|a| CString::new(*a).unwrap_or_default())
            .collect();
        let mut ptrs: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
        ptrs.push(std::ptr::null());
        unsafe { libc::execv(ptrs[0], ptrs.as_ptr()) };
        fail("cannot exec the interpreter for the clean-up");
    }
}

const CLEANUP: &str = concat!(
    "import json, sys\n",
    "sys.path.insert(0, sys.argv[1])\n",
    "args = json.load(open(sys.argv[2]))\n",
    "from ketch.runtime.containers import after_monitor\n",
    "after_monitor(args.get('network'), args.get('autoremove'))\n",
);
