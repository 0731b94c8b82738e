//! One tmux server per test with one pane running a command: keys in with send-keys, the
//! screen back with capture-pane. Shared by every module of this binary.

use std::path::Path;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

static SESSIONS: AtomicUsize = AtomicUsize::new(0);

/// A tmux server of our own with one pane running a command.
pub struct Tmux {
    socket: String,
}

impl Tmux {
    /// Starts `command` (run by sh) in a `width`×`height` pane. Tests run in parallel threads
    /// of one process, so each server gets a socket of its own.
    pub fn start(command: &str, width: u16, height: u16) -> Tmux {
        let n = SESSIONS.fetch_add(1, Ordering::Relaxed);
        let tmux = Tmux { socket: format!("spanscope-test-{}-{n}", std::process::id()) };
        let (w, h) = (width.to_string(), height.to_string());
        let out = tmux.run(&["new-session", "-d", "-x", &w, "-y", &h, command]);
        assert!(out.status.success(), "tmux: {}", String::from_utf8_lossy(&out.stderr));
        tmux.run(&["set-option", "-g", "remain-on-exit", "on"]);
        tmux
    }

    /// Runs a tmux command against this server.
    pub fn run(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .args(["-L", &self.socket, "-f", "/dev/null"])
            .args(args)
            .env_remove("TMUX")
            .output()
            .expect("tmux runs (scripts/setup.sh installs it)")
    }

    /// Types keys one send-keys call each: tmux key names ("Enter", "C-s", "Tab") or text.
    pub fn keys(&self, keys: &[&str]) {
        for key in keys {
            assert!(self.run(&["send-keys", "-t", "0", key]).status.success());
        }
    }

    /// Sends keys in one send-keys call, so they reach the program in one write, as a burst
    /// does (`Esc` then `0` arrive as the bytes of Alt-0).
    pub fn keys_at_once(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "0"];
        args.extend_from_slice(keys);
        assert!(self.run(&args).status.success());
    }

    /// The screen as text.
    pub fn screen(&self) -> String {
        String::from_utf8_lossy(&self.run(&["capture-pane", "-p", "-t", "0"]).stdout).into_owned()
    }

    /// Waits until the screen shows `text`, or fails showing the screen.
    pub fn wait_for(&self, text: &str) -> String {
        self.wait_until(&format!("{text:?}"), |screen| screen.contains(text))
    }

    /// Waits until `done` holds for the screen, or fails after 60 s showing it.
    pub fn wait_until(&self, what: &str, done: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let screen = self.screen();
            if done(&screen) {
                return screen;
            }
            assert!(Instant::now() < deadline, "waited 60 s for {what}; the screen:\n{screen}");
            std::thread::sleep(Duration::from_millis(25));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        self.run(&["kill-server"]);
    }
}

/// Waits until `path` exists (the wrapper script writes it when spanscope has exited) and
/// returns what it holds.
pub fn wait_for_file(path: &Path, tmux: &Tmux) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !path.exists() {
        assert!(
            Instant::now() < deadline,
            "spanscope did not exit ({} never appeared); the screen:\n{}",
            path.display(),
            tmux.screen()
        );
        std::thread::sleep(Duration::from_millis(25));
    }
    std::fs::read_to_string(path).unwrap()
}
