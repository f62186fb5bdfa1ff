//! What commits change, as git's own diff output shows it: the files each commit of a range
//! touches (`log --numstat`) and the full patches a reviewer reads (`log -p`).

use super::cli::{self as git, GitError};
use gix::ObjectId;
use std::collections::HashMap;
use std::path::Path;

/// A file a commit changes, with the lines it adds and deletes (`None` for a binary file).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FileStat {
    /// The file's path, as git prints it.
    pub path: String,
    /// Lines added.
    pub added: Option<u64>,
    /// Lines deleted.
    pub deleted: Option<u64>,
}

/// Per commit of `range`: the files it changes, with lines added and deleted.
pub fn numstat(
    repo: &gix::Repository,
    range: &str,
) -> Result<HashMap<ObjectId, Vec<FileStat>>, GitError> {
    let out = git::checked(
        &crate::git::run_dir(repo),
        &[
            // Paths as they are (only control characters, quotes and backslashes quoted), so
            // that they compare with the paths a plan names.
            "-c",
            "core.quotePath=false",
            "log",
            "--numstat",
            "--format=commit %H",
            "--no-renames",
            range,
            "--",
        ],
        &[],
        None,
    )?;
    Ok(parse_numstat(&out))
}

/// Read `log --numstat --format='commit %H'` output.
fn parse_numstat(out: &[u8]) -> HashMap<ObjectId, Vec<FileStat>> {
    let mut map: HashMap<ObjectId, Vec<FileStat>> = HashMap::new();
    let mut current = None;
    for line in String::from_utf8_lossy(out).lines() {
        if let Some(id) = line.strip_prefix("commit ") {
            current = ObjectId::from_hex(id.trim().as_bytes()).ok();
            continue;
        }
        let mut parts = line.splitn(3, '\t');
        let (Some(a), Some(d), Some(path)) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        if let Some(id) = current {
            map.entry(id).or_default().push(FileStat {
                path: path.to_owned(),
                added: a.parse::<u64>().ok(),
                deleted: d.parse::<u64>().ok(),
            });
        }
    }
    map
}

/// The commits of `range`, oldest first, as a reviewer reads them: headers, stat and patch.
pub fn review_log(dir: &Path, range: &str, color: bool) -> Result<Vec<u8>, GitError> {
    git::checked(
        dir,
        &[
            "log",
            "--reverse",
            "--stat",
            "-p",
            // A merge shows what it changed against the automatic merge of its parents.
            "--remerge-diff",
            // Every change the approval will cover, whatever the config hides.
            "--no-ext-diff",
            "--ignore-submodules=none",
            "--no-relative",
            "--format=fuller",
            if color {
                "--color=always"
            } else {
                "--color=never"
            },
            range,
            "--",
        ],
        &[],
        None,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numstat_lines_per_commit() {
        let a = "1111111111111111111111111111111111111111";
        let b = "2222222222222222222222222222222222222222";
        let out =
            format!("commit {a}\n\n3\t1\tsrc/x.rs\n-\t-\tlogo.png\ncommit {b}\n\n0\t2\ta\tb.txt\n");
        let map = parse_numstat(out.as_bytes());
        let a = ObjectId::from_hex(a.as_bytes()).expect("hex");
        let b = ObjectId::from_hex(b.as_bytes()).expect("hex");
        assert_eq!(
            map[&a],
            [
                FileStat {
                    path: "src/x.rs".into(),
                    added: Some(3),
                    deleted: Some(1)
                },
                FileStat {
                    path: "logo.png".into(),
                    added: None,
                    deleted: None
                }
            ]
        );
        assert_eq!(map[&b][0].path, "a\tb.txt");
    }
}
