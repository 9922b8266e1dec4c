//! `multipart:` bodies (`multipart/form-data`, RFC 7578): text fields (templates, rendered
//! per request) and files, read from disk when the scenario is loaded (the same limits as
//! `body_file`) or generated (`size: 64KiB` of the same deterministic bytes every time).
//! The body is built here, byte for byte, with a fixed boundary that no file may contain.

use bytes::Bytes;

use super::compile::Compiler;
use super::files::{MAX_BODY_FILE_BYTES, show_bytes};
use super::node::KeyPath;
use super::raw::{RawMultipart, RawMultipartFile, Text};
use super::template::Template;

/// The boundary between parts (checked against every file when the scenario is loaded,
/// and against every rendered field when a request is built).
pub const BOUNDARY: &str = "skein-form-boundary-9c1e4f27a8d3b6";

/// A multipart body: fields then files, in the order written.
#[derive(Debug, Clone, PartialEq)]
pub struct MultipartBody {
    pub fields: Vec<(String, Template)>,
    pub files: Vec<MultipartFile>,
}

/// One file part.
#[derive(Clone, PartialEq)]
pub struct MultipartFile {
    /// The form field's name.
    pub name: String,
    pub filename: String,
    pub content_type: String,
    /// The content, shared by every request.
    pub bytes: Bytes,
}

impl std::fmt::Debug for MultipartFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MultipartFile")
            .field("name", &self.name)
            .field("filename", &self.filename)
            .field("content_type", &self.content_type)
            .field("bytes", &self.bytes.len())
            .finish()
    }
}

impl MultipartBody {
    /// `multipart/form-data; boundary=...`.
    pub fn content_type() -> String {
        format!("multipart/form-data; boundary={BOUNDARY}")
    }

    /// The body, with the fields rendered as `values` (one per field, in order).
    pub fn encode(&self, values: &[String]) -> Result<Vec<u8>, String> {
        let size: usize = self
            .files
            .iter()
            .map(|f| f.bytes.len() + 200)
            .sum::<usize>()
            + values.iter().map(|v| v.len() + 100).sum::<usize>();
        let mut out = Vec::with_capacity(size + 64);
        for ((name, _), value) in self.fields.iter().zip(values) {
            if value.contains(BOUNDARY) {
                return Err(format!(
                    "multipart field {name}: its value holds the form's boundary"
                ));
            }
            out.extend_from_slice(format!("--{BOUNDARY}\r\n").as_bytes());
            out.extend_from_slice(
                format!(
                    "Content-Disposition: form-data; name=\"{}\"\r\n\r\n",
                    quote(name)
                )
                .as_bytes(),
            );
            out.extend_from_slice(value.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        for f in &self.files {
            out.extend_from_slice(format!("--{BOUNDARY}\r\n").as_bytes());
            out.extend_from_slice(
                format!(
                    "Content-Disposition: form-data; name=\"{}\"; filename=\"{}\"\r\nContent-Type: {}\r\n\r\n",
                    quote(&f.name),
                    quote(&f.filename),
                    f.content_type
                )
                .as_bytes(),
            );
            out.extend_from_slice(&f.bytes);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
        Ok(out)
    }
}

/// A name inside a quoted header parameter: `"` and line breaks escaped as browsers do.
fn quote(s: &str) -> String {
    s.replace('"', "%22")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// `n` deterministic bytes: the generated content of `size:`.
pub fn generated(n: usize) -> Vec<u8> {
    // A simple linear congruential sequence: not text, not compressible to nothing, the
    // same on every machine.
    let mut x: u32 = 0x2545_F491;
    (0..n)
        .map(|_| {
            x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (x >> 24) as u8
        })
        .collect()
}

/// A size such as `64KiB`, `1MB`, `1.5MiB`, `512` or `512B`, in bytes.
pub fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: f64 = num.parse().ok()?;
    let per = match unit.trim() {
        "" | "B" | "b" => 1.0,
        "KB" | "kB" | "kb" => 1e3,
        "KiB" | "K" | "k" => 1024.0,
        "MB" | "mb" => 1e6,
        "MiB" | "M" | "m" => 1024.0 * 1024.0,
        "GB" => 1e9,
        "GiB" => 1024.0 * 1024.0 * 1024.0,
        _ => return None,
    };
    let v = n * per;
    (v.is_finite() && v >= 0.0).then_some(v.round() as u64)
}

/// A content type from a file name's extension.
fn content_type_of(name: &str) -> &'static str {
    let ext = name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase());
    match ext.as_deref() {
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("gif") => "image/gif",
        Some("webp") => "image/webp",
        Some("svg") => "image/svg+xml",
        Some("pdf") => "application/pdf",
        Some("json") => "application/json",
        Some("txt") => "text/plain",
        Some("csv") => "text/csv",
        Some("html" | "htm") => "text/html",
        Some("xml") => "application/xml",
        Some("zip") => "application/zip",
        Some("gz") => "application/gzip",
        _ => "application/octet-stream",
    }
}

impl Compiler<'_> {
    /// A `multipart:` body: its fields compiled, its files read or generated.
    pub(super) fn multipart(&mut self, m: &RawMultipart, path: &KeyPath) -> Option<MultipartBody> {
        let fields = m
            .fields
            .as_ref()
            .map(|f| self.fields(f, &path.key("fields")))
            .unwrap_or_default();
        let mut files = Vec::new();
        let mut ok = true;
        for (name, f) in m.files.iter().flat_map(|f| &f.0) {
            match self.multipart_file(name, f, &path.key("files").key(name)) {
                Some(f) => files.push(f),
                None => ok = false,
            }
        }
        if fields.is_empty() && files.is_empty() && ok {
            self.bad(
                path,
                "`fields:` and/or `files:`, e.g. `{fields: {title: cat}, files: {photo: {file: cat.png}}}`",
                None,
            );
            return None;
        }
        ok.then_some(MultipartBody { fields, files })
    }

    fn multipart_file(
        &mut self,
        name: &str,
        f: &RawMultipartFile,
        path: &KeyPath,
    ) -> Option<MultipartFile> {
        const EXPECTED: &str = "exactly one of `file: PATH` or `size: 64KiB`";
        let (bytes, default_name) = match (&f.file, &f.size) {
            (Some(written), None) => {
                let (file, bytes) = self.read_named_file(
                    written,
                    &path.key("file"),
                    "a file to upload",
                    MAX_BODY_FILE_BYTES,
                )?;
                let base = file
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_else(|| format!("{name}.bin"));
                (bytes, base)
            }
            (None, Some(Text(size))) => match parse_size(size) {
                Some(n) if n <= MAX_BODY_FILE_BYTES => {
                    (generated(n as usize), format!("{name}.bin"))
                }
                Some(_) => {
                    self.bad(
                        &path.key("size"),
                        format!("a size of at most {}", show_bytes(MAX_BODY_FILE_BYTES)),
                        None,
                    );
                    return None;
                }
                None => {
                    self.bad(
                        &path.key("size"),
                        "a size such as 512, 64KiB, 1MB or 1.5MiB",
                        Some("units are B, KB, KiB, MB, MiB, GB, GiB".into()),
                    );
                    return None;
                }
            },
            (Some(_), Some(_)) => {
                self.err(&path.key("size"), "both `file` and `size`", EXPECTED, None);
                return None;
            }
            (None, None) => {
                self.err(
                    path,
                    "a file part without content",
                    EXPECTED,
                    Some("e.g. `{file: data/cat.png}` or `{size: 64KiB}`".into()),
                );
                return None;
            }
        };
        if bytes
            .windows(BOUNDARY.len())
            .any(|w| w == BOUNDARY.as_bytes())
        {
            self.bad(
                &path.key("file"),
                "a file that does not hold Skein's multipart boundary",
                None,
            );
            return None;
        }
        let filename = f.filename.clone().unwrap_or(default_name);
        let content_type = match &f.content_type {
            Some(ct) if ct.trim().is_empty() || ct.contains(['\r', '\n']) => {
                self.bad(
                    &path.key("content_type"),
                    "a content type such as image/png",
                    None,
                );
                return None;
            }
            Some(ct) => ct.trim().to_string(),
            None => content_type_of(&filename).to_string(),
        };
        Some(MultipartFile {
            name: name.to_string(),
            filename,
            content_type,
            bytes: bytes.into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_in_decimal_and_binary_units() {
        assert_eq!(parse_size("512"), Some(512));
        assert_eq!(parse_size("64KiB"), Some(65536));
        assert_eq!(parse_size("1MB"), Some(1_000_000));
        assert_eq!(parse_size("1.5MiB"), Some(1_572_864));
        assert_eq!(parse_size("1 KB"), Some(1000));
        assert_eq!(parse_size("lots"), None);
        assert_eq!(parse_size("5 parsecs"), None);
    }

    #[test]
    fn generated_bytes_are_the_same_every_time() {
        assert_eq!(generated(1000), generated(1000));
        assert_eq!(generated(10).len(), 10);
        assert_eq!(&generated(100)[..10], &generated(10)[..]);
    }

    #[test]
    fn the_body_has_each_part_then_the_closing_boundary() {
        let body = MultipartBody {
            fields: vec![("title".into(), Template::literal("x"))],
            files: vec![MultipartFile {
                name: "f".into(),
                filename: "a.txt".into(),
                content_type: "text/plain".into(),
                bytes: Bytes::from_static(b"hello"),
            }],
        };
        let out = String::from_utf8(body.encode(&["cat".into()]).unwrap()).unwrap();
        let b = BOUNDARY;
        assert_eq!(
            out,
            format!(
                "--{b}\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\ncat\r\n\
                 --{b}\r\nContent-Disposition: form-data; name=\"f\"; filename=\"a.txt\"\r\nContent-Type: text/plain\r\n\r\nhello\r\n\
                 --{b}--\r\n"
            )
        );
    }
}
