//! The files the monitor writes for Python to read: the state file
//! (runtime/state.py: the process as it is now) and the exit file, each
//! rewritten atomically.

use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

use super::health;
use crate::error::{Context, Result};

pub(super) fn write_atomically(path: &Path, data: &str) -> Result<()> {
    let tmp = path.with_extension("tmp");
    let mut f = File::create(&tmp).ctx(|| format!("create {}", tmp.display()))?;
    f.write_all(data.as_bytes())
        .ctx(|| format!("write {}", tmp.display()))?;
    f.sync_all().ctx(|| format!("sync {}", tmp.display()))?;
    std::fs::rename(&tmp, path).ctx(|| format!("rename {}", tmp.display()))
}

pub(super) fn epoch(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64()
}

/// The state file (MonitorConfig.state_file), as runtime/state.py reads it.
#[derive(Serialize)]
pub(super) struct Status<'a> {
    pub(super) pid: i32,
    pub(super) started: f64,
    pub(super) restart_count: u32,
    /// Exited, waiting for its back-off delay before it is started again.
    pub(super) restarting: bool,
    pub(super) exit_code: Option<i32>,
    pub(super) finished: Option<f64>,
    pub(super) health: Option<&'a health::State>,
}

impl Status<'_> {
    pub(super) fn write(&self, path: &Path) {
        let text = serde_json::to_string(self).unwrap_or_default() + "\n";
        if let Err(e) = write_atomically(path, &text) {
            eprintln!("ketch-monitor: {e}");
        }
    }
}

/// The exit file (MonitorConfig.exit_file): the exit code and when it came.
pub(super) fn write_exit(path: &Path, code: i32, finished: f64) -> Result<()> {
    write_atomically(
        path,
        &format!("{{\"exit_code\": {code}, \"finished\": {finished}}}\n"),
    )
}
