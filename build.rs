//! Records the git revision the binary is built from, for `--version`:
//! `BALANCE_MONITOR_GIT_REVISION` is the commit's 12-character hash, with `-dirty` when
//! tracked files differ from it, or `unknown` when the sources are not a git checkout
//! of this crate (a crate tarball, or git missing).
//!
//! It also lists PostgreSQL's migrations (`src/store/postgres/migrations/NNNN_name.sql`)
//! into `$OUT_DIR/postgres_migrations.rs`, so that adding a migration is adding its file.
//!
//! It reruns only when the checked-out commit or the sources can have changed: git's
//! HEAD, the branch it points to, packed refs and the index, and the crate's own
//! sources. Plain `std::process::Command`, no build dependency.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let manifest_dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap());
    for path in ["build.rs", "Cargo.toml", "Cargo.lock", "src"] {
        println!("cargo:rerun-if-changed={path}");
    }
    let revision = git_revision(&manifest_dir).unwrap_or_else(|| "unknown".to_string());
    println!("cargo:rustc-env=BALANCE_MONITOR_GIT_REVISION={revision}");
    list_postgres_migrations(&manifest_dir);
}

/// Writes the PostgreSQL migrations as a Rust slice of `(version, name, sql)`, in
/// version order. The store checks the numbers (no gap, no repeat) in a unit test.
fn list_postgres_migrations(manifest_dir: &Path) {
    let folder = manifest_dir.join("src/store/postgres/migrations");
    println!("cargo:rerun-if-changed={}", folder.display());
    let mut found: Vec<(u32, String, PathBuf)> = std::fs::read_dir(&folder)
        .expect("src/store/postgres/migrations is readable")
        .filter_map(|entry| {
            let path = entry.ok()?.path();
            let file = path.file_name()?.to_str()?.to_string();
            let stem = file.strip_suffix(".sql")?;
            let (number, name) = stem.split_once('_')?;
            Some((number.parse().ok()?, name.replace('_', " "), path))
        })
        .collect();
    found.sort();
    let mut text = String::from("&[\n");
    for (version, name, path) in found {
        text.push_str(&format!(
            "    ({version}, {name:?}, include_str!({:?})),\n",
            path.display().to_string()
        ));
    }
    text.push_str("]\n");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").unwrap()).join("postgres_migrations.rs");
    std::fs::write(out, text).expect("OUT_DIR is writable");
}

/// The revision, or `None` when `dir` is not the top of a git work tree.
fn git_revision(dir: &Path) -> Option<String> {
    // A crate unpacked inside some other repository must not take that one's HEAD.
    let top = git(dir, &["rev-parse", "--show-toplevel"])?;
    if std::fs::canonicalize(&top).ok()? != std::fs::canonicalize(dir).ok()? {
        return None;
    }
    // In a linked work tree HEAD and the index are per tree, the refs shared:
    // `--git-path` names the right file either way.
    // A file that does not exist (packed-refs, often) is not named: Cargo would rerun
    // the script on every build.
    let branch = git(dir, &["symbolic-ref", "-q", "HEAD"]);
    for name in ["HEAD", "index", "packed-refs"]
        .into_iter()
        .chain(branch.as_deref())
    {
        if let Some(path) = git(dir, &["rev-parse", "--git-path", name]).map(|p| dir.join(p))
            && path.exists()
        {
            println!("cargo:rerun-if-changed={}", path.display());
        }
    }
    let hash = git(dir, &["rev-parse", "--short=12", "HEAD"])?;
    // `--no-optional-locks`: status must not refresh the index, which would rerun this.
    let dirty = git(
        dir,
        &[
            "--no-optional-locks",
            "status",
            "--porcelain",
            "--untracked-files=no",
        ],
    )
    .is_some_and(|changes| !changes.is_empty());
    Some(if dirty { format!("{hash}-dirty") } else { hash })
}

/// Runs git in `dir`; its trimmed standard output if it succeeds.
fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let output = Command::new("git")
        .current_dir(dir)
        .args(args)
        .output()
        .ok()?;
    if !output.status.success() {
        return None;
    }
    Some(String::from_utf8(output.stdout).ok()?.trim().to_string())
}
