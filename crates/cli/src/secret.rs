//! The development signing secret shared by `reemploi up` and
//! `reemploi token`.

use std::path::{Path, PathBuf};

use crate::CliError;

/// Name of the generated secret file under the data directory.
pub const SECRET_FILE: &str = "jwt-secret";

/// Path of the generated secret file under `data_dir`.
pub fn secret_path(data_dir: &Path) -> PathBuf {
    data_dir.join(SECRET_FILE)
}

/// The secret stored in `<data_dir>/jwt-secret`, created (random, mode 0600)
/// if absent.
pub fn load_or_create(data_dir: &Path) -> Result<String, CliError> {
    let path = secret_path(data_dir);
    reemploi_runtime::auth::load_or_create_secret(&path)
        .map_err(|source| CliError::SecretFile { path, source })
}
