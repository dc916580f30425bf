//! The object stores' credentials (docs/artifact-stores.md, "Credentials"): which settings each
//! store needs, whether the keys of a Secret provide them, and the data of the job-owned Secret
//! that `install --artifact-credentials from-env` makes from the executor's own environment.
//! Pure: the environment and files come in as arguments; no value ever goes into a message.

use super::uri::Store;
use std::collections::{BTreeMap, BTreeSet};
use std::str::FromStr;

/// Where the credentials come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// A Secret that already exists, named by `global.artifacts.credentialsSecret`; install checks
    /// it is there (and has what the job's stores need) before applying anything.
    #[default]
    Reference,
    /// install creates a job-owned Secret from its own environment (the Tekton Task gets it from
    /// a Secret the platform provides); finally deletes it with the job.
    FromEnv,
}

impl Mode {
    pub const NAMES: [&str; 2] = ["reference", "from-env"];
}

impl FromStr for Mode {
    type Err = String;
    fn from_str(text: &str) -> Result<Mode, String> {
        match text {
            "reference" => Ok(Mode::Reference),
            "from-env" => Ok(Mode::FromEnv),
            other => Err(format!(
                "`{other}` is not a credentials mode (one of: {})",
                Mode::NAMES.join(", ")
            )),
        }
    }
}

/// The Secret key, and file name where the chart mounts the Secret, of a Google Cloud service
/// account JSON (the ecosystem passes it as a file: `GOOGLE_APPLICATION_CREDENTIALS`).
pub const GOOGLE_CREDENTIALS_FILE: &str = "google-application-credentials.json";

/// Where the chart mounts the credentials Secret in the `fetch-models` init container.
pub const MOUNT_DIR: &str = "/var/run/secrets/modelops/artifact-credentials";

/// The variables of the install's environment that name a service-account file: its content
/// goes into the Secret as [`GOOGLE_CREDENTIALS_FILE`] (the path means nothing in another pod).
pub const GOOGLE_FILE_VARIABLES: [&str; 3] = [
    "GOOGLE_APPLICATION_CREDENTIALS",
    "GOOGLE_SERVICE_ACCOUNT",
    "GOOGLE_SERVICE_ACCOUNT_PATH",
];

/// A service-account JSON is a few KiB; anything much larger is not one.
pub const MAX_CREDENTIALS_FILE_BYTES: u64 = 64 * 1024;

/// What a store needs: any one of these groups of keys, every key of the group present.
fn alternatives(store: Store) -> &'static [&'static [&'static str]] {
    match store {
        Store::S3 => &[
            &["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"],
            &["AWS_SKIP_SIGNATURE"],
        ],
        Store::Gcs => &[
            &[GOOGLE_CREDENTIALS_FILE],
            &["GOOGLE_SERVICE_ACCOUNT_KEY"],
            &["GOOGLE_SKIP_SIGNATURE"],
        ],
        Store::Azure => &[
            &["AZURE_STORAGE_ACCOUNT_KEY"],
            &["AZURE_STORAGE_ACCESS_KEY"],
            &["AZURE_STORAGE_SAS_KEY"],
            &["AZURE_STORAGE_SAS_TOKEN"],
            &["AZURE_STORAGE_TOKEN"],
            &[
                "AZURE_STORAGE_CLIENT_ID",
                "AZURE_STORAGE_CLIENT_SECRET",
                "AZURE_STORAGE_TENANT_ID",
            ],
            &["AZURE_STORAGE_USE_EMULATOR"],
            &["AZURE_SKIP_SIGNATURE"],
        ],
        Store::Http | Store::File => &[],
    }
}

/// `None` when `has` holds for every key of one of the store's groups; otherwise what is
/// missing, in words (key names only).
pub fn missing(store: Store, has: impl Fn(&str) -> bool) -> Option<String> {
    let groups = alternatives(store);
    if groups.is_empty() || groups.iter().any(|group| group.iter().all(|key| has(key))) {
        return None;
    }
    let described: Vec<String> = groups.iter().map(|group| group.join(" and ")).collect();
    Some(format!(
        "{} needs {}",
        store.name(),
        described.join(", or ")
    ))
}

/// The prefix of the variables a store's client reads.
fn prefix(store: Store) -> Option<&'static str> {
    match store {
        Store::S3 => Some("AWS_"),
        Store::Gcs => Some("GOOGLE_"),
        Store::Azure => Some("AZURE_"),
        Store::Http | Store::File => None,
    }
}

/// Whether `fetch-models` reads the variable `name` for `store` (object_store's own names and
/// aliases, the way it reads the environment).
fn understood(store: Store, name: &str) -> bool {
    let key = name.to_ascii_lowercase();
    match store {
        Store::S3 => object_store::aws::AmazonS3ConfigKey::from_str(&key).is_ok(),
        Store::Gcs => object_store::gcp::GoogleConfigKey::from_str(&key).is_ok(),
        Store::Azure => object_store::azure::AzureConfigKey::from_str(&key).is_ok(),
        Store::Http | Store::File => false,
    }
}

/// Why the environment cannot make the Secret (names only, never values).
#[derive(Debug, PartialEq, Eq)]
pub enum FromEnvError {
    /// A store the job uses has nothing to authenticate with.
    Missing {
        store: Store,
        models: String,
        need: String,
    },
    /// A service-account file named by a variable could not be read.
    File { variable: String, reason: String },
}

impl std::fmt::Display for FromEnvError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FromEnvError::Missing { models, need, .. } => write!(
                f,
                "model(s) {models}: {need} in the executor's environment (--artifact-credentials from-env)"
            ),
            FromEnvError::File { variable, reason } => {
                write!(
                    f,
                    "{variable}: cannot read the service-account file: {reason}"
                )
            }
        }
    }
}

/// The data of the job-owned credentials Secret: for every store the job's models use, the
/// variables of `env` its client reads (a service-account file's content under
/// [`GOOGLE_CREDENTIALS_FILE`]); every store must end up with what it needs. `stores` maps each
/// store to the models on it (for messages); `read_file` reads a path named by a variable.
pub fn from_environment(
    stores: &BTreeMap<Store, Vec<String>>,
    env: &BTreeMap<String, String>,
    read_file: impl Fn(&str) -> Result<Vec<u8>, String>,
) -> Result<BTreeMap<String, Vec<u8>>, Vec<FromEnvError>> {
    let mut data = BTreeMap::new();
    let mut problems = Vec::new();
    for (&store, models) in stores {
        let Some(prefix) = prefix(store) else {
            continue;
        };
        for (name, value) in env.range(prefix.to_string()..) {
            if !name.starts_with(prefix) {
                break;
            }
            if store == Store::Gcs && GOOGLE_FILE_VARIABLES.contains(&name.as_str()) {
                if data.contains_key(GOOGLE_CREDENTIALS_FILE) {
                    continue;
                }
                match read_file(value) {
                    Ok(bytes) => {
                        data.insert(GOOGLE_CREDENTIALS_FILE.to_string(), bytes);
                    }
                    Err(reason) => problems.push(FromEnvError::File {
                        variable: name.clone(),
                        reason,
                    }),
                }
            } else if understood(store, name) && !value.is_empty() {
                data.insert(name.clone(), value.clone().into_bytes());
            }
        }
        if let Some(need) = missing(store, |key| data.contains_key(key)) {
            problems.push(FromEnvError::Missing {
                store,
                models: models.join(", "),
                need,
            });
        }
    }
    if problems.is_empty() {
        Ok(data)
    } else {
        Err(problems)
    }
}

/// The keys of an existing Secret that the job's stores lack, as one message per store.
pub fn missing_in_secret(
    stores: &BTreeMap<Store, Vec<String>>,
    keys: &BTreeSet<String>,
) -> Vec<String> {
    stores
        .iter()
        .filter_map(|(&store, models)| {
            missing(store, |key| keys.contains(key))
                .map(|need| format!("model(s) {}: {need}", models.join(", ")))
        })
        .collect()
}

/// The component label of the job-owned credentials Secret.
pub const COMPONENT: &str = "artifact-credentials";

/// The job-owned credentials Secret (before the executor stamps its job labels and namespace).
pub fn secret_manifest(name: &str, data: &BTreeMap<String, Vec<u8>>) -> serde_json::Value {
    use base64::Engine as _;
    let data: serde_json::Map<String, serde_json::Value> = data
        .iter()
        .map(|(key, value)| {
            let encoded = base64::engine::general_purpose::STANDARD.encode(value);
            (key.clone(), serde_json::Value::String(encoded))
        })
        .collect();
    serde_json::json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": name,
            "labels": {crate::k8s::ownership::LABEL_COMPONENT: COMPONENT},
            "annotations": {
                "modelops.io/source": "install --artifact-credentials from-env: the executor's environment",
            },
        },
        "type": "Opaque",
        "immutable": false,
        "data": data,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stores(list: &[(Store, &str)]) -> BTreeMap<Store, Vec<String>> {
        let mut map: BTreeMap<Store, Vec<String>> = BTreeMap::new();
        for (store, model) in list {
            map.entry(*store).or_default().push(model.to_string());
        }
        map
    }

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn no_files(path: &str) -> Result<Vec<u8>, String> {
        Err(format!("no file {path}"))
    }

    #[test]
    fn modes_parse_and_name_the_choices() {
        assert_eq!("reference".parse(), Ok(Mode::Reference));
        assert_eq!("from-env".parse(), Ok(Mode::FromEnv));
        assert_eq!(
            "env".parse::<Mode>().unwrap_err(),
            "`env` is not a credentials mode (one of: reference, from-env)"
        );
    }

    #[test]
    fn each_store_takes_only_its_own_understood_variables() {
        let env = env(&[
            ("AWS_ACCESS_KEY_ID", "AKIA1"),
            ("AWS_SECRET_ACCESS_KEY", "s3cret-value"),
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:9000"),
            ("AWS_REGION", "us-east-1"),
            // Not read by the S3 client: a path into the install pod.
            ("AWS_CONFIG_FILE", "/root/.aws/config"),
            ("AZURE_STORAGE_ACCOUNT_KEY", "azkey"),
            ("HOME", "/root"),
        ]);
        let data = from_environment(&stores(&[(Store::S3, "fraud")]), &env, no_files).unwrap();
        assert_eq!(
            data.keys().collect::<Vec<_>>(),
            [
                "AWS_ACCESS_KEY_ID",
                "AWS_ENDPOINT_URL",
                "AWS_REGION",
                "AWS_SECRET_ACCESS_KEY"
            ]
        );
        assert_eq!(data["AWS_SECRET_ACCESS_KEY"], b"s3cret-value");
    }

    #[test]
    fn a_service_account_file_becomes_the_mounted_file() {
        let env = env(&[
            ("GOOGLE_APPLICATION_CREDENTIALS", "/var/run/sa.json"),
            ("GOOGLE_CLOUD_PROJECT", "p"),
        ]);
        let data = from_environment(&stores(&[(Store::Gcs, "embed")]), &env, |path| {
            assert_eq!(path, "/var/run/sa.json");
            Ok(b"{\"type\":\"service_account\"}".to_vec())
        })
        .unwrap();
        assert_eq!(
            data.keys().collect::<Vec<_>>(),
            [GOOGLE_CREDENTIALS_FILE],
            "the path itself is not copied"
        );
        let err = from_environment(&stores(&[(Store::Gcs, "embed")]), &env, no_files).unwrap_err();
        assert_eq!(
            err[0].to_string(),
            "GOOGLE_APPLICATION_CREDENTIALS: cannot read the service-account file: no file /var/run/sa.json"
        );
    }

    #[test]
    fn a_store_without_what_it_needs_is_named_with_its_models_and_never_a_value() {
        let env = env(&[
            ("AWS_ACCESS_KEY_ID", "AKIA-visible-id"),
            ("AZURE_STORAGE_SAS_KEY", "sv=1&sig=zzz"),
        ]);
        let problems = from_environment(
            &stores(&[
                (Store::S3, "fraud"),
                (Store::S3, "risk"),
                (Store::Azure, "x"),
            ]),
            &env,
            no_files,
        )
        .unwrap_err();
        assert_eq!(problems.len(), 1, "{problems:?}");
        let text = problems[0].to_string();
        assert_eq!(
            text,
            "model(s) fraud, risk: S3 needs AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_SKIP_SIGNATURE in the executor's environment (--artifact-credentials from-env)"
        );
        assert!(!text.contains("AKIA-visible-id"));
    }

    #[test]
    fn http_and_file_models_need_nothing() {
        let data = from_environment(
            &stores(&[(Store::Http, "a"), (Store::File, "b")]),
            &env(&[("AWS_SECRET_ACCESS_KEY", "x")]),
            no_files,
        )
        .unwrap();
        assert!(data.is_empty());
    }

    #[test]
    fn the_secret_manifest_carries_the_data_base64_encoded() {
        let data = BTreeMap::from([("AWS_ACCESS_KEY_ID".to_string(), b"AKIA1".to_vec())]);
        let secret = secret_manifest("job-1-artifact-credentials", &data);
        assert_eq!(secret["metadata"]["name"], "job-1-artifact-credentials");
        assert_eq!(secret["data"]["AWS_ACCESS_KEY_ID"], "QUtJQTE=");
        assert_eq!(
            secret["metadata"]["labels"]["app.kubernetes.io/component"],
            COMPONENT
        );
    }

    #[test]
    fn a_secret_is_checked_by_its_key_names() {
        let keys: BTreeSet<String> = ["AWS_ACCESS_KEY_ID", GOOGLE_CREDENTIALS_FILE]
            .map(String::from)
            .into();
        let problems = missing_in_secret(
            &stores(&[(Store::S3, "fraud"), (Store::Gcs, "embed")]),
            &keys,
        );
        assert_eq!(
            problems,
            [
                "model(s) fraud: S3 needs AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_SKIP_SIGNATURE"
            ]
        );
    }
}
