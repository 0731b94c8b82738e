//! The real workbench in tmux, ended by signals and opened twice on one folder: the terminal
//! comes back as it was, the journal keeps the edit, and the second window is read-only
//! (issue 22, docs/RELIABILITY.md).

use crate::tmux::Tmux;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const DOC: &str =
    "[\n{\"tokens\":[\"Ann\",\"sleeps\",\".\"],\"entities\":[],\"relations\":[]}\n]\n";

fn wait(what: &str, done: impl Fn() -> bool, show: impl Fn() -> String) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(Instant::now() < deadline, "waited 60 s for {what}; the screen:\n{}", show());
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// Runs the workbench on `dir` in a shell that records its pid, how it ended and the
/// terminal's settings afterwards. A background job's input is /dev/null unless redirected,
/// and the workbench refuses to start without a terminal: hence `</dev/tty`.
fn command(dir: &Path) -> String {
    let bin = env!("CARGO_BIN_EXE_spanscope");
    let d = dir.display();
    format!(
        "cd {d} && (env -u SPANSCOPE_MODEL HOME={d} {bin} annotate --no-model {d}/doc.json </dev/tty & \
         echo $! > {d}/pid.txt; wait $!; echo $? > {d}/exit.tmp); stty -a > {d}/stty.txt; \
         tput rmcup 2>/dev/null; mv {d}/exit.tmp {d}/exit.txt; sleep 30"
    )
}

#[test]
fn every_ending_signal_restores_the_terminal_and_keeps_the_journal() {
    for (signal, number) in [("TERM", 15), ("HUP", 1), ("INT", 2), ("QUIT", 3)] {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("doc.json"), DOC).unwrap();
        let tmux = Tmux::start(&command(dir.path()), 100, 30);
        tmux.wait_for("Sentence 1/1");
        tmux.keys(&["r"]); // mark reviewed: one unsaved edit
        tmux.wait_for("✓ reviewed");
        let pid = std::fs::read_to_string(dir.path().join("pid.txt")).unwrap();
        let killed = Command::new("kill").args([&format!("-{signal}"), pid.trim()]).status();
        assert!(killed.unwrap().success());
        let exit = dir.path().join("exit.txt");
        wait(&format!("the workbench to end on SIG{signal}"), || exit.exists(), || tmux.screen());
        // The shell reports death by signal N as 128 + N.
        let status = std::fs::read_to_string(&exit).unwrap();
        assert_eq!(status.trim(), (128 + number).to_string(), "SIG{signal}");
        let stty = std::fs::read_to_string(dir.path().join("stty.txt")).unwrap();
        assert!(stty.contains(" echo ") && stty.contains(" icanon "), "SIG{signal}: raw: {stty}");
        let journal = dir.path().join(".spanscope/recovery/doc.json.journal.jsonl");
        let text = std::fs::read_to_string(&journal).unwrap();
        assert!(text.contains("\"reviewed\":true"), "SIG{signal}: journal: {text}");
    }
}

#[test]
fn a_closed_terminal_ends_the_workbench_and_keeps_the_journal() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("doc.json"), DOC).unwrap();
    let (bin, d) = (env!("CARGO_BIN_EXE_spanscope"), dir.path().display());
    let tmux = Tmux::start(
        &format!(
        "cd {d} && echo $$ > {d}/pid.txt && exec env -u SPANSCOPE_MODEL HOME={d} {bin} annotate \
         --no-model {d}/doc.json"
    ),
        100,
        30,
    );
    tmux.wait_for("Sentence 1/1");
    tmux.keys(&["r"]);
    tmux.wait_for("✓ reviewed");
    let pid = std::fs::read_to_string(dir.path().join("pid.txt")).unwrap().trim().to_string();
    // The window closes: tmux hangs up the terminal.
    drop(tmux);
    let proc = Path::new("/proc").join(&pid);
    let alive = || {
        proc.exists()
            && !std::fs::read_to_string(proc.join("stat")).unwrap_or_default().contains(") Z ")
    };
    wait("the workbench to end with its terminal", || !alive(), || format!("pid {pid} still runs"));
    let journal = dir.path().join(".spanscope/recovery/doc.json.journal.jsonl");
    let text = std::fs::read_to_string(&journal).unwrap();
    assert!(text.contains("\"reviewed\":true"), "journal: {text}");
}

#[test]
fn a_terminal_that_hangs_up_without_sighup_ends_the_workbench() {
    // The workbench in a session of its own, reading and drawing on the window's terminal:
    // closing the window hangs the terminal up but sends it no SIGHUP (it is not in the
    // terminal's foreground group), and crossterm alone would spin on the dead terminal.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("doc.json"), DOC).unwrap();
    let (bin, d) = (env!("CARGO_BIN_EXE_spanscope"), dir.path().display());
    let tmux = Tmux::start(
        &format!(
            "cd {d} && setsid sh -c 'echo $$ > {d}/pid.txt; exec env -u SPANSCOPE_MODEL HOME={d} \
         {bin} annotate --no-model {d}/doc.json' <$(tty) >$(tty) 2>/dev/null; sleep 30"
        ),
        100,
        30,
    );
    tmux.wait_for("Sentence 1/1");
    tmux.keys(&["r"]);
    tmux.wait_for("✓ reviewed");
    let pid = std::fs::read_to_string(dir.path().join("pid.txt")).unwrap().trim().to_string();
    let proc = Path::new("/proc").join(&pid);
    let stat = || std::fs::read_to_string(proc.join("stat")).unwrap_or_default();
    // Its own session: the session id (the sixth field) is its pid.
    assert_eq!(stat().split(") ").nth(1).unwrap().split(' ').nth(3), Some(pid.as_str()));
    drop(tmux);
    let alive = || proc.exists() && !stat().contains(") Z ");
    wait("the workbench to end with its terminal", || !alive(), || format!("pid {pid} still runs"));
    let journal = dir.path().join(".spanscope/recovery/doc.json.journal.jsonl");
    let text = std::fs::read_to_string(&journal).unwrap();
    assert!(text.contains("\"reviewed\":true"), "journal: {text}");
}

#[test]
fn a_second_workbench_on_the_folder_is_read_only_and_says_why() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("doc.json"), DOC).unwrap();
    let first = Tmux::start(&command(dir.path()), 100, 30);
    first.wait_for("Sentence 1/1");
    let second_dir = tempfile::tempdir().unwrap();
    let bin = env!("CARGO_BIN_EXE_spanscope");
    let second = Tmux::start(
        &format!(
        "cd {} && env -u SPANSCOPE_MODEL HOME={} {bin} annotate --no-model {}/doc.json; sleep 30",
        second_dir.path().display(),
        second_dir.path().display(),
        dir.path().display()
    ),
        100,
        30,
    );
    second.wait_for("read-only");
    second.keys(&["r"]);
    second.wait_for("another spanscope workbench");
    first.keys(&["r"]);
    first.wait_for("✓ reviewed");
    let journal = dir.path().join(".spanscope/recovery/doc.json.journal.jsonl");
    wait("the first one's journal", || journal.exists(), || first.screen());
}
