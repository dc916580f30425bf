//! Safe, in-memory reading of `.tar.gz` archives and of directories into a sorted list of files.
//!
//! Both IRs and charts arrive as a directory or as a `.tar.gz`. Nothing is ever unpacked to disk:
//! every file is read into memory, which removes the whole class of "write outside the target
//! directory" attacks, and [`Limits`] bound how much memory an input may claim.
//!
//! Archive rules (anything else is an error that names the archive and the entry):
//! - entry paths must be relative, UTF-8, without `..`, without a Windows drive prefix
//!   (`C:`) and without backslashes; `./` prefixes, `.` components and repeated `/` are normalised
//!   away;
//! - regular files are kept; directories are skipped (a directory exists only through the files
//!   in it); pax global headers (written by `git archive`) are skipped;
//! - **every** link (symbolic or hard) is rejected, wherever it points: the files are loaded into
//!   memory, so a link could only alias another entry or escape the archive, and neither is
//!   something an IR or a chart needs;
//! - device files, fifos and sparse or unknown entry types are rejected;
//! - a path may appear only once, and no file may sit "inside" another file (`a` and `a/b`);
//! - [`Limits::max_total_bytes`] caps the *decompressed* tar stream (headers included), counted
//!   while inflating, so a gzip bomb stops at the limit instead of after inflating everything;
//!   [`Limits::max_file_bytes`] is checked against each header's size before reading and the read
//!   itself is capped; [`Limits::max_entries`] counts every entry, directories included.
//!
//! Directory rules: see [`read_dir`].

use std::cell::Cell;
use std::collections::BTreeMap;
use std::fmt;
use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use flate2::read::MultiGzDecoder;
use tar::EntryType;

/// Bounds on what one archive or directory may hold; exceeding any of them is an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Total uncompressed bytes: the decompressed tar stream for an archive, the sum of file sizes
    /// for a directory. Also used by `ir::fetch` as the cap on a compressed download.
    pub max_total_bytes: u64,
    /// Number of entries, directories included.
    pub max_entries: usize,
    /// Size of any single file.
    pub max_file_bytes: u64,
}

impl Default for Limits {
    /// 64 MiB in total, 10 000 entries, 16 MiB per file: generous for YAML and charts, small
    /// enough that a hostile input cannot exhaust a task pod's memory.
    fn default() -> Self {
        Limits {
            max_total_bytes: 64 * 1024 * 1024,
            max_entries: 10_000,
            max_file_bytes: 16 * 1024 * 1024,
        }
    }
}

/// Reads one input file given on the command line (globals, values, a channel registry, a
/// packaged chart) of at most `max_bytes`. Anything but a regular file (a FIFO would block
/// forever, a device never end) is refused before it is opened.
pub fn read_regular_file(path: &Path, max_bytes: u64) -> Result<Vec<u8>, ArchiveError> {
    let origin = path.display().to_string();
    let io = |source| ArchiveError::Io {
        origin: origin.clone(),
        path: ".".to_owned(),
        source,
    };
    let meta = fs::metadata(path).map_err(io)?;
    if !meta.is_file() {
        return Err(ArchiveError::SpecialFile {
            origin: origin.clone(),
            path: ".".to_owned(),
            kind: if meta.is_dir() {
                "directory where a file is expected".to_owned()
            } else {
                "special file (fifo, socket or device)".to_owned()
            },
        });
    }
    let too_large = |size| ArchiveError::FileTooLarge {
        origin: origin.clone(),
        path: ".".to_owned(),
        size,
        limit: max_bytes,
    };
    if meta.len() > max_bytes {
        return Err(too_large(meta.len()));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    fs::File::open(path)
        .and_then(|file| file.take(max_bytes + 1).read_to_end(&mut bytes))
        .map_err(io)?;
    if bytes.len() as u64 > max_bytes {
        return Err(too_large(bytes.len() as u64));
    }
    Ok(bytes)
}

/// One regular file read from an archive or a directory.
#[derive(Clone, PartialEq, Eq)]
pub struct File {
    /// Relative, `/`-separated, normalised (no leading `./`, no `.` or empty components).
    pub path: String,
    pub bytes: Vec<u8>,
}

impl fmt::Debug for File {
    // The contents can be megabytes; tests and logs only need to know which file and how big.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("File")
            .field("path", &self.path)
            .field("len", &self.bytes.len())
            .finish()
    }
}

/// The files of one archive or directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Files {
    /// What to show users: the directory path, the archive path or the (redacted) URL.
    pub origin: String,
    /// Sorted by `path`, paths unique.
    pub files: Vec<File>,
}

impl Files {
    /// Files from `(path, text)` pairs, in the order given: how tests and built-in inputs
    /// describe a small tree.
    pub fn from_texts(origin: &str, entries: &[(&str, &str)]) -> Files {
        Files {
            origin: origin.to_string(),
            files: entries
                .iter()
                .map(|(path, text)| File {
                    path: path.to_string(),
                    bytes: text.as_bytes().to_vec(),
                })
                .collect(),
        }
    }

    /// If every file lives under one top-level directory, drop that directory from every path.
    ///
    /// `tar czf ir.tgz ir/` and `helm package` both wrap the content in one directory; after this
    /// call such an archive looks like the directory it was made from. Only one level is removed,
    /// and nothing changes when a file sits at the top level or the files span several top-level
    /// directories.
    pub fn strip_single_top_dir(mut self) -> Self {
        let Some(top) = self.single_top_dir() else {
            return self;
        };
        let cut = top.len() + 1;
        for file in &mut self.files {
            file.path.drain(..cut);
        }
        // Removing a common prefix keeps the order and the uniqueness of the paths.
        self
    }

    fn single_top_dir(&self) -> Option<String> {
        let mut top: Option<&str> = None;
        for file in &self.files {
            let (first, _) = file.path.split_once('/')?;
            match top {
                None => top = Some(first),
                Some(t) if t == first => {}
                Some(_) => return None,
            }
        }
        top.map(str::to_owned)
    }

    /// The file at `path` (normalised form, as in [`File::path`]).
    pub fn get(&self, path: &str) -> Option<&File> {
        // A linear scan, not a binary search: `Files` is also built by hand (tests, sub-charts),
        // where nothing enforces the order, and lookups are rare.
        self.files.iter().find(|f| f.path == path)
    }
}

/// Why an archive or a directory could not be read. Every message starts with the origin.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("{origin}: not a valid .tar.gz archive")]
    Corrupt {
        origin: String,
        #[source]
        source: io::Error,
    },
    #[error(
        "{origin}: entry '{path}' is truncated: the header says {expected} bytes, only {actual} could be read"
    )]
    Truncated {
        origin: String,
        path: String,
        expected: u64,
        actual: u64,
    },
    #[error("{origin}: entry '{path}' has an unsafe or invalid path: {reason}")]
    UnsafePath {
        origin: String,
        /// Shown lossily when it is not UTF-8.
        path: String,
        reason: &'static str,
    },
    #[error("{origin}: links are not allowed in an IR/chart archive: {path} -> {target}")]
    Link {
        origin: String,
        path: String,
        target: String,
    },
    #[error("{origin}: entry '{path}' is a {kind}; only regular files and directories are allowed")]
    SpecialFile {
        origin: String,
        path: String,
        kind: String,
    },
    #[error(
        "{origin}: entry '{path}' is {size} bytes, over the per-file limit of {limit} bytes (--max-file-bytes)"
    )]
    FileTooLarge {
        origin: String,
        path: String,
        size: u64,
        limit: u64,
    },
    #[error(
        "{origin}: more than {limit} entries, over the entry limit (--max-input-files; at entry '{path}')"
    )]
    TooManyEntries {
        origin: String,
        limit: usize,
        path: String,
    },
    #[error("{origin}: uncompressed content is over the total limit of {limit} bytes (--max-input-bytes){}", at_entry(.entry))]
    TotalTooLarge {
        origin: String,
        limit: u64,
        /// The entry being read when the limit was hit, when known.
        entry: Option<String>,
    },
    #[error("{origin}: duplicate entry '{path}'")]
    Duplicate { origin: String, path: String },
    #[error("{origin}: entry '{path}' would be inside '{file}', which is a file")]
    FileAsDirectory {
        origin: String,
        path: String,
        file: String,
    },
    #[error("{origin}: symbolic link '{path}' points outside the directory (to {target})")]
    SymlinkEscape {
        origin: String,
        path: String,
        target: String,
    },
    #[error("{origin}: symbolic link '{path}' points back to one of its parent directories")]
    SymlinkLoop { origin: String, path: String },
    #[error("{origin}: cannot write '{path}' while unpacking")]
    Write {
        origin: String,
        path: String,
        #[source]
        source: io::Error,
    },
    #[error("{origin}: cannot read '{path}'")]
    Io {
        origin: String,
        path: String,
        #[source]
        source: io::Error,
    },
}

fn at_entry(entry: &Option<String>) -> String {
    entry
        .as_ref()
        .map(|e| format!(" (at entry '{e}')"))
        .unwrap_or_default()
}

/// Read a `.tar.gz` held in memory. `origin` is only used in error messages and [`Files::origin`].
///
/// Concatenated gzip members (as written by `pigz` and friends) are accepted. The gzip stream is
/// read to its end, so a bad CRC or truncated trailer is reported even though tar stops reading at
/// its end-of-archive marker.
pub fn read_tar_gz(origin: &str, bytes: &[u8], limits: &Limits) -> Result<Files, ArchiveError> {
    read_tar_gz_into(origin, bytes, limits, Collector::new(origin))?.finish()
}

/// Unpack a `.tar.gz` read from `source` into the existing, empty directory `dest`, streaming
/// each file to disk: the same rules and [`Limits`] as [`read_tar_gz`] (one place, [`TarReader`]),
/// but memory stays flat in the archive's size. Used for model archives, which are too large to
/// hold in memory. Files are created new (never overwritten, never through a link: the rules admit
/// no links, so `dest` holds only what this call created). Returns the number of files and bytes.
pub fn unpack_tar_gz(
    origin: &str,
    source: impl Read,
    dest: &Path,
    limits: &Limits,
) -> Result<(usize, u64), ArchiveError> {
    let writer = read_tar_gz_into(origin, source, limits, DiskWriter::new(origin, dest))?;
    writer.finish()
}

/// The one tar.gz reading loop behind [`read_tar_gz`] and [`unpack_tar_gz`]: it applies every
/// rule to every entry and hands each accepted regular file to `sink`.
fn read_tar_gz_into<S: FileSink>(
    origin: &str,
    source: impl Read,
    limits: &Limits,
    sink: S,
) -> Result<S, ArchiveError> {
    let counter = CappedReader::new(MultiGzDecoder::new(source), limits.max_total_bytes);
    let state = counter.state.clone();
    let mut archive = tar::Archive::new(counter);
    let mut reader = TarReader {
        origin,
        limits,
        state: &state,
        files: sink,
        entries: 0,
        current: None,
    };
    let result = reader.read_entries(&mut archive);
    let current = reader.current.take();
    let files = reader.files;
    let drained = result.and_then(|()| {
        // Reads the zero padding after the end-of-archive marker and the gzip trailer (CRC,
        // length); still bounded by the limit.
        io::copy(&mut archive.into_inner(), &mut io::sink())
            .map(drop)
            .map_err(|e| corrupt(origin, e))
    });
    match drained {
        Ok(()) => Ok(files),
        // Whatever error surfaced, if the cap was hit that is the real cause: the tar crate wraps
        // the reader's error in its own messages.
        Err(_) if state.exceeded.get() => Err(ArchiveError::TotalTooLarge {
            origin: origin.to_owned(),
            limit: limits.max_total_bytes,
            entry: current,
        }),
        Err(e) => Err(e),
    }
}

struct TarReader<'a, S> {
    origin: &'a str,
    limits: &'a Limits,
    state: &'a CapState,
    files: S,
    entries: usize,
    /// The last entry seen, to name it when the stream cap is hit while the tar crate reads.
    current: Option<String>,
}

impl<S: FileSink> TarReader<'_, S> {
    fn read_entries<R: Read>(&mut self, archive: &mut tar::Archive<R>) -> Result<(), ArchiveError> {
        let entries = archive.entries().map_err(|e| corrupt(self.origin, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| corrupt(self.origin, e))?;
            self.read_entry(entry)?;
        }
        Ok(())
    }

    fn read_entry<R: Read>(&mut self, mut entry: tar::Entry<'_, R>) -> Result<(), ArchiveError> {
        let raw_path = entry.path_bytes().into_owned();
        let shown = String::from_utf8_lossy(&raw_path).into_owned();
        self.current = Some(shown.clone());
        self.entries += 1;
        if self.entries > self.limits.max_entries {
            return Err(ArchiveError::TooManyEntries {
                origin: self.origin.to_owned(),
                limit: self.limits.max_entries,
                path: shown,
            });
        }
        let kind = entry.header().entry_type();
        if kind == EntryType::XGlobalHeader {
            return Ok(());
        }
        // Validate every path, even of entries we skip: an archive that contains `../x` was built
        // to attack someone and should not be used at all.
        let path = normalise(&raw_path).map_err(|reason| ArchiveError::UnsafePath {
            origin: self.origin.to_owned(),
            path: shown.clone(),
            reason,
        })?;
        match kind {
            EntryType::Regular | EntryType::Continuous => {}
            EntryType::Directory => return Ok(()),
            EntryType::Symlink | EntryType::Link => {
                let target = entry
                    .link_name_bytes()
                    .map(|t| String::from_utf8_lossy(&t).into_owned())
                    .unwrap_or_default();
                return Err(ArchiveError::Link {
                    origin: self.origin.to_owned(),
                    path: shown,
                    target,
                });
            }
            other => {
                return Err(ArchiveError::SpecialFile {
                    origin: self.origin.to_owned(),
                    path: shown,
                    kind: entry_type_name(other),
                });
            }
        }
        let Some(path) = path else {
            return Err(ArchiveError::UnsafePath {
                origin: self.origin.to_owned(),
                path: shown,
                reason: "a file needs a name",
            });
        };

        let size = entry.size();
        // The stream position is the start of this entry's data.
        let inflated = self.state.count.get();
        store_file(
            &mut self.files,
            self.origin,
            self.limits,
            inflated,
            path,
            size,
            &mut entry,
        )
        .map(drop)
    }
}

/// The rules every regular file of an archive passes, tar or zip, and its bytes into `sink`:
/// its declared `size` within the per-file limit and, with the `inflated` bytes so far, within the
/// total (checked before inflating anything); then at most that many bytes read, and exactly
/// `size` of them. Returns the bytes stored.
fn store_file<S: FileSink>(
    sink: &mut S,
    origin: &str,
    limits: &Limits,
    inflated: u64,
    path: String,
    size: u64,
    data: &mut impl Read,
) -> Result<u64, ArchiveError> {
    if size > limits.max_file_bytes {
        return Err(ArchiveError::FileTooLarge {
            origin: origin.to_owned(),
            path,
            size,
            limit: limits.max_file_bytes,
        });
    }
    if inflated.saturating_add(size) > limits.max_total_bytes {
        return Err(ArchiveError::TotalTooLarge {
            origin: origin.to_owned(),
            limit: limits.max_total_bytes,
            entry: Some(path),
        });
    }
    sink.accept(origin, &path, size)?;
    // usize::try_from cannot fail on 64-bit targets; on 32-bit ones the size is bounded by
    // the limit checks above anyway, so a failure only means "no pre-allocation".
    let mut out = sink.open(&path, usize::try_from(size).unwrap_or(0))?;
    // The declared size already bounds the entry's reader in both formats; the extra cap keeps
    // the per-file limit true even if that ever changes.
    let mut data = data.take(limits.max_file_bytes.saturating_add(1));
    let mut buffer = [0u8; 16 * 1024];
    let mut actual = 0u64;
    loop {
        // A read error is the archive's, a write error the destination's.
        let n = match data.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(corrupt(origin, e)),
        };
        io::Write::write_all(&mut out, &buffer[..n]).map_err(|source| ArchiveError::Write {
            origin: origin.to_owned(),
            path: path.clone(),
            source,
        })?;
        actual += n as u64;
    }
    if actual > limits.max_file_bytes {
        return Err(ArchiveError::FileTooLarge {
            origin: origin.to_owned(),
            path,
            size: actual,
            limit: limits.max_file_bytes,
        });
    }
    if actual != size {
        // The tar crate returns a short read, not an error, when the stream ends early.
        return Err(ArchiveError::Truncated {
            origin: origin.to_owned(),
            path,
            expected: size,
            actual,
        });
    }
    sink.close(path, out)?;
    Ok(actual)
}

/// Unpack the `.zip` file `file` into the existing, empty directory `dest` with the rules and
/// [`Limits`] of [`unpack_tar_gz`] (every path checked, no links, no special files, no duplicates,
/// sizes capped before and while inflating, entry CRCs verified), streaming each entry to disk.
/// Encrypted entries are refused. Returns the number of files and bytes.
pub fn unpack_zip(
    origin: &str,
    file: fs::File,
    dest: &Path,
    limits: &Limits,
) -> Result<(usize, u64), ArchiveError> {
    let zip_error = |e: zip::result::ZipError| corrupt(origin, io::Error::other(e));
    let mut archive =
        zip::ZipArchive::new(io::BufReader::with_capacity(256 * 1024, file)).map_err(zip_error)?;
    let mut sink = DiskWriter::new(origin, dest);
    let mut inflated = 0u64;
    for index in 0..archive.len() {
        let mut entry = archive.by_index(index).map_err(zip_error)?;
        let shown = String::from_utf8_lossy(entry.name_raw()).into_owned();
        if index >= limits.max_entries {
            return Err(ArchiveError::TooManyEntries {
                origin: origin.to_owned(),
                limit: limits.max_entries,
                path: shown,
            });
        }
        let unsafe_path = |reason| ArchiveError::UnsafePath {
            origin: origin.to_owned(),
            path: shown.clone(),
            reason,
        };
        let path = normalise(entry.name_raw()).map_err(unsafe_path)?;
        if entry.is_symlink() {
            return Err(ArchiveError::Link {
                origin: origin.to_owned(),
                path: shown,
                target: "(a zip symbolic link)".into(),
            });
        }
        if entry.is_dir() {
            continue;
        }
        // Unix modes travel in the external attributes: anything but a regular file is refused.
        const FILE_TYPE: u32 = 0o170_000;
        if let Some(mode) = entry.unix_mode()
            && !matches!(mode & FILE_TYPE, 0 | 0o100_000)
        {
            return Err(ArchiveError::SpecialFile {
                origin: origin.to_owned(),
                path: shown,
                kind: format!("special file (mode {:o})", mode & FILE_TYPE),
            });
        }
        let path = path.ok_or_else(|| unsafe_path("a file needs a name"))?;
        let size = entry.size();
        inflated += store_file(&mut sink, origin, limits, inflated, path, size, &mut entry)?;
    }
    sink.finish()
}

/// Where [`TarReader`] puts each regular file that passed the rules: in memory ([`Collector`]) or
/// on disk ([`DiskWriter`]). Both refuse duplicates and a file "inside" another file.
trait FileSink {
    type Out: io::Write;
    /// Before any byte is read: refuse what cannot be stored under `path`.
    fn accept(&mut self, origin: &str, path: &str, size: u64) -> Result<(), ArchiveError>;
    fn open(&mut self, path: &str, size_hint: usize) -> Result<Self::Out, ArchiveError>;
    /// The file's bytes were all written to `out`, and its size checked.
    fn close(&mut self, path: String, out: Self::Out) -> Result<(), ArchiveError>;
}

impl FileSink for Collector {
    type Out = Vec<u8>;
    fn accept(&mut self, _origin: &str, path: &str, _size: u64) -> Result<(), ArchiveError> {
        // Duplicates are refused on insert, after reading, as before streaming existed: an
        // in-memory archive is small.
        let _ = path;
        Ok(())
    }
    fn open(&mut self, _path: &str, size_hint: usize) -> Result<Vec<u8>, ArchiveError> {
        Ok(Vec::with_capacity(size_hint))
    }
    fn close(&mut self, path: String, out: Vec<u8>) -> Result<(), ArchiveError> {
        self.insert(path, out)
    }
}

/// Writes accepted files under `dest`, creating parent directories as needed.
struct DiskWriter {
    origin: String,
    dest: PathBuf,
    /// Every file written, to refuse duplicates and a file used as a directory (either order).
    files: std::collections::BTreeSet<String>,
    bytes: u64,
}

impl DiskWriter {
    fn new(origin: &str, dest: &Path) -> Self {
        DiskWriter {
            origin: origin.to_owned(),
            dest: dest.to_path_buf(),
            files: Default::default(),
            bytes: 0,
        }
    }

    fn finish(self) -> Result<(usize, u64), ArchiveError> {
        Ok((self.files.len(), self.bytes))
    }

    fn io_error(&self, path: &str, source: io::Error) -> ArchiveError {
        ArchiveError::Write {
            origin: self.origin.clone(),
            path: path.to_owned(),
            source,
        }
    }
}

impl FileSink for DiskWriter {
    type Out = io::BufWriter<fs::File>;

    fn accept(&mut self, origin: &str, path: &str, _size: u64) -> Result<(), ArchiveError> {
        if self.files.contains(path) {
            return Err(ArchiveError::Duplicate {
                origin: origin.to_owned(),
                path: path.to_owned(),
            });
        }
        for (i, _) in path.match_indices('/') {
            if self.files.contains(&path[..i]) {
                return Err(ArchiveError::FileAsDirectory {
                    origin: origin.to_owned(),
                    path: path.to_owned(),
                    file: path[..i].to_owned(),
                });
            }
        }
        // A file `a` after `a/b`: any earlier file under `a/`?
        let under = format!("{path}/");
        if let Some(inner) = self.files.range(under.clone()..).next()
            && inner.starts_with(&under)
        {
            return Err(ArchiveError::FileAsDirectory {
                origin: origin.to_owned(),
                path: inner.clone(),
                file: path.to_owned(),
            });
        }
        Ok(())
    }

    fn open(&mut self, path: &str, _size_hint: usize) -> Result<Self::Out, ArchiveError> {
        let target = self.dest.join(path);
        if let Some(parent) = target.parent() {
            fs::create_dir_all(parent).map_err(|e| self.io_error(path, e))?;
        }
        let file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&target)
            .map_err(|e| self.io_error(path, e))?;
        Ok(io::BufWriter::with_capacity(256 * 1024, file))
    }

    fn close(&mut self, path: String, out: Self::Out) -> Result<(), ArchiveError> {
        let file = out
            .into_inner()
            .map_err(|e| self.io_error(&path, e.into_error()))?;
        // On disk before the caller records the archive as unpacked (fetch-models' marker): a
        // crash must not leave a marker vouching for files that were never written.
        file.sync_data().map_err(|e| self.io_error(&path, e))?;
        self.bytes += file.metadata().map(|m| m.len()).unwrap_or(0);
        self.files.insert(path);
        Ok(())
    }
}

fn corrupt(origin: &str, source: io::Error) -> ArchiveError {
    ArchiveError::Corrupt {
        origin: origin.to_owned(),
        source,
    }
}

fn entry_type_name(kind: EntryType) -> String {
    match kind {
        EntryType::Char => "character device".to_owned(),
        EntryType::Block => "block device".to_owned(),
        EntryType::Fifo => "fifo".to_owned(),
        EntryType::GNUSparse => "sparse file".to_owned(),
        other => format!(
            "file of unsupported tar type '{}'",
            other.as_byte().escape_ascii()
        ),
    }
}

/// Shared between the capped reader (owned by the tar crate) and [`read_tar_gz`].
#[derive(Default)]
struct CapState {
    count: Cell<u64>,
    exceeded: Cell<bool>,
}

/// Counts decompressed bytes and fails once more than `limit` would be produced.
struct CappedReader<R> {
    inner: R,
    limit: u64,
    state: Rc<CapState>,
}

impl<R> CappedReader<R> {
    fn new(inner: R, limit: u64) -> Self {
        CappedReader {
            inner,
            limit,
            state: Rc::default(),
        }
    }
}

impl<R: Read> Read for CappedReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let remaining = self.limit.saturating_sub(self.state.count.get());
        if remaining == 0 {
            // Exactly `limit` bytes is fine; one more byte means the stream is too big.
            let mut probe = [0u8; 1];
            if self.inner.read(&mut probe)? == 0 {
                return Ok(0);
            }
            self.state.exceeded.set(true);
            return Err(io::Error::other("decompressed size limit exceeded"));
        }
        let max = usize::try_from(remaining).map_or(buf.len(), |r| r.min(buf.len()));
        let n = self.inner.read(&mut buf[..max])?;
        self.state.count.set(self.state.count.get() + n as u64);
        Ok(n)
    }
}

/// Normalise a raw archive path: `Ok(None)` for the root itself (`./`), `Err(reason)` when unsafe.
fn normalise(raw: &[u8]) -> Result<Option<String>, &'static str> {
    let path = std::str::from_utf8(raw).map_err(|_| "the path is not UTF-8")?;
    if path.is_empty() {
        return Err("the path is empty");
    }
    if path.contains('\0') {
        return Err("the path contains a NUL byte");
    }
    if path.contains('\\') {
        // Windows tools would treat it as a separator, which reopens `..\..\x`.
        return Err("the path contains a backslash");
    }
    if path.starts_with('/') {
        return Err("the path is absolute");
    }
    let b = path.as_bytes();
    if b.len() >= 2 && b[0].is_ascii_alphabetic() && b[1] == b':' {
        return Err("the path starts with a Windows drive prefix");
    }
    let mut parts = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => return Err("the path contains a '..' component"),
            p => parts.push(p),
        }
    }
    Ok((!parts.is_empty()).then(|| parts.join("/")))
}

/// Gathers files, rejecting duplicates, and produces the sorted [`Files`].
struct Collector {
    origin: String,
    files: BTreeMap<String, Vec<u8>>,
}

impl Collector {
    fn new(origin: &str) -> Self {
        Collector {
            origin: origin.to_owned(),
            files: BTreeMap::new(),
        }
    }

    fn insert(&mut self, path: String, bytes: Vec<u8>) -> Result<(), ArchiveError> {
        if self.files.contains_key(&path) {
            return Err(ArchiveError::Duplicate {
                origin: self.origin.clone(),
                path,
            });
        }
        self.files.insert(path, bytes);
        Ok(())
    }

    fn finish(self) -> Result<Files, ArchiveError> {
        for path in self.files.keys() {
            // `a` and `a/b` cannot both exist on a filesystem; refuse the ambiguity.
            for (i, _) in path.match_indices('/') {
                let parent = &path[..i];
                if self.files.contains_key(parent) {
                    return Err(ArchiveError::FileAsDirectory {
                        origin: self.origin.clone(),
                        path: path.clone(),
                        file: parent.to_owned(),
                    });
                }
            }
        }
        Ok(Files {
            origin: self.origin,
            files: self
                .files
                .into_iter()
                .map(|(path, bytes)| File { path, bytes })
                .collect(),
        })
    }
}

/// Read every file under `path`, recursively, in sorted order.
///
/// Hidden files and directories are read like any other. Symbolic links are followed when their
/// fully resolved target lies inside the directory (so a chart may link a shared file, and a
/// directory that is itself a symlink works); the file is listed under the link's own path. A link
/// whose target lies outside is an error, as is a directory link that leads back to one of its own
/// parents. Broken links, fifos, sockets and devices are errors too (reading a fifo would block
/// forever). The same [`Limits`] apply as for archives, with `max_total_bytes` counting file
/// contents only.
pub fn read_dir(path: &Path, limits: &Limits) -> Result<Files, ArchiveError> {
    let origin = path.display().to_string();
    let root = fs::canonicalize(path).map_err(|source| ArchiveError::Io {
        origin: origin.clone(),
        path: ".".to_owned(),
        source,
    })?;
    let mut walker = DirWalker {
        origin: &origin,
        root: &root,
        limits,
        files: Collector::new(&origin),
        entries: 0,
        total: 0,
        stack: Vec::new(),
    };
    walker.walk(&root, "")?;
    walker.files.finish()
}

struct DirWalker<'a> {
    origin: &'a str,
    root: &'a Path,
    limits: &'a Limits,
    files: Collector,
    entries: usize,
    total: u64,
    /// Canonical paths of the directories being walked, to detect symlink loops.
    stack: Vec<PathBuf>,
}

impl DirWalker<'_> {
    /// Walk the directory whose canonical path is `dir` and whose relative path is `rel`.
    fn walk(&mut self, dir: &Path, rel: &str) -> Result<(), ArchiveError> {
        self.stack.push(dir.to_owned());
        let mut children = Vec::new();
        let listing = fs::read_dir(dir).map_err(|e| self.io(rel_or_root(rel), e))?;
        for child in listing {
            let child = child.map_err(|e| self.io(rel_or_root(rel), e))?;
            let name = child.file_name();
            let name =
                name.to_str()
                    .map(str::to_owned)
                    .ok_or_else(|| ArchiveError::UnsafePath {
                        origin: self.origin.to_owned(),
                        path: join(rel, &name.to_string_lossy()),
                        reason: "the path is not UTF-8",
                    })?;
            children.push((name, child.path()));
        }
        children.sort();
        for (name, child) in children {
            let rel = join(rel, &name);
            self.entries += 1;
            if self.entries > self.limits.max_entries {
                return Err(ArchiveError::TooManyEntries {
                    origin: self.origin.to_owned(),
                    limit: self.limits.max_entries,
                    path: rel,
                });
            }
            let meta = fs::symlink_metadata(&child).map_err(|e| self.io(&rel, e))?;
            let target = if meta.file_type().is_symlink() {
                self.resolve_link(&child, &rel)?
            } else {
                child
            };
            // Follows a link to what it points at; `target` is canonical and inside the root.
            let meta = fs::metadata(&target).map_err(|e| self.io(&rel, e))?;
            if meta.is_dir() {
                if self.stack.contains(&target) {
                    return Err(ArchiveError::SymlinkLoop {
                        origin: self.origin.to_owned(),
                        path: rel,
                    });
                }
                self.walk(&target, &rel)?;
            } else if meta.is_file() {
                self.read_file(&target, rel, meta.len())?;
            } else {
                return Err(ArchiveError::SpecialFile {
                    origin: self.origin.to_owned(),
                    path: rel,
                    kind: "special file (fifo, socket or device)".to_owned(),
                });
            }
        }
        self.stack.pop();
        Ok(())
    }

    fn resolve_link(&self, link: &Path, rel: &str) -> Result<PathBuf, ArchiveError> {
        let target = fs::canonicalize(link).map_err(|e| self.io(rel, e))?;
        if !target.starts_with(self.root) {
            return Err(ArchiveError::SymlinkEscape {
                origin: self.origin.to_owned(),
                path: rel.to_owned(),
                target: fs::read_link(link).unwrap_or(target).display().to_string(),
            });
        }
        Ok(target)
    }

    fn read_file(&mut self, path: &Path, rel: String, len: u64) -> Result<(), ArchiveError> {
        if len > self.limits.max_file_bytes {
            return Err(self.too_large(rel, len));
        }
        if self.total.saturating_add(len) > self.limits.max_total_bytes {
            return Err(self.total_too_large(rel));
        }
        let file = fs::File::open(path).map_err(|e| self.io(&rel, e))?;
        let mut bytes = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
        // The file may grow between stat and read: cap the read itself.
        file.take(self.limits.max_file_bytes.saturating_add(1))
            .read_to_end(&mut bytes)
            .map_err(|e| self.io(&rel, e))?;
        let actual = bytes.len() as u64;
        if actual > self.limits.max_file_bytes {
            return Err(self.too_large(rel, actual));
        }
        self.total += actual;
        if self.total > self.limits.max_total_bytes {
            return Err(self.total_too_large(rel));
        }
        self.files.insert(rel, bytes)
    }

    fn too_large(&self, path: String, size: u64) -> ArchiveError {
        ArchiveError::FileTooLarge {
            origin: self.origin.to_owned(),
            path,
            size,
            limit: self.limits.max_file_bytes,
        }
    }

    fn total_too_large(&self, path: String) -> ArchiveError {
        ArchiveError::TotalTooLarge {
            origin: self.origin.to_owned(),
            limit: self.limits.max_total_bytes,
            entry: Some(path),
        }
    }

    fn io(&self, rel: &str, source: io::Error) -> ArchiveError {
        ArchiveError::Io {
            origin: self.origin.to_owned(),
            path: rel.to_owned(),
            source,
        }
    }
}

fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_owned()
    } else {
        format!("{dir}/{name}")
    }
}

fn rel_or_root(rel: &str) -> &str {
    if rel.is_empty() { "." } else { rel }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use flate2::Compression;
    use flate2::write::GzEncoder;
    use std::io::Write;
    use std::time::{Duration, Instant};

    const MIB: u64 = 1024 * 1024;

    /// Builds tar streams entry by entry with raw header fields, so that the malicious paths the
    /// tar crate's own `append_*` helpers would refuse can be written.
    struct TarBuilder(tar::Builder<Vec<u8>>);

    impl TarBuilder {
        fn new() -> Self {
            TarBuilder(tar::Builder::new(Vec::new()))
        }

        fn raw(mut self, path: &[u8], kind: EntryType, data: &[u8], link: &[u8]) -> Self {
            let mut header = tar::Header::new_gnu();
            header.as_old_mut().name[..path.len()].copy_from_slice(path);
            header.as_old_mut().linkname[..link.len()].copy_from_slice(link);
            header.set_entry_type(kind);
            header.set_mode(0o644);
            header.set_size(data.len() as u64);
            header.set_cksum();
            self.0.append(&header, data).unwrap();
            self
        }

        fn file(self, path: &str, data: &[u8]) -> Self {
            self.raw(path.as_bytes(), EntryType::Regular, data, b"")
        }

        fn dir(self, path: &str) -> Self {
            self.raw(path.as_bytes(), EntryType::Directory, b"", b"")
        }

        /// A regular file written through the tar crate's checked API (long names, pax, …).
        fn checked_file(mut self, path: &str, data: &[u8]) -> Self {
            let mut header = tar::Header::new_gnu();
            header.set_mode(0o644);
            header.set_size(data.len() as u64);
            self.0.append_data(&mut header, path, data).unwrap();
            self
        }

        fn tar(self) -> Vec<u8> {
            self.0.into_inner().unwrap()
        }

        fn gz(self) -> Vec<u8> {
            gzip(&self.tar())
        }
    }

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut encoder = GzEncoder::new(Vec::new(), Compression::fast());
        encoder.write_all(bytes).unwrap();
        encoder.finish().unwrap()
    }

    fn read(archive: &[u8]) -> Result<Files, ArchiveError> {
        read_tar_gz("ir.tar.gz", archive, &Limits::default())
    }

    fn paths(files: &Files) -> Vec<&str> {
        files.files.iter().map(|f| f.path.as_str()).collect()
    }

    fn small_limits() -> Limits {
        Limits {
            max_total_bytes: 8 * MIB,
            max_entries: 100,
            max_file_bytes: MIB,
        }
    }

    #[test]
    fn reads_nested_files_sorted_and_normalised() {
        let archive = TarBuilder::new()
            .dir("ir/")
            .file("ir/b.yaml", b"b")
            .dir("ir/flows/")
            .file("./ir/flows/score.yaml", b"flow")
            .file("ir//a.yaml", b"a")
            .file("ir/./models/m.yaml", b"model")
            .gz();
        let files = read(&archive).unwrap();
        assert_eq!(files.origin, "ir.tar.gz");
        assert_eq!(
            paths(&files),
            [
                "ir/a.yaml",
                "ir/b.yaml",
                "ir/flows/score.yaml",
                "ir/models/m.yaml"
            ]
        );
        assert_eq!(files.get("ir/flows/score.yaml").unwrap().bytes, b"flow");
        assert!(files.get("flows/score.yaml").is_none());

        let files = files.strip_single_top_dir();
        assert_eq!(
            paths(&files),
            ["a.yaml", "b.yaml", "flows/score.yaml", "models/m.yaml"]
        );
        assert_eq!(files.get("models/m.yaml").unwrap().bytes, b"model");
        assert_eq!(files.origin, "ir.tar.gz");
    }

    #[test]
    fn strip_single_top_dir_leaves_mixed_layouts_alone() {
        let top_file = TarBuilder::new()
            .file("ir/a.yaml", b"a")
            .file("README.md", b"r")
            .gz();
        let files = read(&top_file).unwrap().strip_single_top_dir();
        assert_eq!(paths(&files), ["README.md", "ir/a.yaml"]);

        let two_dirs = TarBuilder::new()
            .file("a/x.yaml", b"")
            .file("b/y.yaml", b"")
            .gz();
        let files = read(&two_dirs).unwrap().strip_single_top_dir();
        assert_eq!(paths(&files), ["a/x.yaml", "b/y.yaml"]);

        let flat = TarBuilder::new().file("x.yaml", b"").gz();
        let files = read(&flat).unwrap().strip_single_top_dir();
        assert_eq!(paths(&files), ["x.yaml"]);

        let empty = Files {
            origin: "o".into(),
            files: vec![],
        };
        assert!(empty.strip_single_top_dir().files.is_empty());
    }

    #[test]
    fn get_works_on_hand_built_unsorted_lists() {
        let files = Files {
            origin: "t".into(),
            files: ["z", "a", "m"]
                .map(|p| File {
                    path: p.into(),
                    bytes: p.as_bytes().to_vec(),
                })
                .to_vec(),
        };
        for p in ["z", "a", "m"] {
            assert_eq!(files.get(p).unwrap().bytes, p.as_bytes());
        }
        assert!(files.get("b").is_none());
    }

    #[test]
    fn strip_single_top_dir_removes_only_one_level() {
        let archive = TarBuilder::new()
            .file("chart/templates/a.yaml", b"")
            .file("chart/templates/b.yaml", b"")
            .gz();
        let files = read(&archive).unwrap().strip_single_top_dir();
        assert_eq!(paths(&files), ["templates/a.yaml", "templates/b.yaml"]);
    }

    #[test]
    fn long_names_and_pax_global_headers_are_handled() {
        let long = format!("ir/{}/pipeline.yaml", "d".repeat(150));
        let archive = TarBuilder::new()
            // `git archive` starts with a pax global header carrying the commit id.
            .raw(
                b"pax_global_header",
                EntryType::XGlobalHeader,
                b"52 comment=0123456789012345678901234567890123456789\n",
                b"",
            )
            .checked_file(&long, b"long")
            .gz();
        let files = read(&archive).unwrap();
        assert_eq!(paths(&files), [long.as_str()]);
    }

    #[test]
    fn empty_archive_is_empty_not_an_error() {
        let files = read(&TarBuilder::new().gz()).unwrap();
        assert!(files.files.is_empty());
    }

    #[test]
    fn root_directory_entry_is_skipped() {
        let archive = TarBuilder::new().dir("./").file("./a.yaml", b"a").gz();
        assert_eq!(paths(&read(&archive).unwrap()), ["a.yaml"]);
    }

    #[test]
    fn concatenated_gzip_members_are_read() {
        let tar = TarBuilder::new()
            .file("a.yaml", b"a")
            .file("b.yaml", b"b")
            .tar();
        let (head, tail) = tar.split_at(700);
        let mut archive = gzip(head);
        archive.extend(gzip(tail));
        assert_eq!(paths(&read(&archive).unwrap()), ["a.yaml", "b.yaml"]);
    }

    fn unsafe_path(archive: &[u8]) -> (String, &'static str) {
        match read(archive).unwrap_err() {
            ArchiveError::UnsafePath { path, reason, .. } => (path, reason),
            other => panic!("expected UnsafePath, got {other:?}"),
        }
    }

    #[test]
    fn rejects_zip_slip() {
        let archive = TarBuilder::new()
            .file("ok.yaml", b"")
            .file("../evil.yaml", b"x")
            .gz();
        let err = read(&archive).unwrap_err();
        assert_eq!(
            err.to_string(),
            "ir.tar.gz: entry '../evil.yaml' has an unsafe or invalid path: \
             the path contains a '..' component"
        );

        let nested = TarBuilder::new().file("ir/a/../../../evil", b"").gz();
        assert_eq!(unsafe_path(&nested).0, "ir/a/../../../evil");
        // Even a `..` that stays inside is refused: nothing legitimate needs it.
        let inside = TarBuilder::new().file("ir/a/../b.yaml", b"").gz();
        assert_eq!(unsafe_path(&inside).1, "the path contains a '..' component");
        // A safe ustar name overridden by a pax `path` record or a GNU long name.
        let pax = TarBuilder::new()
            .raw(
                b"././@PaxHeader",
                EntryType::XHeader,
                b"21 path=../evil.yaml\n",
                b"",
            )
            .file("ok.yaml", b"x")
            .gz();
        assert_eq!(unsafe_path(&pax).0, "../evil.yaml");
        let gnu = TarBuilder::new()
            .raw(
                b"././@LongLink",
                EntryType::GNULongName,
                b"../../evil\0",
                b"",
            )
            .file("ok.yaml", b"x")
            .gz();
        assert_eq!(unsafe_path(&gnu).0, "../../evil");
        // Unsafe directories are refused too, even though directories are skipped.
        let dir = TarBuilder::new().dir("../up/").gz();
        assert_eq!(unsafe_path(&dir).0, "../up/");
    }

    #[test]
    fn rejects_absolute_paths() {
        let archive = TarBuilder::new().file("/etc/x", b"x").gz();
        assert_eq!(
            unsafe_path(&archive),
            ("/etc/x".to_owned(), "the path is absolute")
        );
        let unc = TarBuilder::new().file("//server/share/x", b"x").gz();
        assert_eq!(unsafe_path(&unc).1, "the path is absolute");
    }

    #[test]
    fn rejects_windows_tricks() {
        let drive = TarBuilder::new().file("C:/Windows/x", b"").gz();
        assert_eq!(
            unsafe_path(&drive).1,
            "the path starts with a Windows drive prefix"
        );
        let relative_drive = TarBuilder::new().file("c:evil", b"").gz();
        assert_eq!(
            unsafe_path(&relative_drive).1,
            "the path starts with a Windows drive prefix"
        );
        let backslash = TarBuilder::new().file("ir\\..\\..\\evil", b"").gz();
        assert_eq!(unsafe_path(&backslash).1, "the path contains a backslash");
    }

    #[test]
    fn rejects_non_utf8_and_empty_paths() {
        let latin1 = TarBuilder::new()
            .raw(b"caf\xe9.yaml", EntryType::Regular, b"", b"")
            .gz();
        assert_eq!(
            unsafe_path(&latin1),
            ("caf\u{fffd}.yaml".to_owned(), "the path is not UTF-8")
        );
        let dot = TarBuilder::new().file(".", b"x").gz();
        assert_eq!(unsafe_path(&dot).1, "a file needs a name");
    }

    #[test]
    fn rejects_symlink_escape() {
        let archive = TarBuilder::new()
            .raw(b"a", EntryType::Symlink, b"", b"../../etc/passwd")
            .gz();
        let err = read(&archive).unwrap_err();
        assert_eq!(
            err.to_string(),
            "ir.tar.gz: links are not allowed in an IR/chart archive: a -> ../../etc/passwd"
        );
    }

    #[test]
    fn rejects_symlinks_even_inside_the_archive() {
        let archive = TarBuilder::new()
            .file("a.yaml", b"a")
            .raw(b"b.yaml", EntryType::Symlink, b"", b"a.yaml")
            .gz();
        assert!(matches!(
            read(&archive).unwrap_err(),
            ArchiveError::Link { path, target, .. } if path == "b.yaml" && target == "a.yaml"
        ));
    }

    #[test]
    fn rejects_hardlink_escape() {
        let archive = TarBuilder::new()
            .raw(b"passwd", EntryType::Link, b"", b"/etc/passwd")
            .gz();
        let err = read(&archive).unwrap_err();
        assert_eq!(
            err.to_string(),
            "ir.tar.gz: links are not allowed in an IR/chart archive: passwd -> /etc/passwd"
        );
    }

    #[test]
    fn rejects_device_files_and_fifos() {
        for (kind, name) in [
            (EntryType::Char, "character device"),
            (EntryType::Block, "block device"),
            (EntryType::Fifo, "fifo"),
        ] {
            let archive = TarBuilder::new().raw(b"dev/null", kind, b"", b"").gz();
            let err = read(&archive).unwrap_err();
            assert_eq!(
                err.to_string(),
                format!(
                    "ir.tar.gz: entry 'dev/null' is a {name}; \
                     only regular files and directories are allowed"
                )
            );
        }
        let unknown = TarBuilder::new()
            .raw(b"x", EntryType::new(b'Z'), b"", b"")
            .gz();
        assert!(
            read(&unknown)
                .unwrap_err()
                .to_string()
                .contains("entry 'x' is a file of unsupported tar type 'Z'")
        );
    }

    /// 200 MiB of zeros in 20 files of 10 MiB, each under the per-file limit.
    fn many_files_bomb() -> Vec<u8> {
        let chunk = vec![0u8; 10 * MIB as usize];
        let mut builder = TarBuilder::new();
        for i in 0..20 {
            builder = builder.file(&format!("f{i:02}.yaml"), &chunk);
        }
        builder.gz()
    }

    #[test]
    fn gzip_bomb_stops_at_the_total_limit() {
        let bomb = many_files_bomb();
        assert!(
            bomb.len() < 2 * MIB as usize,
            "the bomb is {} bytes",
            bomb.len()
        );
        let start = Instant::now();
        let err = read(&bomb).unwrap_err();
        let elapsed = start.elapsed();
        assert_eq!(
            err.to_string(),
            "ir.tar.gz: uncompressed content is over the total limit of 67108864 bytes \
             (--max-input-bytes) (at entry 'f06.yaml')"
        );
        assert!(elapsed < Duration::from_secs(2), "took {elapsed:?}");
    }

    #[test]
    fn gzip_bomb_in_skipped_data_stops_while_inflating() {
        // A directory entry whose header claims 200 MiB: nothing of it is kept, but the tar
        // reader has to inflate it to reach the next header. Only the streaming cap stops that.
        let mut tar = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_gnu();
        header.set_path("ir/").unwrap();
        header.set_entry_type(EntryType::Directory);
        header.set_size(200 * MIB);
        header.set_cksum();
        tar.append(&header, io::repeat(0).take(200 * MIB)).unwrap();
        let bomb = gzip(&tar.into_inner().unwrap());

        let start = Instant::now();
        let err = read(&bomb).unwrap_err();
        let elapsed = start.elapsed();
        assert!(
            matches!(&err, ArchiveError::TotalTooLarge { limit, entry: Some(e), .. }
                if *limit == 64 * MIB && e == "ir/"),
            "{err:?}"
        );
        assert!(elapsed < Duration::from_secs(2), "took {elapsed:?}");
    }

    #[test]
    fn gzip_bomb_in_a_pax_header_stops_while_inflating() {
        // The tar crate reads pax extension records into memory whatever their size.
        let archive = TarBuilder::new()
            .raw(
                b"././@PaxHeader",
                EntryType::XHeader,
                &vec![b'9'; 9 * MIB as usize],
                b"",
            )
            .file("a.yaml", b"")
            .gz();
        let err = read_tar_gz("ir.tar.gz", &archive, &small_limits()).unwrap_err();
        assert!(
            matches!(err, ArchiveError::TotalTooLarge { limit, .. } if limit == 8 * MIB),
            "{err:?}"
        );
    }

    #[test]
    fn bytes_after_the_end_marker_count_towards_the_limit() {
        let mut tar = TarBuilder::new().file("a.yaml", b"a").tar();
        tar.extend(std::iter::repeat_n(0u8, 9 * MIB as usize));
        let err = read_tar_gz("ir.tar.gz", &gzip(&tar), &small_limits()).unwrap_err();
        assert!(matches!(err, ArchiveError::TotalTooLarge { .. }), "{err:?}");
    }

    #[test]
    fn total_limit_is_inclusive() {
        let tar = TarBuilder::new().file("a.yaml", b"a").tar();
        let limits = Limits {
            max_total_bytes: tar.len() as u64,
            ..Limits::default()
        };
        assert!(read_tar_gz("ir.tar.gz", &gzip(&tar), &limits).is_ok());
        let limits = Limits {
            max_total_bytes: tar.len() as u64 - 1,
            ..Limits::default()
        };
        assert!(matches!(
            read_tar_gz("ir.tar.gz", &gzip(&tar), &limits),
            Err(ArchiveError::TotalTooLarge { .. })
        ));
    }

    #[test]
    fn capped_reader_allows_exactly_the_limit() {
        let mut out = Vec::new();
        let mut exact = CappedReader::new(&[1u8, 2, 3][..], 3);
        assert_eq!(exact.read_to_end(&mut out).unwrap(), 3);
        assert!(!exact.state.exceeded.get());

        let mut over = CappedReader::new(&[1u8, 2, 3, 4][..], 3);
        assert!(over.read_to_end(&mut Vec::new()).is_err());
        assert!(over.state.exceeded.get());
        assert_eq!(over.state.count.get(), 3);
    }

    #[test]
    fn rejects_too_many_entries() {
        let limits = Limits {
            max_entries: 3,
            ..Limits::default()
        };
        let archive = TarBuilder::new()
            .dir("ir/")
            .file("ir/a", b"")
            .file("ir/b", b"")
            .file("ir/c", b"")
            .gz();
        let err = read_tar_gz("ir.tar.gz", &archive, &limits).unwrap_err();
        assert_eq!(
            err.to_string(),
            "ir.tar.gz: more than 3 entries, over the entry limit (--max-input-files; at entry 'ir/c')"
        );
        let three = TarBuilder::new()
            .dir("ir/")
            .file("ir/a", b"")
            .file("ir/b", b"")
            .gz();
        assert!(read_tar_gz("ir.tar.gz", &three, &limits).is_ok());
    }

    #[test]
    fn rejects_too_big_a_file() {
        let archive = TarBuilder::new()
            .file("big.yaml", &vec![b' '; 20_000_000])
            .gz();
        let err = read(&archive).unwrap_err();
        assert_eq!(
            err.to_string(),
            "ir.tar.gz: entry 'big.yaml' is 20000000 bytes, over the per-file limit of 16777216 bytes (--max-file-bytes)"
        );
        let limits = Limits {
            max_file_bytes: 4,
            ..Limits::default()
        };
        let exact = TarBuilder::new().file("four", b"1234").gz();
        assert!(read_tar_gz("ir.tar.gz", &exact, &limits).is_ok());
    }

    #[test]
    fn rejects_duplicate_entries() {
        let archive = TarBuilder::new()
            .file("ir/a.yaml", b"1")
            .file("./ir//a.yaml", b"2")
            .gz();
        let err = read(&archive).unwrap_err();
        assert_eq!(err.to_string(), "ir.tar.gz: duplicate entry 'ir/a.yaml'");
    }

    #[test]
    fn rejects_a_file_used_as_a_directory() {
        let archive = TarBuilder::new()
            .file("a", b"1")
            .file("a-b", b"")
            .file("a/b", b"2")
            .gz();
        let err = read(&archive).unwrap_err();
        assert_eq!(
            err.to_string(),
            "ir.tar.gz: entry 'a/b' would be inside 'a', which is a file"
        );
    }

    fn assert_corrupt(bytes: &[u8]) {
        match read(bytes) {
            Err(ArchiveError::Corrupt { origin, .. }) => assert_eq!(origin, "ir.tar.gz"),
            other => panic!("expected Corrupt, got {other:?}"),
        }
    }

    #[test]
    fn corrupt_gzip_is_an_error() {
        assert_corrupt(b"this is not gzip at all");
        assert_corrupt(b"");
        let good = TarBuilder::new().file("a.yaml", b"hello").gz();
        // Cut inside the deflate data.
        assert_corrupt(&good[..good.len() / 2]);
        // A damaged CRC in the gzip trailer.
        let mut bad_crc = good.clone();
        let at = bad_crc.len() - 8;
        bad_crc[at] ^= 0xff;
        assert_corrupt(&bad_crc);
        // A plain, uncompressed tar.
        assert_corrupt(&TarBuilder::new().file("a.yaml", b"hello").tar());
        let err = read(b"junk").unwrap_err();
        assert_eq!(err.to_string(), "ir.tar.gz: not a valid .tar.gz archive");
        assert!(std::error::Error::source(&err).is_some());
    }

    #[test]
    fn corrupt_tar_is_an_error() {
        assert_corrupt(&gzip(&[0x55; 1024]));
        let mut tar = TarBuilder::new().file("a.yaml", b"hello").tar();
        tar[0] ^= 1; // invalidates the header checksum
        assert_corrupt(&gzip(&tar));
    }

    #[test]
    fn truncated_entry_is_an_error() {
        let tar = TarBuilder::new().file("a.yaml", &[b'x'; 2000]).tar();
        let err = read(&gzip(&tar[..512 + 1000])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "ir.tar.gz: entry 'a.yaml' is truncated: the header says 2000 bytes, \
             only 1000 could be read"
        );
    }

    #[test]
    fn normalise_cases() {
        assert_eq!(normalise(b"a/b"), Ok(Some("a/b".into())));
        assert_eq!(normalise(b"./a//./b/"), Ok(Some("a/b".into())));
        assert_eq!(normalise(b"./"), Ok(None));
        assert_eq!(normalise(b".hidden/..x"), Ok(Some(".hidden/..x".into())));
        assert!(normalise(b"").is_err());
        assert!(normalise(b"a/..").is_err());
        assert!(normalise(b"a\0b").is_err());
        assert!(normalise(b"Z:").is_err());
    }

    // --- directories ---

    fn write(root: &Path, rel: &str, bytes: &[u8]) {
        let path = root.join(rel);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, bytes).unwrap();
    }

    #[test]
    fn reads_a_directory_recursively_and_sorted() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "z.yaml", b"z");
        write(dir.path(), "flows/b.yaml", b"b");
        write(dir.path(), "flows/a.yaml", b"a");
        write(dir.path(), ".hidden/x", b"x");
        write(dir.path(), "models/deep/m.yaml", b"m");
        fs::create_dir(dir.path().join("empty")).unwrap();
        let files = read_dir(dir.path(), &Limits::default()).unwrap();
        assert_eq!(files.origin, dir.path().display().to_string());
        assert_eq!(
            paths(&files),
            [
                ".hidden/x",
                "flows/a.yaml",
                "flows/b.yaml",
                "models/deep/m.yaml",
                "z.yaml"
            ]
        );
        assert_eq!(files.get("models/deep/m.yaml").unwrap().bytes, b"m");
    }

    #[test]
    fn missing_directory_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope");
        let err = read_dir(&missing, &Limits::default()).unwrap_err();
        assert!(matches!(err, ArchiveError::Io { .. }), "{err:?}");
        assert!(err.to_string().starts_with(&missing.display().to_string()));
    }

    #[test]
    fn directory_limits_apply() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "a/one", &[1; 10]);
        write(dir.path(), "b/two", &[2; 10]);

        let tight = |limits: Limits| read_dir(dir.path(), &limits).unwrap_err();
        let err = tight(Limits {
            max_file_bytes: 9,
            ..Limits::default()
        });
        assert!(err.to_string().ends_with(
            ": entry 'a/one' is 10 bytes, over the per-file limit of 9 bytes (--max-file-bytes)"
        ));
        let err = tight(Limits {
            max_total_bytes: 19,
            ..Limits::default()
        });
        assert!(
            matches!(&err, ArchiveError::TotalTooLarge { entry: Some(e), limit: 19, .. } if e == "b/two"),
            "{err:?}"
        );
        let err = tight(Limits {
            max_entries: 3,
            ..Limits::default()
        });
        assert!(
            matches!(&err, ArchiveError::TooManyEntries { path, limit: 3, .. } if path == "b/two"),
            "{err:?}"
        );
        let exact = Limits {
            max_total_bytes: 20,
            max_entries: 4,
            max_file_bytes: 10,
        };
        assert_eq!(read_dir(dir.path(), &exact).unwrap().files.len(), 2);
    }

    #[cfg(unix)]
    mod unix {
        use super::*;
        use std::os::unix::fs::symlink;

        #[test]
        fn follows_symlinks_inside_the_directory() {
            let dir = tempfile::tempdir().unwrap();
            write(dir.path(), "shared/common.yaml", b"c");
            symlink("shared/common.yaml", dir.path().join("flows.yaml")).unwrap();
            symlink("shared", dir.path().join("alias")).unwrap();
            let files = read_dir(dir.path(), &Limits::default()).unwrap();
            assert_eq!(
                paths(&files),
                ["alias/common.yaml", "flows.yaml", "shared/common.yaml"]
            );
            assert_eq!(files.get("flows.yaml").unwrap().bytes, b"c");
        }

        #[test]
        fn root_may_be_a_symlink() {
            let dir = tempfile::tempdir().unwrap();
            write(dir.path(), "real/a.yaml", b"a");
            let link = dir.path().join("link");
            symlink("real", &link).unwrap();
            let files = read_dir(&link, &Limits::default()).unwrap();
            assert_eq!(paths(&files), ["a.yaml"]);
        }

        #[test]
        fn rejects_symlinks_leaving_the_directory() {
            let outside = tempfile::tempdir().unwrap();
            write(outside.path(), "secret", b"s");
            let dir = tempfile::tempdir().unwrap();
            write(dir.path(), "ir/a.yaml", b"a");
            let target = outside.path().join("secret");
            symlink(&target, dir.path().join("ir/passwd")).unwrap();
            let err = read_dir(&dir.path().join("ir"), &Limits::default()).unwrap_err();
            assert!(
                matches!(&err, ArchiveError::SymlinkEscape { path, .. } if path == "passwd"),
                "{err:?}"
            );
            assert!(err.to_string().contains(&target.display().to_string()));

            // A relative link that climbs out of the root.
            fs::remove_file(dir.path().join("ir/passwd")).unwrap();
            symlink("../../", dir.path().join("ir/up")).unwrap();
            let err = read_dir(&dir.path().join("ir"), &Limits::default()).unwrap_err();
            assert!(matches!(err, ArchiveError::SymlinkEscape { .. }), "{err:?}");
        }

        #[test]
        fn rejects_symlink_loops() {
            let dir = tempfile::tempdir().unwrap();
            write(dir.path(), "a/b/x.yaml", b"x");
            symlink("..", dir.path().join("a/b/loop")).unwrap();
            let err = read_dir(dir.path(), &Limits::default()).unwrap_err();
            assert!(
                matches!(&err, ArchiveError::SymlinkLoop { path, .. } if path == "a/b/loop"),
                "{err:?}"
            );
        }

        #[test]
        fn rejects_broken_symlinks() {
            let dir = tempfile::tempdir().unwrap();
            symlink("nowhere", dir.path().join("dangling")).unwrap();
            let err = read_dir(dir.path(), &Limits::default()).unwrap_err();
            assert!(
                matches!(&err, ArchiveError::Io { path, .. } if path == "dangling"),
                "{err:?}"
            );
        }

        #[test]
        fn rejects_special_files() {
            let dir = tempfile::tempdir().unwrap();
            let _socket = std::os::unix::net::UnixListener::bind(dir.path().join("sock")).unwrap();
            let err = read_dir(dir.path(), &Limits::default()).unwrap_err();
            assert!(
                matches!(&err, ArchiveError::SpecialFile { path, .. } if path == "sock"),
                "{err:?}"
            );
        }

        #[test]
        fn rejects_non_utf8_names() {
            use std::os::unix::ffi::OsStrExt;
            let dir = tempfile::tempdir().unwrap();
            let name = std::ffi::OsStr::from_bytes(b"caf\xe9");
            if fs::write(dir.path().join(name), b"").is_err() {
                return; // some filesystems refuse such names themselves
            }
            let err = read_dir(dir.path(), &Limits::default()).unwrap_err();
            assert!(matches!(err, ArchiveError::UnsafePath { .. }), "{err:?}");
        }
    }

    /// A zip of `files` (deflated), as the tests of fetch-models and of the rules use it.
    pub(crate) fn zip(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut writer = zip::ZipWriter::new(io::Cursor::new(Vec::new()));
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        for (path, bytes) in files {
            writer.start_file(*path, options).unwrap();
            io::Write::write_all(&mut writer, bytes).unwrap();
        }
        writer.finish().unwrap().into_inner()
    }

    fn unpack_zip_bytes(bytes: &[u8], limits: &Limits) -> Result<(usize, u64), ArchiveError> {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a.zip");
        fs::write(&file, bytes).unwrap();
        let dest = dir.path().join("out");
        fs::create_dir(&dest).unwrap();
        unpack_zip("a.zip", fs::File::open(&file).unwrap(), &dest, limits)
    }

    fn roomy() -> Limits {
        Limits {
            max_total_bytes: 1 << 20,
            max_entries: 100,
            max_file_bytes: 1 << 20,
        }
    }

    #[test]
    fn zip_rules_are_the_tar_rules() {
        assert_eq!(
            unpack_zip_bytes(&zip(&[("a/b.txt", b"hello"), ("c", b"")]), &roomy()).unwrap(),
            (2, 5)
        );
        for (name, needle) in [
            ("../x", "unsafe or invalid path"),
            ("/etc/passwd", "unsafe or invalid path"),
        ] {
            let err = unpack_zip_bytes(&zip(&[(name, b"x")]), &roomy()).unwrap_err();
            assert!(err.to_string().contains(needle), "{name}: {err}");
        }
        // A symbolic link, by its Unix mode.
        let mut writer = zip::ZipWriter::new(io::Cursor::new(Vec::new()));
        writer
            .add_symlink(
                "model.pb",
                "/etc/passwd",
                zip::write::SimpleFileOptions::default(),
            )
            .unwrap();
        let link = writer.finish().unwrap().into_inner();
        let err = unpack_zip_bytes(&link, &roomy()).unwrap_err();
        assert!(matches!(err, ArchiveError::Link { .. }), "{err}");
        // Limits: per file, in total (before inflating) and entries.
        let big = zip(&[("a", &[0u8; 4096]), ("b", &[0u8; 4096])]);
        let per_file = Limits {
            max_file_bytes: 4095,
            ..roomy()
        };
        assert!(matches!(
            unpack_zip_bytes(&big, &per_file),
            Err(ArchiveError::FileTooLarge { .. })
        ));
        let total = Limits {
            max_total_bytes: 6000,
            ..roomy()
        };
        assert!(matches!(
            unpack_zip_bytes(&big, &total),
            Err(ArchiveError::TotalTooLarge { .. })
        ));
        let entries = Limits {
            max_entries: 1,
            ..roomy()
        };
        assert!(matches!(
            unpack_zip_bytes(&big, &entries),
            Err(ArchiveError::TooManyEntries { .. })
        ));
        // Damaged data fails its CRC; a cut archive has no central directory.
        let stored = {
            let mut writer = zip::ZipWriter::new(io::Cursor::new(Vec::new()));
            let options = zip::write::SimpleFileOptions::default()
                .compression_method(zip::CompressionMethod::Stored);
            writer.start_file("m", options).unwrap();
            io::Write::write_all(&mut writer, b"model bytes here").unwrap();
            writer.finish().unwrap().into_inner()
        };
        let mut damaged = stored.clone();
        let at = damaged.windows(5).position(|w| w == b"model").unwrap();
        damaged[at] ^= 1;
        assert!(matches!(
            unpack_zip_bytes(&damaged, &roomy()),
            Err(ArchiveError::Corrupt { .. })
        ));
        assert!(matches!(
            unpack_zip_bytes(&stored[..stored.len() / 2], &roomy()),
            Err(ArchiveError::Corrupt { .. })
        ));
    }
}
