//! docker's json-file log with its rotation (--log-opt max-size, max-file):
//! `<id>-json.log` is written; once it holds `max_size` bytes it becomes
//! `.1` (the older ones move up to `.2` ... `.max_files-1`, the oldest
//! dropped) and a new one is started. With one file only, it is cut back to
//! empty. Every step is a rename: a reader never sees half a file.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::error::{Context, Result};

/// docker's json-file splits lines longer than this into partial entries.
pub(super) const MAX_LINE: usize = 16 * 1024;

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

pub struct Log {
    path: PathBuf,
    file: File,
    size: u64,
    /// 0: never rotated.
    max_size: u64,
    max_files: u32,
    buf: Vec<u8>,
}

fn numbered(path: &Path, n: u32) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(format!(".{n}"));
    PathBuf::from(s)
}

fn open(path: &Path) -> Result<File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .ctx(|| format!("open {}", path.display()))
}

impl Log {
    pub fn open(path: &Path, max_size: u64, max_files: u32) -> Result<Log> {
        let file = open(path)?;
        let size = file.metadata().map(|m| m.len()).unwrap_or(0);
        Ok(Log {
            path: path.to_owned(),
            file,
            size,
            max_size,
            max_files: max_files.max(1),
            buf: Vec::new(),
        })
    }

    /// One entry, kept until `flush` (docker's rule: the file is rotated
    /// before an entry once it has reached max-size, so a file exceeds it by
    /// one entry at most).
    pub fn push(&mut self, entry: &[u8]) {
        if self.max_size > 0 && self.size + self.buf.len() as u64 >= self.max_size {
            self.flush();
            if let Err(e) = self.rotate() {
                eprintln!("ketch-monitor: rotate {}: {e}", self.path.display());
            }
        }
        self.buf.extend_from_slice(entry);
    }

    /// Writes the entries pushed (one write for all that one read brought).
    pub fn flush(&mut self) {
        if !self.buf.is_empty() && self.file.write_all(&self.buf).is_ok() {
            self.size += self.buf.len() as u64;
        }
        self.buf.clear();
    }

    #[cfg(test)]
    fn write(&mut self, entry: &[u8]) {
        self.push(entry);
        self.flush();
    }

    fn rotate(&mut self) -> Result<()> {
        if self.max_files <= 1 {
            self.file
                .set_len(0)
                .ctx(|| "truncate the log".to_string())?;
            self.size = 0;
            return Ok(());
        }
        for n in (1..self.max_files - 1).rev() {
            let from = numbered(&self.path, n);
            if from.exists() {
                std::fs::rename(&from, numbered(&self.path, n + 1))
                    .ctx(|| format!("rename {}", from.display()))?;
            }
        }
        std::fs::rename(&self.path, numbered(&self.path, 1))
            .ctx(|| format!("rename {}", self.path.display()))?;
        self.file = open(&self.path)?;
        self.size = 0;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// `entries` written to a log `name`-json.log in a directory of its own
    /// that rotates at `max_size` bytes keeping `max_files`: the directory
    /// and the names of the files in it, sorted.
    fn written(
        name: &str,
        max_size: u64,
        max_files: u32,
        entries: &[Vec<u8>],
    ) -> (PathBuf, Vec<String>) {
        let d = std::env::temp_dir().join(format!("ketch-log-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        let mut log = Log::open(&d.join(format!("{name}-json.log")), max_size, max_files).unwrap();
        for e in entries {
            log.write(e);
        }
        let mut names: Vec<String> = std::fs::read_dir(&d)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        (d, names)
    }

    #[test]
    fn rotation_keeps_max_files_and_the_newest_entries() {
        let entries: Vec<Vec<u8>> = (0..10)
            .map(|i| format!("entry {i:02}\n").into_bytes())
            .collect(); // 9 bytes each
        let (d, names) = written("x", 10, 3, &entries);
        assert_eq!(names, ["x-json.log", "x-json.log.1", "x-json.log.2"]);
        let read = |n: &str| std::fs::read_to_string(d.join(n)).unwrap();
        assert_eq!(read("x-json.log"), "entry 08\nentry 09\n");
        assert_eq!(read("x-json.log.1"), "entry 06\nentry 07\n");
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn one_file_is_cut_back() {
        let (d, names) = written("y", 5, 1, &[b"123456\n".to_vec(), b"abc\n".to_vec()]);
        assert_eq!(names, ["y-json.log"]);
        assert_eq!(
            std::fs::read_to_string(d.join("y-json.log")).unwrap(),
            "abc\n"
        );
        std::fs::remove_dir_all(&d).unwrap();
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
