//! Helm's other value flags besides `--set`: `--set-string` (never typed), `--set-json` (a JSON
//! value) and `--set-file` (a file's content as a string), applied in Helm's order.

use super::{ValuesError, apply_set_as, parse_path, set_path, split_once_unescaped};
use serde_json::Value;

/// The largest file `--set-file` reads: the size of a ConfigMap's data, which is where such a
/// value ends up at most.
pub const MAX_SET_FILE_BYTES: u64 = 1024 * 1024;

/// One value flag of the command line, as given. `--set-file` carries its files' contents,
/// read by the command ([`read_set_file`]), so that preprocessing stays free of I/O.
#[derive(Debug, Clone, PartialEq)]
pub enum SetFlag {
    /// `--set-json PATH=JSON[,PATH=JSON…]`.
    Json(String),
    /// `--set PATH=VALUE[,…]`.
    Typed(String),
    /// `--set-string PATH=VALUE[,…]`.
    String(String),
    /// `--set-file PATH=FILE[,…]`: each path with its file's content.
    File {
        expression: String,
        contents: Vec<(String, String)>,
    },
}

impl SetFlag {
    /// Orders the flags as Helm applies them (after the `-f` files): every `--set-json`, then
    /// every `--set`, every `--set-string`, every `--set-file`, each kind in command-line order.
    pub fn in_helm_order(
        json: &[String],
        typed: &[String],
        string: &[String],
        files: Vec<SetFlag>,
    ) -> Vec<SetFlag> {
        let mut all: Vec<SetFlag> = json.iter().cloned().map(SetFlag::Json).collect();
        all.extend(typed.iter().cloned().map(SetFlag::Typed));
        all.extend(string.iter().cloned().map(SetFlag::String));
        all.extend(files);
        all
    }

    pub fn apply(&self, values: &mut Value) -> Result<(), ValuesError> {
        match self {
            SetFlag::Typed(expression) => super::apply_set(values, expression),
            SetFlag::String(expression) => {
                apply_set_as(values, expression, "--set-string", |raw| {
                    Value::String(raw.replace("\\,", ","))
                })
            }
            SetFlag::Json(expression) => apply_set_json(values, expression),
            SetFlag::File {
                expression,
                contents,
            } => {
                for (path, content) in contents {
                    let segments = parse_path(path).map_err(|reason| ValuesError::Set {
                        flag: "--set-file",
                        expression: expression.clone(),
                        reason,
                    })?;
                    set_path(values, &segments, Value::String(content.clone())).map_err(
                        |reason| ValuesError::Set {
                            flag: "--set-file",
                            expression: expression.clone(),
                            reason,
                        },
                    )?;
                }
                Ok(())
            }
        }
    }
}

/// `--set-json a.b={"x":1},c=[1,2]`: each value is one JSON value, ended by `,` or the end.
fn apply_set_json(values: &mut Value, expression: &str) -> Result<(), ValuesError> {
    // The values are never repeated in a message: they may be secrets.
    let shown = super::shown_key(expression.split('=').next().unwrap_or_default());
    let error = |reason: String| ValuesError::Set {
        flag: "--set-json",
        expression: shown.clone(),
        reason,
    };
    let mut rest = expression.to_string();
    loop {
        let (path, json) = split_once_unescaped(&rest, '=')
            .ok_or_else(|| error("expected key=<JSON value>".into()))?;
        let segments = parse_path(&path).map_err(&error)?;
        let mut stream = serde_json::Deserializer::from_str(&json).into_iter::<Value>();
        let value = match stream.next() {
            Some(Ok(value)) => value,
            Some(Err(err)) => return Err(error(format!("`{path}`: invalid JSON: {err}"))),
            None => return Err(error(format!("`{path}`: expected a JSON value"))),
        };
        let tail = json[stream.byte_offset()..].trim_start();
        set_path(values, &segments, value).map_err(&error)?;
        if tail.is_empty() {
            return Ok(());
        }
        rest = tail
            .strip_prefix(',')
            .ok_or_else(|| {
                error(format!(
                    "`{path}`: unexpected text after the JSON value (separate assignments with `,`)"
                ))
            })?
            .to_string();
    }
}

/// The `(path, file)` pairs of one `--set-file` expression: `a=x.txt,b.c=y.txt` (`\,` for a
/// comma in a file name).
pub fn set_file_assignments(expression: &str) -> Result<Vec<(String, String)>, ValuesError> {
    let error = |reason: &str| ValuesError::Set {
        flag: "--set-file",
        expression: expression.to_string(),
        reason: reason.to_string(),
    };
    super::split_unescaped(expression, ',', false)
        .into_iter()
        .map(|assignment| {
            let (path, file) =
                split_once_unescaped(&assignment, '=').ok_or_else(|| error("expected key=FILE"))?;
            parse_path(&path).map_err(|reason| error(&reason))?;
            let file = file.replace("\\,", ",");
            if file.is_empty() {
                return Err(error(&format!("`{path}`: no file name")));
            }
            Ok((path, file))
        })
        .collect()
}

/// Reads `--set-file`'s files: UTF-8 text of at most [`MAX_SET_FILE_BYTES`]. An error names the
/// flag and the file, never the content (it may be a secret).
pub fn read_set_file(expression: &str) -> Result<SetFlag, ValuesError> {
    let error = |file: &str, reason: String| ValuesError::Set {
        flag: "--set-file",
        expression: expression.to_string(),
        reason: format!("{file}: {reason}"),
    };
    let mut contents = Vec::new();
    for (path, file) in set_file_assignments(expression)? {
        let metadata = std::fs::metadata(&file).map_err(|err| error(&file, err.to_string()))?;
        if !metadata.is_file() {
            return Err(error(&file, "is not a regular file".into()));
        }
        if metadata.len() > MAX_SET_FILE_BYTES {
            return Err(error(
                &file,
                format!(
                    "is {} bytes; --set-file reads at most {MAX_SET_FILE_BYTES} bytes (1 MiB)",
                    metadata.len()
                ),
            ));
        }
        let mut bytes = Vec::with_capacity(metadata.len() as usize);
        use std::io::Read;
        std::fs::File::open(&file)
            .and_then(|f| f.take(MAX_SET_FILE_BYTES + 1).read_to_end(&mut bytes))
            .map_err(|err| error(&file, err.to_string()))?;
        if bytes.len() as u64 > MAX_SET_FILE_BYTES {
            return Err(error(
                &file,
                format!("grew beyond {MAX_SET_FILE_BYTES} bytes while being read"),
            ));
        }
        let content =
            String::from_utf8(bytes).map_err(|_| error(&file, "is not UTF-8 text".into()))?;
        contents.push((path, content));
    }
    Ok(SetFlag::File {
        expression: expression.to_string(),
        contents,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn apply_all(flags: &[SetFlag]) -> Result<Value, ValuesError> {
        let mut values = json!({"keep": 1});
        for flag in flags {
            flag.apply(&mut values)?;
        }
        Ok(values)
    }

    #[test]
    fn set_string_never_types() {
        let values = apply_all(&[SetFlag::String(
            "a=true,b=12,c=null,d=0123,e={1,false},f=x\\,y".into(),
        )])
        .unwrap();
        assert_eq!(
            values,
            json!({"keep": 1, "a": "true", "b": "12", "c": "null", "d": "0123", "e": ["1", "false"], "f": "x,y"})
        );
    }

    #[test]
    fn set_json_parses_json_values() {
        let values = apply_all(&[SetFlag::Json(
            r#"a.b={"x":[1,2.5,"s"],"y":{"z":null}},list[1]=true ,c="q,=r""#.into(),
        )])
        .unwrap();
        assert_eq!(
            values,
            json!({"keep": 1, "a": {"b": {"x": [1, 2.5, "s"], "y": {"z": null}}}, "list": [null, true], "c": "q,=r"})
        );
    }

    #[test]
    fn set_json_errors_name_the_flag_and_the_key() {
        let err = apply_all(&[SetFlag::Json("a={x:1}".into())])
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("--set-json `a`: `a`: invalid JSON"),
            "{err}"
        );
        assert!(!err.contains("{x:1}"), "a value may be a secret: {err}");
        let err = apply_all(&[SetFlag::Json("a=1 2".into())])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("unexpected text after the JSON value"),
            "{err}"
        );
        let err = apply_all(&[SetFlag::Json("a=".into())])
            .unwrap_err()
            .to_string();
        assert!(err.contains("expected a JSON value"), "{err}");
        assert!(apply_all(&[SetFlag::Json("novalue".into())]).is_err());
    }

    #[test]
    fn helm_order_is_json_then_set_then_string_then_file() {
        let file = SetFlag::File {
            expression: "x=f".into(),
            contents: vec![("x".into(), "from file".into())],
        };
        let flags = SetFlag::in_helm_order(
            &["x=\"json\"".into()],
            &["x=7".into()],
            &["x=string".into()],
            vec![file],
        );
        assert_eq!(apply_all(&flags).unwrap()["x"], "from file");
        let flags = SetFlag::in_helm_order(
            &["x=\"json\"".into()],
            &["x=7".into()],
            &["y=1".into()],
            vec![],
        );
        assert_eq!(
            apply_all(&flags).unwrap()["x"],
            7,
            "--set wins over --set-json"
        );
    }

    #[test]
    fn set_file_reads_the_content_as_a_string() {
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("run,me.sh");
        std::fs::write(&script, "#!/bin/sh\necho 12\n").unwrap();
        let number = dir.path().join("n.txt");
        std::fs::write(&number, "12").unwrap();
        let expression = format!(
            "cfg.script={},cfg.n={}",
            script.display().to_string().replace(',', "\\,"),
            number.display()
        );
        let flag = read_set_file(&expression).unwrap();
        let values = apply_all(&[flag]).unwrap();
        assert_eq!(values["cfg"]["script"], "#!/bin/sh\necho 12\n");
        assert_eq!(values["cfg"]["n"], "12", "a file's content is never typed");
    }

    #[test]
    fn set_file_errors_name_the_file_and_never_the_content() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.txt");
        let err = read_set_file(&format!("a={}", missing.display()))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("--set-file `a="), "{err}");
        assert!(err.contains("missing.txt:"), "{err}");

        let big = dir.path().join("big.bin");
        std::fs::write(&big, "s3cr3t".repeat(200_000)).unwrap();
        let err = read_set_file(&format!("a={}", big.display()))
            .unwrap_err()
            .to_string();
        assert!(err.contains("big.bin: is 1200000 bytes"), "{err}");
        assert!(!err.contains("s3cr3t"), "{err}");

        let binary = dir.path().join("binary");
        std::fs::write(&binary, [0xff, 0xfe, 0x00]).unwrap();
        let err = read_set_file(&format!("a={}", binary.display()))
            .unwrap_err()
            .to_string();
        assert!(err.contains("binary: is not UTF-8 text"), "{err}");

        let err = read_set_file(&format!("a={}", dir.path().display()))
            .unwrap_err()
            .to_string();
        assert!(err.contains("is not a regular file"), "{err}");
        assert!(read_set_file("a=").is_err());
        assert!(read_set_file("nofile").is_err());
    }
}
