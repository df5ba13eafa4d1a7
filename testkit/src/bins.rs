//! The workspace binaries under test, and the one way tests find them.
//!
//! The first call in a test process runs `cargo build` for every binary tests use, with the
//! same profile, target directory and target triple as the running test executable (read from
//! its own path), and takes each binary's path from cargo's own report of what it built. Cargo
//! rebuilds whatever changed, so a test never runs a stale `chatd`, `chat` or `chatctl`, whichever
//! package's tests run and however they were started (`cargo test --workspace`, `-p X`,
//! `--test Y`, `--release`); when nothing changed the build is a no-op of a fraction of a second.
//! (Cargo's `CARGO_BIN_EXE_*` only covers a package's own binaries, so it cannot be the one way.)
//!
//! It does not start anything: see [`crate::server`] and [`crate::ctl`].

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

/// The binaries tests run, as (package, binary).
const BINARIES: &[(&str, &str)] = &[("chatd", "chatd"), ("chat", "chat"), ("chatctl", "chatctl")];

/// The `chatd` server binary.
pub fn chatd_bin() -> &'static Path {
    bin("chatd")
}

/// The `chat` client binary.
pub fn chat_bin() -> &'static Path {
    bin("chat")
}

/// The `chatctl` admin binary.
pub fn chatctl_bin() -> &'static Path {
    bin("chatctl")
}

fn bin(name: &str) -> &'static Path {
    static BUILT: OnceLock<HashMap<String, PathBuf>> = OnceLock::new();
    BUILT
        .get_or_init(build)
        .get(name)
        .unwrap_or_else(|| panic!("cargo did not report building the {name} binary"))
}

/// Where the running test executable was built, as cargo's options to build alike.
#[derive(Debug, PartialEq, Eq)]
struct BuildSettings {
    /// `--profile`.
    profile: String,
    /// `--target-dir`.
    target_dir: PathBuf,
    /// `--target`, when the tests were built for an explicit target triple.
    triple: Option<String>,
}

/// Reads the settings from a test executable's path,
/// `<target-dir>[/<triple>]/<profile-dir>/deps/<test>-<hash>`. `is_target_root` tells a target
/// directory from a triple's directory inside one.
fn settings_from_exe(
    exe: &Path,
    is_target_root: impl Fn(&Path) -> bool,
) -> Result<BuildSettings, String> {
    let deps = exe
        .parent()
        .filter(|d| d.file_name().is_some_and(|n| n == "deps"))
        .ok_or_else(|| format!("{} is not in a cargo deps directory", exe.display()))?;
    let profile_dir = deps
        .parent()
        .ok_or_else(|| format!("{} has no profile directory", deps.display()))?;
    let profile = match profile_dir.file_name().and_then(|n| n.to_str()) {
        // `cargo test` builds with the `test` profile into `debug`; `--release` into `release`.
        Some("debug") => "test".to_string(),
        Some(other) => other.to_string(),
        None => return Err(format!("{} has no name", profile_dir.display())),
    };
    let above = profile_dir
        .parent()
        .ok_or_else(|| format!("{} has no parent", profile_dir.display()))?;
    let (target_dir, triple) = match above.parent() {
        Some(root) if !is_target_root(above) && is_target_root(root) => (
            root.to_path_buf(),
            above.file_name().and_then(|n| n.to_str()).map(String::from),
        ),
        _ => (above.to_path_buf(), None),
    };
    Ok(BuildSettings {
        profile,
        target_dir,
        triple,
    })
}

/// Builds every binary in [`BINARIES`] like the running test and returns their paths.
fn build() -> HashMap<String, PathBuf> {
    let exe = std::env::current_exe().expect("the test executable's path");
    // Cargo keeps its rustc cache file at the top of a target directory only.
    let settings = settings_from_exe(&exe, |dir| dir.join(".rustc_info.json").exists())
        .unwrap_or_else(|e| panic!("cannot tell how this test was built: {e}"));
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .args([
            "build",
            "--quiet",
            "--message-format=json-render-diagnostics",
        ])
        .arg("--profile")
        .arg(&settings.profile)
        .arg("--target-dir")
        .arg(&settings.target_dir);
    if let Some(triple) = &settings.triple {
        cmd.args(["--target", triple]);
    }
    for (package, name) in BINARIES {
        cmd.args(["-p", package, "--bin", name]);
    }
    // What cargo sets for the running test (its package's name and version, ...) must not
    // reach this build: build scripts that read those variables (ring's does) would be seen
    // as changed, and rebuilt, along with everything above them, at every test run.
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy();
        if TEST_ONLY_VARS.iter().any(|prefix| key.starts_with(prefix)) {
            cmd.env_remove(&*key);
        }
    }
    let out = cmd
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .expect("run cargo build for the workspace binaries");
    assert!(
        out.status.success(),
        "cargo build of the workspace binaries failed ({settings:?})"
    );
    let built = executables(&String::from_utf8_lossy(&out.stdout));
    for (_, name) in BINARIES {
        let path = built
            .get(*name)
            .unwrap_or_else(|| panic!("cargo built no {name} binary ({settings:?})"));
        assert!(path.exists(), "{} missing after the build", path.display());
    }
    built
}

/// Prefixes of the variables cargo sets for a test executable (not for cargo itself).
const TEST_ONLY_VARS: &[&str] = &[
    "CARGO_PKG_",
    "CARGO_MANIFEST_",
    "CARGO_CRATE_NAME",
    "CARGO_BIN_EXE_",
    "CARGO_BIN_NAME",
    "CARGO_PRIMARY_PACKAGE",
    "CARGO_TARGET_TMPDIR",
    "CARGO_RUSTC_CURRENT_DIR",
];

/// The binaries named in cargo's JSON messages, by name.
fn executables(messages: &str) -> HashMap<String, PathBuf> {
    messages
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|m| m["reason"] == "compiler-artifact")
        .filter(|m| {
            m["target"]["kind"]
                .as_array()
                .is_some_and(|k| k.iter().any(|k| k == "bin"))
        })
        .filter_map(|m| {
            let name = m["target"]["name"].as_str()?.to_string();
            Some((name, PathBuf::from(m["executable"].as_str()?)))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(exe: &str, roots: &[&str]) -> Result<BuildSettings, String> {
        settings_from_exe(Path::new(exe), |d| roots.iter().any(|r| Path::new(r) == d))
    }

    #[test]
    fn default_layout_builds_with_the_test_profile() {
        assert_eq!(
            settings("/w/target/debug/deps/login-0123abcd", &["/w/target"]),
            Ok(BuildSettings {
                profile: "test".into(),
                target_dir: "/w/target".into(),
                triple: None,
            })
        );
    }

    #[test]
    fn release_custom_profiles_and_target_triples_are_kept() {
        let s = settings("/t/release/deps/x-1", &["/t"]).unwrap();
        assert_eq!((s.profile.as_str(), s.triple), ("release", None));
        let s = settings("/t/ci-fast/deps/x-1", &["/t"]).unwrap();
        assert_eq!(s.profile, "ci-fast");
        let s = settings("/t/x86_64-unknown-linux-musl/debug/deps/x-1", &["/t"]).unwrap();
        assert_eq!(
            s,
            BuildSettings {
                profile: "test".into(),
                target_dir: "/t".into(),
                triple: Some("x86_64-unknown-linux-musl".into()),
            }
        );
    }

    #[test]
    fn an_executable_outside_a_deps_directory_is_an_error() {
        let err = settings("/usr/bin/login", &["/usr"]).unwrap_err();
        assert!(err.contains("/usr/bin/login"), "{err}");
    }

    #[test]
    fn executables_come_from_bin_artifacts_only() {
        let messages = r#"{"reason":"compiler-artifact","target":{"kind":["lib"],"name":"proto"},"executable":null}
{"reason":"compiler-artifact","target":{"kind":["bin"],"name":"chatd"},"executable":"/t/debug/chatd"}
{"reason":"build-finished","success":true}
not json"#;
        let got = executables(messages);
        assert_eq!(got.len(), 1, "{got:?}");
        assert_eq!(got["chatd"], PathBuf::from("/t/debug/chatd"));
    }
}
