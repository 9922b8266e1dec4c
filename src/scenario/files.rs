//! Reading the files a scenario names (the scenario itself, `body_file`, a feeder's `file`,
//! `ca_file`, a targets file) with a limit, and never anything but a regular file.
//!
//! `/dev/zero`, `/dev/urandom` or a FIFO named where a file is expected used to be read
//! until memory ran out, or to block forever (a FIFO with no writer). Each file is first
//! looked at (`metadata`, which follows symbolic links): anything that is not a regular file
//! is refused without being opened, and a regular file larger than its limit without being
//! read. The file is then opened non-blocking (so a FIFO swapped in between the look and the
//! open cannot block), checked again on the open handle, and read up to its limit plus one
//! byte, so a file that grows meanwhile is refused too.

use std::fmt;
use std::io::Read as _;
use std::path::Path;

/// The largest scenario (or targets) file read: 16 MiB.
pub const MAX_SCENARIO_BYTES: u64 = 16 * 1024 * 1024;
/// The largest `body_file`: 64 MiB.
pub const MAX_BODY_FILE_BYTES: u64 = 64 * 1024 * 1024;
/// The largest feeder file: 256 MiB.
pub const MAX_FEEDER_BYTES: u64 = 256 * 1024 * 1024;
/// The largest `ca_file`: 1 MiB (a bundle of every public root CA is about 250 KiB).
pub const MAX_CA_FILE_BYTES: u64 = 1024 * 1024;

/// Why a file could not be read.
#[derive(Debug)]
pub enum FileProblem {
    /// `metadata`, `open` or `read` failed (missing, no permission, ...).
    Io(std::io::Error),
    /// A folder where a file is expected.
    Folder,
    /// Not a regular file: "a FIFO", "a character device (such as /dev/zero)", ...
    Special(&'static str),
    /// Larger than the limit (`size` is `None` when the file grew while being read).
    TooBig { size: Option<u64>, limit: u64 },
}

impl fmt::Display for FileProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FileProblem::Io(e) if e.kind() == std::io::ErrorKind::NotFound => {
                f.write_str("no such file")
            }
            FileProblem::Io(e) => write!(f, "{e}"),
            FileProblem::Folder => f.write_str("a folder, not a file"),
            FileProblem::Special(what) => write!(f, "{what}, not a regular file"),
            FileProblem::TooBig {
                size: Some(size),
                limit,
            } => write!(f, "{size} bytes, over the limit of {}", show_bytes(*limit)),
            FileProblem::TooBig { size: None, limit } => {
                write!(f, "more than the limit of {}", show_bytes(*limit))
            }
        }
    }
}

impl FileProblem {
    /// The problem as an `io::Error` (for [`super::ScenarioError::Read`]).
    pub fn into_io(self) -> std::io::Error {
        match self {
            FileProblem::Io(e) => e,
            other => std::io::Error::new(std::io::ErrorKind::InvalidInput, other.to_string()),
        }
    }
}

/// `1 MiB`, `64 MiB`, `1.5 KiB`, `12 bytes`.
pub fn show_bytes(n: u64) -> String {
    const KIB: u64 = 1024;
    const MIB: u64 = 1024 * KIB;
    match n {
        n if n >= MIB && n % MIB == 0 => format!("{} MiB", n / MIB),
        n if n >= MIB => format!("{:.1} MiB", n as f64 / MIB as f64),
        n if n >= KIB && n % KIB == 0 => format!("{} KiB", n / KIB),
        n if n >= KIB => format!("{:.1} KiB", n as f64 / KIB as f64),
        n => format!("{n} bytes"),
    }
}

/// What kind of special file `t` is, in words.
fn special_kind(t: std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt as _;
        if t.is_fifo() {
            return "a FIFO (named pipe)";
        }
        if t.is_char_device() {
            return "a character device";
        }
        if t.is_block_device() {
            return "a block device";
        }
        if t.is_socket() {
            return "a socket";
        }
    }
    let _ = t;
    "a special file"
}

fn check_kind(m: &std::fs::Metadata, limit: u64) -> Result<(), FileProblem> {
    if m.is_dir() {
        return Err(FileProblem::Folder);
    }
    if !m.is_file() {
        return Err(FileProblem::Special(special_kind(m.file_type())));
    }
    if m.len() > limit {
        return Err(FileProblem::TooBig {
            size: Some(m.len()),
            limit,
        });
    }
    Ok(())
}

/// The bytes of the regular file at `path`, at most `limit` of them.
pub fn read_regular(path: &Path, limit: u64) -> Result<Vec<u8>, FileProblem> {
    // Look before opening: a FIFO is never opened, a device never read.
    let m = std::fs::metadata(path).map_err(FileProblem::Io)?;
    check_kind(&m, limit)?;
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        // Should the file have become a FIFO since the look, opening it does not block.
        options.custom_flags(libc::O_NONBLOCK);
    }
    let file = options.open(path).map_err(FileProblem::Io)?;
    check_kind(&file.metadata().map_err(FileProblem::Io)?, limit)?;
    let mut bytes = Vec::with_capacity(usize::try_from(m.len()).unwrap_or(0));
    file.take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(FileProblem::Io)?;
    if bytes.len() as u64 > limit {
        return Err(FileProblem::TooBig { size: None, limit });
    }
    Ok(bytes)
}

/// The text of the regular file at `path` (at most `limit` bytes), which must be UTF-8;
/// otherwise an error that says where the first byte that is not UTF-8 is.
pub fn read_text(path: &Path, limit: u64) -> Result<String, std::io::Error> {
    let bytes = read_regular(path, limit).map_err(FileProblem::into_io)?;
    String::from_utf8(bytes).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        let bytes = e.as_bytes();
        let before = &bytes[..at];
        let line = before.iter().filter(|b| **b == b'\n').count() + 1;
        let line_start = before
            .iter()
            .rposition(|b| *b == b'\n')
            .map_or(0, |i| i + 1);
        let column = String::from_utf8_lossy(&before[line_start..]).chars().count() + 1;
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!(
                "not UTF-8 text: byte 0x{:02x} at line {line}, column {column}; save the file as UTF-8",
                bytes[at]
            ),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regular_files_are_read_up_to_their_limit() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f.txt");
        std::fs::write(&p, b"hello").unwrap();
        assert_eq!(read_regular(&p, 5).unwrap(), b"hello");
        let e = read_regular(&p, 4).unwrap_err();
        assert_eq!(e.to_string(), "5 bytes, over the limit of 4 bytes");
        assert!(matches!(
            read_regular(dir.path(), 10),
            Err(FileProblem::Folder)
        ));
        let missing = read_regular(&dir.path().join("nope"), 10).unwrap_err();
        assert_eq!(missing.to_string(), "no such file");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn issue13_devices_are_refused_without_reading() {
        for dev in ["/dev/zero", "/dev/urandom", "/dev/null"] {
            let e = read_regular(Path::new(dev), 1024).unwrap_err();
            assert!(e.to_string().contains("a character device"), "{dev}: {e}");
        }
    }

    #[cfg(unix)]
    #[test]
    fn issue13_a_fifo_is_refused_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("fifo");
        let c = std::ffi::CString::new(p.to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let e = read_regular(&p, 1024).unwrap_err();
        assert!(e.to_string().contains("FIFO"), "{e}");
    }

    #[test]
    fn issue13_text_that_is_not_utf8_says_where() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f.yaml");
        std::fs::write(&p, b"a: 1\nb: \xe4x\n").unwrap();
        let e = read_text(&p, 100).unwrap_err();
        assert_eq!(
            e.to_string(),
            "not UTF-8 text: byte 0xe4 at line 2, column 4; save the file as UTF-8"
        );
        assert_eq!(show_bytes(MAX_BODY_FILE_BYTES), "64 MiB");
        assert_eq!(show_bytes(1536), "1.5 KiB");
    }
}
