//! The filter line and the folded search in the real binary in tmux: a filter that cannot be
//! read says where, one that can goes to its match and counts it in the document list.

use crate::mouse::{command, workspace};
use crate::tmux::{wait_for_file, Tmux};

#[test]
fn the_filter_line_finds_and_says_what_is_wrong() {
    let dir = workspace("");
    let tmux = Tmux::start(&command(dir.path()), 120, 30);
    tmux.wait_for("John Smith works");
    tmux.keys(&["|"]);
    tmux.wait_for("FILTER");
    tmux.run(&["send-keys", "-t", "0", "-l", "typ:Org"]);
    tmux.keys(&["Enter"]);
    tmux.wait_for("column 1: \"typ:\" is no key");
    for _ in 0.."typ:Org".len() {
        tmux.keys(&["BSpace"]);
    }
    tmux.run(&["send-keys", "-t", "0", "-l", "type:org source:gold"]);
    tmux.keys(&["Enter"]);
    tmux.wait_for("match 1 of 1");
    tmux.wait_for("[1]");
    // The search folds: weiss finds Weiß, and n follows the search from then on.
    tmux.keys(&["/"]);
    tmux.run(&["send-keys", "-t", "0", "-l", "weiss"]);
    tmux.keys(&["Enter"]);
    tmux.wait_for("\"weiss\": match 1 of 1");
    tmux.wait_for("Ana Weiß left");
    tmux.keys(&["q"]);
    assert_eq!(wait_for_file(&dir.path().join("exit.txt"), &tmux).trim(), "0");
}
