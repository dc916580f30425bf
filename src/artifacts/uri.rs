//! Model artifact URIs: which store holds an artifact and where in it (pure, no I/O).
//!
//! Accepted (docs/artifact-stores.md):
//! - `s3://<bucket>/<key>` (AWS S3 and S3-compatible stores),
//! - `gs://<bucket>/<object>` (Google Cloud Storage),
//! - `az://<container>/<blob>` (account from `AZURE_STORAGE_ACCOUNT_NAME`) and
//!   `abfs://<container>@<account>.dfs.core.windows.net/<blob>` (Azure Blob Storage / ADLS Gen2),
//! - `http://…` and `https://…` (any web server; no credentials),
//! - `file:///<absolute path>` (a file already on the pod, e.g. on a mounted volume).
//!
//! Refused: other schemes, a URI without an object (ends in `/`), `..` or empty path segments,
//! and credentials written into the URI (`user:password@`): the values are readable by everyone who
//! can read the job's ConfigMaps, so credentials belong in the Secret (docs/artifact-stores.md).

use std::fmt;

/// The kinds of store `fetch-models` can read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Store {
    S3,
    Gcs,
    Azure,
    Http,
    File,
}

impl Store {
    /// Whether reading from it needs credentials from the Secret (a public bucket still needs the
    /// store's endpoint and region settings, which travel in the same Secret).
    pub fn needs_credentials(self) -> bool {
        matches!(self, Store::S3 | Store::Gcs | Store::Azure)
    }

    /// How messages name the store.
    pub fn name(self) -> &'static str {
        match self {
            Store::S3 => "S3",
            Store::Gcs => "Google Cloud Storage",
            Store::Azure => "Azure Blob Storage",
            Store::Http => "HTTP",
            Store::File => "local file",
        }
    }
}

/// A parsed, validated artifact URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArtifactUri {
    pub store: Store,
    /// S3/GCS bucket or Azure container; the host (with port) for HTTP; empty for files.
    pub bucket: String,
    /// Azure storage account, when the URI names it (`abfs://container@account…`).
    pub account: Option<String>,
    /// The object's path inside the bucket, percent-decoded, without a leading `/`; for HTTP the
    /// URL's path; for files the absolute path.
    pub key: String,
    /// The URI as given: what messages show (it carries no credentials: those are refused).
    pub raw: String,
}

/// Why a URI cannot be fetched. Messages name the URI.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UriError {
    #[error("`{uri}` is not a URI (expected s3://, gs://, az://, abfs://, http(s):// or file://)")]
    NotAUri { uri: String },
    #[error(
        "`{uri}`: scheme `{scheme}` cannot be fetched (supported: s3://, gs://, az://, abfs://, http://, https://, file://)"
    )]
    UnsupportedScheme { uri: String, scheme: String },
    #[error("`{uri}`: {reason}")]
    Invalid { uri: String, reason: String },
}

impl ArtifactUri {
    pub fn parse(raw: &str) -> Result<ArtifactUri, UriError> {
        let invalid = |reason: &str| UriError::Invalid {
            uri: raw.to_string(),
            reason: reason.to_string(),
        };
        let Some((scheme, _)) = raw.split_once("://") else {
            return Err(UriError::NotAUri {
                uri: raw.to_string(),
            });
        };
        let store = match scheme.to_ascii_lowercase().as_str() {
            "s3" => Store::S3,
            "gs" => Store::Gcs,
            "az" | "abfs" | "abfss" => Store::Azure,
            "http" | "https" => Store::Http,
            "file" => Store::File,
            _ => {
                return Err(UriError::UnsupportedScheme {
                    uri: raw.to_string(),
                    scheme: scheme.to_string(),
                });
            }
        };
        let url = url::Url::parse(raw).map_err(|e| invalid(&e.to_string()))?;
        if !url.username().is_empty() && store != Store::Azure || url.password().is_some() {
            return Err(invalid(
                "credentials in the URI are refused (the values are not secret): put them in the credentials Secret",
            ));
        }
        if url.fragment().is_some() {
            return Err(invalid("a `#fragment` is not part of an object's name"));
        }
        if url.query().is_some() && store != Store::Http {
            return Err(invalid(
                "a `?query` is not part of an object's name (a SAS token belongs in the credentials Secret)",
            ));
        }
        // The path as written, not `url.path()`: the URL parser resolves `..` and `.` away, which
        // would silently fetch a different object than the one named.
        let key = decoded_path(raw_path(raw)).map_err(|reason| invalid(&reason))?;
        let host = url.host_str().unwrap_or_default().to_string();
        let (bucket, account) = match store {
            Store::S3 | Store::Gcs => {
                check_bucket(&host, store).map_err(|reason| invalid(&reason))?;
                (host, None)
            }
            Store::Azure if scheme.eq_ignore_ascii_case("az") => {
                check_container(&host).map_err(|reason| invalid(&reason))?;
                (host, None)
            }
            Store::Azure => {
                // abfs://<container>@<account>.dfs.core.windows.net/<path>
                let container = url.username().to_string();
                let account = host
                    .split_once('.')
                    .filter(|(_, domain)| domain.ends_with(".core.windows.net"))
                    .map(|(account, _)| account.to_string())
                    .ok_or_else(|| {
                        invalid("expected abfs://<container>@<account>.dfs.core.windows.net/<path>")
                    })?;
                check_container(&container).map_err(|reason| invalid(&reason))?;
                (container, Some(account))
            }
            Store::Http => {
                if host.is_empty() {
                    return Err(invalid("no host"));
                }
                let authority = match url.port() {
                    Some(port) => format!("{host}:{port}"),
                    None => host,
                };
                (authority, None)
            }
            Store::File => {
                if !host.is_empty() && host != "localhost" {
                    return Err(invalid(
                        "a file:// URI names a file on the pod itself: file:///<absolute path>",
                    ));
                }
                (String::new(), None)
            }
        };
        let key = if store == Store::File {
            format!("/{key}")
        } else {
            key
        };
        Ok(ArtifactUri {
            store,
            bucket,
            account,
            key,
            raw: raw.to_string(),
        })
    }

    /// The artifact's file name: the URI's last path segment.
    pub fn file_name(&self) -> &str {
        self.key.rsplit('/').next().unwrap_or(&self.key)
    }

    /// What the artifact is unpacked as, judged by its file name.
    pub fn archive_kind(&self) -> Option<ArchiveKind> {
        let name = self.file_name().to_ascii_lowercase();
        if name.ends_with(".tar.gz") || name.ends_with(".tgz") {
            Some(ArchiveKind::TarGz)
        } else if name.ends_with(".zip") {
            Some(ArchiveKind::Zip)
        } else {
            None
        }
    }
}

impl fmt::Display for ArtifactUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArchiveKind {
    TarGz,
    Zip,
}

/// The path part of `raw` as written: after the authority, before `?` or `#`.
fn raw_path(raw: &str) -> &str {
    let after_scheme = raw.split_once("://").map_or(raw, |(_, rest)| rest);
    let path = after_scheme
        .find('/')
        .map_or("", |start| &after_scheme[start..]);
    path.split(['?', '#']).next().unwrap_or_default()
}

/// A path, percent-decoded, without the leading `/`; it must name an object.
fn decoded_path(path: &str) -> Result<String, String> {
    let mut segments = Vec::new();
    for segment in path.trim_start_matches('/').split('/') {
        let decoded = percent_decode(segment)?;
        match decoded.as_str() {
            "" => {
                return Err(
                    "the path must name an object (no empty segment, no trailing `/`)".into(),
                );
            }
            "." | ".." => return Err("`.` and `..` are not allowed in the path".into()),
            _ if decoded.contains(['/', '\\', '\0']) => {
                return Err(format!("path segment `{decoded}` hides a separator"));
            }
            _ => segments.push(decoded),
        }
    }
    Ok(segments.join("/"))
}

fn percent_decode(segment: &str) -> Result<String, String> {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = segment
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| format!("bad percent-encoding in `{segment}`"))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| format!("`{segment}` is not UTF-8 once decoded"))
}

/// S3 and GCS bucket names: 3-63 characters (GCS allows up to 222 with dots), lowercase letters,
/// digits, `-`, `.` (and `_` for GCS), starting and ending with a letter or digit.
fn check_bucket(name: &str, store: Store) -> Result<(), String> {
    let max = if store == Store::Gcs && name.contains('.') {
        222
    } else {
        63
    };
    let allowed = |c: char| {
        c.is_ascii_lowercase()
            || c.is_ascii_digit()
            || c == '-'
            || c == '.'
            || (c == '_' && store == Store::Gcs)
    };
    let ends_ok = |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    if name.len() < 3 || name.len() > max || !name.chars().all(allowed) {
        return Err(format!(
            "`{name}` is not a bucket name (3-{max} lowercase letters, digits, `-` or `.`)"
        ));
    }
    if !ends_ok(name.chars().next()) || !ends_ok(name.chars().last()) {
        return Err(format!(
            "bucket name `{name}` must start and end with a letter or digit"
        ));
    }
    Ok(())
}

/// Azure container names: 3-63 lowercase letters, digits and single `-`, starting and ending
/// with a letter or digit.
fn check_container(name: &str) -> Result<(), String> {
    let ok = (3..=63).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.starts_with('-')
        && !name.ends_with('-')
        && !name.contains("--");
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{name}` is not an Azure container name (3-63 lowercase letters, digits, single `-`)"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(raw: &str) -> ArtifactUri {
        ArtifactUri::parse(raw).unwrap_or_else(|e| panic!("{raw}: {e}"))
    }

    fn error(raw: &str) -> String {
        ArtifactUri::parse(raw).unwrap_err().to_string()
    }

    #[test]
    fn each_store_is_recognised_with_bucket_and_key() {
        let s3 = parse("s3://models-prod/fraud/1/model.pmml");
        assert_eq!(
            (s3.store, s3.bucket.as_str(), s3.key.as_str()),
            (Store::S3, "models-prod", "fraud/1/model.pmml")
        );
        let gs = parse("gs://ml_models/churn.tar.gz");
        assert_eq!((gs.store, gs.bucket.as_str()), (Store::Gcs, "ml_models"));
        assert_eq!(gs.archive_kind(), Some(ArchiveKind::TarGz));
        let az = parse("az://models/fraud/model.zip");
        assert_eq!(
            (az.store, az.bucket.as_str(), az.account.as_deref()),
            (Store::Azure, "models", None)
        );
        assert_eq!(az.archive_kind(), Some(ArchiveKind::Zip));
        let abfs = parse("abfs://models@acme.dfs.core.windows.net/fraud/model.onnx");
        assert_eq!(
            (
                abfs.store,
                abfs.bucket.as_str(),
                abfs.account.as_deref(),
                abfs.key.as_str()
            ),
            (Store::Azure, "models", Some("acme"), "fraud/model.onnx")
        );
        let http = parse("https://artifacts.example.com:8443/m/fraud%20v1.pmml?x=1");
        assert_eq!(
            (http.store, http.bucket.as_str(), http.file_name()),
            (Store::Http, "artifacts.example.com:8443", "fraud v1.pmml")
        );
        let file = parse("file:///mnt/models/fraud.pmml");
        assert_eq!(
            (file.store, file.key.as_str()),
            (Store::File, "/mnt/models/fraud.pmml")
        );
        assert_eq!(file.archive_kind(), None);
    }

    #[test]
    fn only_object_stores_need_credentials() {
        let needs: Vec<_> = [
            Store::S3,
            Store::Gcs,
            Store::Azure,
            Store::Http,
            Store::File,
        ]
        .map(Store::needs_credentials)
        .to_vec();
        assert_eq!(needs, [true, true, true, false, false]);
    }

    #[test]
    fn unsupported_schemes_and_non_uris_are_refused_by_name() {
        assert_eq!(
            error("ftp://host/model.pmml"),
            "`ftp://host/model.pmml`: scheme `ftp` cannot be fetched (supported: s3://, gs://, az://, abfs://, http://, https://, file://)"
        );
        assert!(error("hdfs://nn/models/x").contains("scheme `hdfs`"));
        assert!(error("models/fraud.pmml").contains("is not a URI"));
    }

    #[test]
    fn paths_that_name_no_object_or_escape_are_refused() {
        assert!(error("s3://bucket/").contains("must name an object"));
        assert!(error("s3://bucket").contains("must name an object"));
        assert!(error("s3://bucket/a//b").contains("must name an object"));
        assert!(error("gs://bucket/a/%2e%2e/b").contains("`..`"));
        assert!(error("s3://bucket/a%2Fb").contains("hides a separator"));
        assert!(error("file:///models/../etc/passwd").contains("`..`"));
        assert!(error("s3://bucket/a/./b").contains("`..`"));
        assert!(error("file://otherhost/x").contains("on the pod itself"));
    }

    #[test]
    fn credentials_in_the_uri_are_refused() {
        assert!(error("https://user:pw@host/model.pmml").contains("credentials in the URI"));
        assert!(error("s3://key@bucket/model.pmml").contains("credentials in the URI"));
        assert!(error("az://models/m.pmml?sv=2020&sig=abc").contains("SAS token"));
    }

    #[test]
    fn bucket_and_container_names_follow_the_stores_rules() {
        assert!(error("s3://Models/x").contains("not a bucket name"));
        assert!(error("s3://ab/x").contains("not a bucket name"));
        assert!(error("s3://-bucket/x").contains("start and end"));
        assert!(error("az://my_models/x").contains("not an Azure container name"));
        assert!(error("abfs://models@acme.example.com/x").contains("abfs://<container>@<account>"));
    }
}
