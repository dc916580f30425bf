//! `package`: a chart directory → `<name>-<version>.tgz`, byte-for-byte reproducible: sorted
//! entries, fixed mtime/owner/mode, a gzip header without time or name.

use super::{Chart, ChartError};
use crate::archive::{self, Limits};
use flate2::{Compression, GzBuilder};
use std::path::{Path, PathBuf};

/// 1980-01-01T00:00:00Z: a fixed, plausible time (some tools reject the 1970 epoch).
const FIXED_MTIME: u64 = 315_532_800;

#[derive(Debug)]
pub struct Packaged {
    pub path: PathBuf,
    pub sha256: String,
    pub bytes: usize,
}

/// Validates the chart (it must load, sub-charts included) and writes its archive into `out_dir`.
pub fn package(chart_dir: &Path, out_dir: &Path, limits: &Limits) -> Result<Packaged, ChartError> {
    let chart = Chart::load(chart_dir, limits)?;
    let files = archive::read_dir(chart_dir, limits)?;
    let bytes = archive_bytes(&chart.meta.name, &files).map_err(|err| io_error(chart_dir, err))?;
    // The name and version become a file name: SemVer's characters only (no separators, no
    // line breaks, no spaces).
    for (field, text) in [("name", &chart.meta.name), ("version", &chart.meta.version)] {
        let valid = !text.is_empty()
            && text.len() <= 128
            && text
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '+' | '_'));
        if !valid {
            return Err(ChartError::Invalid {
                chart: chart_dir.display().to_string(),
                file: "Chart.yaml".into(),
                reason: format!(
                    "{field} {text:?} may hold only letters, digits, '.', '-', '+' and '_' (at most 128), as it names the package file"
                ),
            });
        }
    }
    let path = out_dir.join(format!("{}-{}.tgz", chart.meta.name, chart.meta.version));
    std::fs::create_dir_all(out_dir)
        .and_then(|()| std::fs::write(&path, &bytes))
        .map_err(|err| io_error(&path, err))?;
    Ok(Packaged {
        sha256: crate::digest::sha256_hex(&bytes),
        bytes: bytes.len(),
        path,
    })
}

fn io_error(path: &Path, err: std::io::Error) -> ChartError {
    ChartError::Invalid {
        chart: path.display().to_string(),
        file: String::new(),
        reason: err.to_string(),
    }
}

fn archive_bytes(name: &str, files: &archive::Files) -> std::io::Result<Vec<u8>> {
    let encoder = GzBuilder::new()
        .mtime(0)
        .write(Vec::new(), Compression::default());
    let mut builder = tar::Builder::new(encoder);
    builder.mode(tar::HeaderMode::Deterministic);
    for file in &files.files {
        let mut header = tar::Header::new_ustar();
        header.set_size(file.bytes.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(FIXED_MTIME);
        header.set_uid(0);
        header.set_gid(0);
        header.set_entry_type(tar::EntryType::Regular);
        builder.append_data(
            &mut header,
            format!("{name}/{}", file.path),
            file.bytes.as_slice(),
        )?;
    }
    builder.into_inner()?.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_chart(dir: &Path) {
        std::fs::create_dir_all(dir.join("templates")).unwrap();
        std::fs::write(
            dir.join("Chart.yaml"),
            "apiVersion: v2\nname: demo\nversion: 1.2.3\n",
        )
        .unwrap();
        std::fs::write(dir.join("values.yaml"), "a: 1\n").unwrap();
        std::fs::write(dir.join("templates/cm.yaml"), "kind: ConfigMap\n").unwrap();
    }

    #[test]
    fn a_version_with_a_line_break_never_reaches_a_file_name() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("Chart.yaml"),
            "apiVersion: v2\nname: demo\nversion: \"1.0\\nevil\"\n",
        )
        .unwrap();
        let out = tempfile::tempdir().unwrap();
        let err = package(dir.path(), out.path(), &Limits::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("version"), "{err}");
        assert_eq!(std::fs::read_dir(out.path()).unwrap().count(), 0);
    }

    #[test]
    fn packages_reproducibly_and_reloads() {
        let tmp = tempfile::tempdir().unwrap();
        let chart_dir = tmp.path().join("demo");
        write_chart(&chart_dir);
        let first = package(&chart_dir, &tmp.path().join("out1"), &Limits::default()).unwrap();
        // Touch the files: mtimes must not leak into the archive.
        std::thread::sleep(std::time::Duration::from_millis(20));
        write_chart(&chart_dir);
        let second = package(&chart_dir, &tmp.path().join("out2"), &Limits::default()).unwrap();
        assert_eq!(first.sha256, second.sha256);
        assert_eq!(first.path.file_name().unwrap(), "demo-1.2.3.tgz");
        let reloaded = Chart::load(&first.path, &Limits::default()).unwrap();
        assert_eq!(reloaded.meta.name, "demo");
        assert_eq!(reloaded.templates[0].name, "demo/templates/cm.yaml");
    }
}
