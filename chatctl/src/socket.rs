//! Where chatd's admin socket is: `--socket`/`$CHATCTL_SOCKET`, else `admin_socket` in the
//! config file chatd reads (relative paths resolve against the file's folder, as chatd does),
//! else `chatd.sock` in the current directory (chatd's own default without a config file).

use std::path::{Path, PathBuf};

/// The key chatd's config uses, and its default.
const KEY: &str = "admin_socket";
const DEFAULT_SOCKET: &str = "chatd.sock";

/// Resolves the socket path.
///
/// # Errors
/// A message when the config file named by `--config` is missing, or a config file cannot be
/// read or has no usable `admin_socket`.
pub fn resolve(socket: Option<&Path>, config: Option<&Path>) -> Result<PathBuf, String> {
    if let Some(path) = socket {
        return Ok(path.to_path_buf());
    }
    let config = match config {
        Some(path) => path.to_path_buf(),
        None => {
            let default = PathBuf::from("config.toml");
            if !default.exists() {
                return Ok(PathBuf::from(DEFAULT_SOCKET));
            }
            default
        }
    };
    from_config(&config)
}

/// `admin_socket` from a chatd config file.
fn from_config(path: &Path) -> Result<PathBuf, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let table: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| format!("{}: {}", path.display(), e.message()))?;
    let value = match table.get(KEY) {
        None => DEFAULT_SOCKET,
        Some(toml::Value::String(s)) if !s.is_empty() => s.as_str(),
        Some(other) => {
            return Err(format!(
                "{}: {KEY} = {other}: must be a non-empty path",
                path.display()
            ))
        }
    };
    let base = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    Ok(base.join(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explicit_socket_wins() {
        let p = resolve(Some(Path::new("/run/chatd/chatd.sock")), None).unwrap();
        assert_eq!(p, PathBuf::from("/run/chatd/chatd.sock"));
    }

    #[test]
    fn config_paths_resolve_against_its_folder() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("config.toml");
        std::fs::write(&cfg, "port = 5000\nadmin_socket = \"run/admin.sock\"\n").unwrap();
        assert_eq!(
            resolve(None, Some(&cfg)).unwrap(),
            dir.path().join("run/admin.sock")
        );
        std::fs::write(&cfg, "admin_socket = \"/tmp/x.sock\"\n").unwrap();
        assert_eq!(
            resolve(None, Some(&cfg)).unwrap(),
            PathBuf::from("/tmp/x.sock")
        );
        std::fs::write(&cfg, "port = 5000\n").unwrap();
        assert_eq!(
            resolve(None, Some(&cfg)).unwrap(),
            dir.path().join("chatd.sock")
        );
    }

    #[test]
    fn bad_config_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("config.toml");
        assert!(resolve(None, Some(&cfg))
            .unwrap_err()
            .contains("cannot read"));
        std::fs::write(&cfg, "admin_socket = 5\n").unwrap();
        let e = resolve(None, Some(&cfg)).unwrap_err();
        assert!(e.contains("admin_socket = 5"), "{e}");
    }
}
