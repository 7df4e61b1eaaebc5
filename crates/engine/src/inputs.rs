//! Turning command-line inputs (files, directories, globs) into a list of capture files.

use std::path::{Path, PathBuf};

/// One capture file to read, with the name it is reported under.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InputFile {
    /// Where to read it.
    pub path: PathBuf,
    /// The path as the user gave it or as found under a directory they gave.
    pub name: String,
}

/// An input that could not be expanded (missing path, unreadable directory, glob with no
/// match). Reported as a `captures` row with the error set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InputError {
    /// The input as given.
    pub name: String,
    /// What went wrong.
    pub message: String,
}

/// Expand inputs: a file is taken as is (its format is checked when it is opened), a
/// directory is walked recursively (hidden files skipped, sorted so runs are reproducible),
/// anything else containing `*`, `?` or `[` is a glob.
pub fn expand(inputs: &[String]) -> (Vec<InputFile>, Vec<InputError>) {
    let mut files = Vec::new();
    let mut errors = Vec::new();
    for input in inputs {
        let path = Path::new(input);
        if path.is_dir() {
            walk(path, &mut files, &mut errors);
        } else if path.exists() || path.is_symlink() {
            files.push(InputFile {
                path: path.to_path_buf(),
                name: input.clone(),
            });
        } else if input.contains(['*', '?', '[']) {
            match glob::glob(input) {
                Ok(paths) => {
                    let mut matched: Vec<PathBuf> = Vec::new();
                    for p in paths {
                        match p {
                            Ok(p) => matched.push(p),
                            Err(e) => errors.push(InputError {
                                name: e.path().display().to_string(),
                                message: e.error().to_string(),
                            }),
                        }
                    }
                    if matched.is_empty() {
                        errors.push(InputError {
                            name: input.clone(),
                            message: "no file matches this pattern".into(),
                        });
                    }
                    matched.sort();
                    for p in matched {
                        if p.is_dir() {
                            walk(&p, &mut files, &mut errors);
                        } else {
                            files.push(InputFile {
                                name: p.display().to_string(),
                                path: p,
                            });
                        }
                    }
                }
                Err(e) => errors.push(InputError {
                    name: input.clone(),
                    message: format!("bad pattern: {e}"),
                }),
            }
        } else {
            errors.push(InputError {
                name: input.clone(),
                message: "no such file or directory".into(),
            });
        }
    }
    (files, errors)
}

fn walk(dir: &Path, files: &mut Vec<InputFile>, errors: &mut Vec<InputError>) {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            errors.push(InputError {
                name: dir.display().to_string(),
                message: format!("cannot read directory: {e}"),
            });
            return;
        }
    };
    let mut paths: Vec<PathBuf> = Vec::new();
    for e in entries {
        match e {
            Ok(e) => {
                if e.file_name().to_string_lossy().starts_with('.') {
                    continue;
                }
                paths.push(e.path());
            }
            Err(e) => errors.push(InputError {
                name: dir.display().to_string(),
                message: format!("cannot list directory: {e}"),
            }),
        }
    }
    paths.sort();
    for p in paths {
        if p.is_dir() {
            walk(&p, files, errors);
        } else {
            files.push(InputFile {
                name: p.display().to_string(),
                path: p,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expands_dirs_globs_and_reports_missing() {
        let root = std::env::temp_dir().join(format!("wh-inputs-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("sub")).unwrap();
        std::fs::write(root.join("b.pcap"), b"").unwrap();
        std::fs::write(root.join("a.pcap"), b"").unwrap();
        std::fs::write(root.join("sub/c.pcapng"), b"").unwrap();
        std::fs::write(root.join(".hidden"), b"").unwrap();
        let r = root.display().to_string();
        let (files, errors) = expand(&[r.clone(), format!("{r}/*.pcap"), format!("{r}/nope")]);
        let names: Vec<_> = files
            .iter()
            .map(|f| f.path.strip_prefix(&root).unwrap().display().to_string())
            .collect();
        assert_eq!(
            names,
            ["a.pcap", "b.pcap", "sub/c.pcapng", "a.pcap", "b.pcap"]
        );
        assert_eq!(errors.len(), 1);
        assert!(errors[0].message.contains("no such file"));
        let (_, errors) = expand(&[format!("{r}/*.nothing")]);
        assert!(errors[0].message.contains("no file matches"));
        std::fs::remove_dir_all(&root).unwrap();
    }
}
