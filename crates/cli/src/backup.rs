//! `reemploi backup` and `reemploi restore`: the embedded mode's data
//! directory in one file, taken while `up` runs, and brought back.
//!
//! A backup is a tar archive: a `BACKUP` manifest, a consistent copy of
//! each SQLite database ([`reemploi_store::snapshot::sqlite`]) and the
//! directory's keys and secrets (so the restored platform accepts the
//! tokens and sessions it issued).
//!
//! The copies are not all taken at one instant, so their order matters.
//! The bus log is copied first: every event in it was committed before,
//! so every later copy holds the state it speaks of. Then the services,
//! each one's consumers before its producers (impact and matching follow
//! the inventory, which follows the registry, as identity does): a
//! consumer's copy holds nothing a later producer's copy lacks. On
//! restore, every outbox publishes again what it still holds (the log
//! keeps an event id once, so only what the log's copy lacked is added),
//! and every subscription reads the log again from its start (the inboxes
//! absorb what was applied): each service ends with what the others
//! recorded before their copies.

use std::path::{Path, PathBuf};

use clap::Args;
use reemploi_events::InProcessBus;

use crate::CliError;
use crate::output::note;

/// The manifest's name in the archive, and its first line.
const MANIFEST: &str = "BACKUP";
const FORMAT: &str = "reemploi-backup 1";
/// The bus log's file: copied first, rewound on restore.
const BUS: &str = "bus.db";
/// The order databases are copied in: the log, then consumers before
/// their producers. Others (none today) come after, by name.
const ORDER: [&str; 7] = [
    BUS,
    "notify.db",
    "impact.db",
    "matching.db",
    "inventory.db",
    "identity.db",
    "registry.db",
];

/// Flags of `reemploi backup`.
#[derive(Args, Debug)]
pub struct BackupArgs {
    /// The data directory of `reemploi up` (running or not).
    #[arg(long, env = "REEMPLOI_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
    /// The archive to write (a tar file, readable by its owner only: it
    /// holds the platform's keys). Refused if it exists.
    #[arg(long, value_name = "FILE")]
    pub to: PathBuf,
}

/// Flags of `reemploi restore`.
#[derive(Args, Debug)]
pub struct RestoreArgs {
    /// The archive `reemploi backup` wrote.
    #[arg(long, value_name = "FILE")]
    pub from: PathBuf,
    /// The data directory to restore into: new or empty. Then run
    /// `reemploi up --data-dir` on it.
    #[arg(long, env = "REEMPLOI_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
}

fn file_error(path: &Path, e: impl std::fmt::Display) -> CliError {
    CliError::File {
        path: path.to_owned(),
        reason: e.to_string(),
    }
}

/// The keys and secrets `up` keeps beside its databases: what a restored
/// platform needs to accept the tokens and sessions it issued.
const KEYS: [&str; 3] = ["jwt-secret", "web-key", "identity-key"];

/// The databases of `dir` in the order they are copied ([`ORDER`]), and
/// the key files it has; anything else (write-ahead logs, outgoing mail,
/// an operator's own files) is not part of a backup.
fn contents(dir: &Path) -> Result<(Vec<String>, Vec<String>), CliError> {
    let mut databases = Vec::new();
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| file_error(dir, e))? {
        let entry = entry.map_err(|e| file_error(dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let kind = entry.file_type().map_err(|e| file_error(dir, e))?;
        if !kind.is_file() || name.ends_with("-wal") || name.ends_with("-shm") {
            continue;
        }
        let plain = |s: &str| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_".contains(c))
        };
        match name.strip_suffix(".db") {
            Some(stem) if plain(stem) => databases.push(name),
            Some(_) => {}
            None if KEYS.contains(&name.as_str()) => files.push(name),
            None => {}
        }
    }
    if !databases.iter().any(|d| d != BUS) {
        return Err(file_error(
            dir,
            "holds no database of reemploi: is it the --data-dir of `reemploi up`?",
        ));
    }
    databases.sort_by_key(|d| {
        let rank = ORDER.iter().position(|o| o == d).unwrap_or(ORDER.len());
        (rank, d.clone())
    });
    files.sort();
    Ok((databases, files))
}

/// `reemploi backup`.
pub async fn backup(a: &BackupArgs) -> Result<(), CliError> {
    if a.to.exists() {
        return Err(file_error(&a.to, "exists already: choose a new file"));
    }
    let (databases, files) = contents(&a.data_dir)?;
    // Beside the archive, not in /tmp: a tmpfs may not hold the copies.
    let beside = match a.to.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    };
    let staging = tempfile::Builder::new()
        .prefix(".reemploi-backup-")
        .tempdir_in(&beside)
        .map_err(|e| file_error(&beside, e))?;
    for name in &databases {
        reemploi_store::snapshot::sqlite(&a.data_dir.join(name), &staging.path().join(name))
            .await
            .map_err(|e| file_error(&a.data_dir.join(name), e))?;
    }
    let manifest = format!(
        "{FORMAT}\ntaken {}\n{}\n",
        reemploi_store::now_millis(),
        databases
            .iter()
            .chain(&files)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
    // In the staging directory, which goes when dropped, whether this
    // succeeds or not: a failed backup leaves nothing behind.
    let partial = staging.path().join("archive.partial");
    write_archive(
        &partial,
        &manifest,
        |name| {
            if databases.contains(&name.to_owned()) {
                staging.path().join(name)
            } else {
                a.data_dir.join(name)
            }
        },
        databases.iter().chain(&files),
    )?;
    std::fs::rename(&partial, &a.to).map_err(|e| file_error(&a.to, e))?;
    note(&format!(
        "backed up {} database(s) and {} key file(s) of {} to {}",
        databases.len(),
        files.len(),
        a.data_dir.display(),
        a.to.display()
    ));
    Ok(())
}

/// The archive: the manifest, then each file under its name.
fn write_archive<'a>(
    to: &Path,
    manifest: &str,
    source: impl Fn(&str) -> PathBuf,
    names: impl Iterator<Item = &'a String>,
) -> Result<(), CliError> {
    let out = private_file(to)?;
    let mut tar = tar::Builder::new(out);
    let mut header = tar::Header::new_gnu();
    header.set_size(manifest.len() as u64);
    header.set_mode(0o600);
    header.set_cksum();
    tar.append_data(&mut header, MANIFEST, manifest.as_bytes())
        .map_err(|e| file_error(to, e))?;
    for name in names {
        let path = source(name);
        let mut file = std::fs::File::open(&path).map_err(|e| file_error(&path, e))?;
        tar.append_file(name, &mut file)
            .map_err(|e| file_error(to, e))?;
    }
    let out = tar.into_inner().map_err(|e| file_error(to, e))?;
    out.sync_all().map_err(|e| file_error(to, e))
}

/// A new file readable and writable by its owner only.
fn private_file(path: &Path) -> Result<std::fs::File, CliError> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path).map_err(|e| file_error(path, e))
}

/// `reemploi restore`.
pub async fn restore(a: &RestoreArgs) -> Result<(), CliError> {
    let dir = &a.data_dir;
    if dir.exists() {
        let mut entries = std::fs::read_dir(dir).map_err(|e| file_error(dir, e))?;
        if entries.next().is_some() {
            return Err(file_error(
                dir,
                "is not empty: restore into a new or empty directory, then run \
                 `reemploi up --data-dir` on it",
            ));
        }
    }
    let created = !dir.exists();
    let names = unpack(&a.from, dir).inspect_err(|_| {
        // A bad archive leaves the directory as it was found, so that the
        // next restore is not refused for what this one wrote.
        if created {
            let _ = std::fs::remove_dir_all(dir);
        } else if let Ok(entries) = std::fs::read_dir(dir) {
            for entry in entries.flatten() {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    })?;
    let mut republished = 0;
    for name in names.iter().filter(|n| n.ends_with(".db") && *n != BUS) {
        let url = reemploi_store::sqlite_file_url(&dir.join(name))?;
        let db = reemploi_store::Db::connect(&url).await?;
        republished += reemploi_events::outbox::republish_all(&db).await?;
        db.close().await;
    }
    let rewound = if names.iter().any(|n| n == BUS) {
        let bus = InProcessBus::open(&dir.join(BUS)).await?;
        bus.rewind_subscriptions().await?
    } else {
        0
    };
    note(&format!(
        "restored {} file(s) into {}; at start, the {republished} event(s) still in the \
         outboxes are published again (those the log has are not added twice) and {rewound} \
         subscription(s) read the event log from its start, so that every service has what \
         the others recorded. Start it with: reemploi up --data-dir {}",
        names.len(),
        dir.display(),
        dir.display()
    ));
    Ok(())
}

/// Unpacks the archive's files into `dir` (made readable by its owner
/// only), after checking its manifest; the names unpacked.
fn unpack(from: &Path, dir: &Path) -> Result<Vec<String>, CliError> {
    let file = std::fs::File::open(from).map_err(|e| file_error(from, e))?;
    let mut archive = tar::Archive::new(file);
    let mut names = Vec::new();
    let mut manifest = String::new();
    reemploi_store::create_private_dir(dir).map_err(|e| file_error(dir, e))?;
    for entry in archive.entries().map_err(|e| file_error(from, e))? {
        let mut entry = entry.map_err(|e| file_error(from, e))?;
        let name = entry
            .path()
            .map_err(|e| file_error(from, e))?
            .to_string_lossy()
            .into_owned();
        // Plain names only: nothing is written outside the directory.
        let plain = !name.is_empty()
            && !name.starts_with('.')
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
        if !plain || entry.header().entry_type() != tar::EntryType::Regular {
            return Err(file_error(
                from,
                format!("holds {name:?}: not a backup of reemploi"),
            ));
        }
        if name == MANIFEST {
            std::io::Read::read_to_string(&mut entry, &mut manifest)
                .map_err(|e| file_error(from, e))?;
            continue;
        }
        if !manifest.starts_with(FORMAT) {
            return Err(file_error(
                from,
                "has no manifest first: not a backup of reemploi",
            ));
        }
        let mut out = private_file(&dir.join(&name))?;
        std::io::copy(&mut entry, &mut out).map_err(|e| file_error(&dir.join(&name), e))?;
        names.push(name);
    }
    // The manifest lists every file after its first two lines: an archive
    // cut short is refused rather than restored without a database.
    let listed: Vec<&str> = manifest.lines().skip(2).filter(|l| !l.is_empty()).collect();
    if names.is_empty() || listed != names {
        return Err(file_error(
            from,
            format!(
                "is incomplete: its manifest lists {} file(s), it holds {}",
                listed.len(),
                names.len()
            ),
        ));
    }
    Ok(names)
}
