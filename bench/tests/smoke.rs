//! Smoke run of the benchmark: the real `chat-bench` binary against a real `chatd` (started
//! by chat-bench, as `bench/compare.sh` does), every scenario at a tiny size, checking that
//! each printed its figures with everything counted and nothing refused. No figure is
//! compared with a time or a rate: that is what the benchmark is for, not the tests.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::Value;

/// How long one chat-bench invocation may take before the test fails.
const DEADLINE: Duration = Duration::from_secs(90);

fn bench_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_chat-bench"))
}

/// The `chatd` binary, built once per test process into the same target directory
/// (`cargo test -p chat-bench` does not build other packages' binaries by itself).
fn chatd_bin() -> &'static Path {
    static CHATD: OnceLock<PathBuf> = OnceLock::new();
    CHATD.get_or_init(|| {
        let bench = bench_bin();
        let profile_dir = bench.parent().expect("binary has a directory");
        let target_dir = profile_dir
            .parent()
            .expect("profile directory has a parent");
        let mut cmd = Command::new(option_env!("CARGO").unwrap_or("cargo"));
        cmd.args(["build", "--quiet", "-p", "chatd", "--target-dir"])
            .arg(target_dir)
            .current_dir(env!("CARGO_MANIFEST_DIR"));
        if profile_dir.file_name().is_some_and(|n| n == "release") {
            cmd.arg("--release");
        }
        let status = cmd.status().expect("run cargo build -p chatd");
        assert!(status.success(), "cargo build -p chatd failed");
        let chatd = profile_dir.join("chatd");
        assert!(
            chatd.exists(),
            "{} missing after the build",
            chatd.display()
        );
        chatd
    })
}

/// Runs chat-bench with `args` (bounded by [`DEADLINE`]).
fn run(args: &[&str]) -> Output {
    let mut child = Command::new(bench_bin())
        .arg("--chatd")
        .arg(chatd_bin())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start chat-bench");
    let end = Instant::now() + DEADLINE;
    loop {
        if child.try_wait().expect("wait for chat-bench").is_some() {
            break;
        }
        if Instant::now() > end {
            let _ = child.kill();
            let out = child.wait_with_output().expect("collect chat-bench output");
            panic!(
                "chat-bench {args:?} did not finish within {DEADLINE:?}; stderr:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().expect("collect chat-bench output")
}

/// Runs chat-bench with `--json` and returns one object per scenario, after checking it
/// succeeded.
fn run_json(args: &[&str]) -> Vec<Value> {
    let mut all = vec!["--json", "--runs", "1", "--timeout", "60"];
    all.extend_from_slice(args);
    let out = run(&all);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "chat-bench {all:?} failed:\n{stderr}");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

/// Checks that `v` is the complete, error-free result of `scenario`.
fn complete<'a>(rows: &'a [Value], scenario: &str) -> &'a Value {
    let v = rows
        .iter()
        .find(|r| r["scenario"] == scenario)
        .unwrap_or_else(|| panic!("no {scenario} line in {rows:?}"));
    assert_eq!(v["target"], "chatd", "{v}");
    assert_eq!(v["errors"], 0, "{v}");
    assert_eq!(v["incomplete_runs"], 0, "{v}");
    assert_eq!(v["notes"].as_array().map(Vec::len), Some(0), "{v}");
    v
}

fn number(v: &Value, key: &str) -> f64 {
    v[key]
        .as_f64()
        .unwrap_or_else(|| panic!("{key} is not a number in {v}"))
}

fn extra(v: &Value, key: &str) -> f64 {
    v["extra"][key]
        .as_f64()
        .unwrap_or_else(|| panic!("extra.{key} is not a number in {v}"))
}

#[test]
fn message_scenarios_count_every_delivery() {
    let rows = run_json(&[
        "--clients",
        "6",
        "--messages",
        "20",
        "--senders",
        "2",
        "--sources",
        "2",
        "direct",
        "broadcast",
    ]);
    for s in ["direct", "broadcast"] {
        let v = complete(&rows, s);
        assert!(number(v, "rate") > 0.0, "{v}");
        let cpu = number(v, "server_cpu_us_per_op");
        assert!(cpu >= 0.0, "{v}");
        // The kernel's part is a part of the whole.
        let sys = extra(v, "server_sys_us_per_op");
        assert!((0.0..=cpu).contains(&sys), "{v}");
        assert!(extra(v, "loadgen_cpu_us_per_op") >= 0.0, "{v}");
        assert!(number(v, "peak_rss_kib") > 0.0, "{v}");
    }
}

#[test]
fn paced_direct_reports_latency_and_pacer_lag() {
    let rows = run_json(&[
        "--clients",
        "4",
        "--rate",
        "400",
        "--messages",
        "25",
        "direct",
    ]);
    let v = complete(&rows, "direct");
    assert_eq!(number(v, "paced_rate"), 400.0);
    assert_eq!(extra(v, "target_rate"), 400.0);
    assert!(extra(v, "pacer_lag_p99_ms") >= 0.0, "{v}");
    assert!(number(v, "p99_ms") >= number(v, "p50_ms"), "{v}");
}

#[test]
fn idle_reports_memory_per_connection() {
    let rows = run_json(&["--clients", "8", "idle"]);
    let v = complete(&rows, "idle");
    assert_eq!(v["unit"], "KiB/conn");
    let before = extra(v, "rss_before_kib");
    let after = extra(v, "rss_after_kib");
    assert!(before > 0.0 && after > 0.0, "{v}");
    let per = number(v, "rate");
    assert!(((after - before) / 8.0 - per).abs() < 1e-6, "{v}");
}

#[test]
fn mass_login_and_logout_are_all_seen() {
    let rows = run_json(&["--clients", "8", "--sources", "3", "mass"]);
    let v = complete(&rows, "mass");
    assert!(number(v, "rate") > 0.0, "{v}");
    assert!(
        extra(v, "login_settled_secs") >= extra(v, "login_secs"),
        "{v}"
    );
    assert!(
        extra(v, "logout_secs") >= extra(v, "logout_write_secs"),
        "{v}"
    );
}

#[test]
fn mass_stops_at_its_login_budget_and_says_how_far_it_got() {
    // Every login hashes a password (milliseconds each): 7 cannot be done in 1 ms.
    let rows = run_json(&["--clients", "8", "--login-budget", "0.001", "mass"]);
    let v = rows
        .iter()
        .find(|r| r["scenario"] == "mass")
        .unwrap_or_else(|| panic!("no mass line in {rows:?}"));
    assert_eq!(v["incomplete_runs"], 1, "{v}");
    assert_eq!(extra(v, "login_budget_secs"), 0.001, "{v}");
    assert!(extra(v, "logins_told_within_budget") < 7.0, "{v}");
    let note = v["notes"][0].as_str().unwrap_or_default();
    assert!(note.contains("budget"), "{v}");
}

#[test]
fn shutdown_exits_cleanly_and_tells_everyone() {
    let rows = run_json(&["--clients", "5", "shutdown"]);
    let v = complete(&rows, "shutdown");
    assert_eq!(extra(v, "exit_code"), 0.0, "{v}");
    assert_eq!(extra(v, "told_closing"), 5.0, "{v}");
    assert!(number(v, "rate") > 0.0, "{v}");
}

#[test]
fn attached_command_sees_the_server_pid() {
    let out = run(&[
        "--runs",
        "1",
        "--clients",
        "3",
        "--messages",
        "5",
        "--attach",
        "echo attached-to {pid} >&2",
        "direct",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let pid = stderr
        .lines()
        .find_map(|l| l.strip_prefix("attached-to "))
        .unwrap_or_else(|| panic!("the attached command did not run:\n{stderr}"));
    assert!(pid.trim().parse::<u32>().is_ok(), "{stderr}");
}

#[test]
fn refuses_bad_input_with_a_message() {
    for (args, expect) in [
        (&["--server", "192.0.2.1:7000", "direct"][..], "loopback"),
        (&["--rate", "0", "direct"][..], "--rate"),
        (&["--irc", "127.0.0.1:1", "idle"][..], "--pid"),
        (&["--sources", "0", "direct"][..], "sources"),
        (&["--login-budget=-1", "mass"][..], "--login-budget"),
    ] {
        let out = Command::new(bench_bin())
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run chat-bench");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} was accepted");
        assert!(stderr.contains(expect), "{args:?}: {stderr}");
    }
}
