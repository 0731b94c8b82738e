#!/usr/bin/env bash
# The reliability run of issue 22 (docs/RELIABILITY.md): the real binary against hostile input
# and kill -9. It is long, so it lives outside the test suite; anyone can run it:
#
#   scripts/reliability.sh corpus          # >= 150 malformed and special files: CLI and workbench
#   scripts/reliability.sh kills [N]       # N kill -9 of workbenches (default 1000)
#   scripts/reliability.sh memory          # 1,000,000 records: validate and predict under time -v
#   scripts/reliability.sh memory-workbench  # the workbench opening and saving them
#   scripts/reliability.sh all [N]
#
# Needs tmux and python3 (scripts/setup.sh installs both). Every result line starts with
# PASS or FAIL; the last lines are the totals. Exit status 1 when anything failed.
set -uo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
# Cargo builds into $CARGO_TARGET_DIR when it is set.
bin="${CARGO_TARGET_DIR:-$root/target}/release/spanscope"
work="$(mktemp -d "${TMPDIR:-/tmp}/spanscope-reliability.XXXXXX")"
socket="spanscope-reliability-$$"
failures=0
trap 'tmux -L "$socket" kill-server 2>/dev/null; rm -rf "$work"' EXIT

fail() { echo "FAIL $*"; failures=$((failures + 1)); }
pass() { [ -n "${VERBOSE:-}" ] && echo "PASS $*"; return 0; }

build() {
    (cd "$root" && cargo build --release --quiet) || { echo "build failed" >&2; exit 2; }
}

tmx() { tmux -L "$socket" -f /dev/null "$@"; }

# Starts the workbench on "$@" in a new tmux window named $name; prints its pane's pid.
start_workbench() {
    local name="$1"; shift
    if ! tmx has-session -t main 2>/dev/null; then
        tmx new-session -d -s main -x 120 -y 40 -n idle "sleep 100000"
        tmx set-option -g remain-on-exit on
    fi
    tmx new-window -d -t main -n "$name" -- "$bin" annotate --no-model "$@"
    tmx display-message -p -t "main:$name" '#{pane_pid}'
}

screen() { tmx capture-pane -p -t "main:$1" 2>/dev/null; }

# Waits up to $3 seconds (default 10) until window $1 shows $2.
wait_for() {
    local deadline=$((SECONDS + ${3:-10}))
    while [ $SECONDS -lt $deadline ]; do
        screen "$1" | grep -qF -- "$2" && return 0
        sleep 0.02
    done
    return 1
}

# Window $1's screen as one line: wrapped lines joined, pane borders and runs of spaces
# taken out, so a reason the workbench wraps over several rows is found whole.
flat_screen() {
    tmx capture-pane -p -J -S - -t "main:$1" 2>/dev/null | tr '\n' ' ' | sed 's/[│┃║]/ /g' | tr -s ' '
}

# Waits up to $3 seconds (default 10) until window $1's flattened screen shows $2.
wait_for_flat() {
    local deadline=$((SECONDS + ${3:-10})) want
    want="$(printf '%s' "$2" | tr -s ' ')"
    while [ $SECONDS -lt $deadline ]; do
        flat_screen "$1" | grep -qF -- "$want" && return 0
        sleep 0.05
    done
    return 1
}

close() { tmx kill-window -t "main:$1" 2>/dev/null; }

# ---------------------------------------------------------------------------- corpus

corpus() {
    local dir="$work/corpus"
    mkdir -p "$dir"
    python3 "$root/scripts/reliability_corpus.py" "$dir" > "$work/cases.tsv" || exit 2
    local n=0 cli_ok=0 wb_ok=0 panics=0 hangs=0
    while IFS=$'\t' read -r file expect; do
        n=$((n + 1))
        local path="$dir/$file" started=$SECONDS
        timeout 10 "$bin" validate "$path" > "$work/err" 2>&1
        local rc=$?
        [ $rc = 101 ] && panics=$((panics + 1))
        [ $rc = 124 ] && hangs=$((hangs + 1))
        if [ $rc != 0 ] && [ $rc != 101 ] && [ $rc != 124 ] \
            && grep -qF -- "$path" "$work/err" && grep -qF -- "$expect" "$work/err"; then
            cli_ok=$((cli_ok + 1)); pass "validate $file"
        else
            fail "validate $file (exit $rc, wanted '$expect'): $(head -c 300 "$work/err")"
        fi
        # The workbench: the reason reaches the screen, and q still quits.
        start_workbench "c$n" "$path" > /dev/null
        if wait_for_flat "c$n" "$expect" 10; then
            wb_ok=$((wb_ok + 1)); pass "workbench $file"
        else
            fail "workbench $file: '$expect' not on screen: $(flat_screen "c$n" | cut -c1-600)"
        fi
        tmx send-keys -t "main:c$n" q
        sleep 0.05
        tmx send-keys -t "main:c$n" y
        close "c$n"
        [ $((SECONDS - started)) -gt 20 ] && hangs=$((hangs + 1))
    done < "$work/cases.tsv"
    echo "corpus: $n cases; CLI clear errors $cli_ok/$n; workbench reasons shown $wb_ok/$n;" \
        "panics $panics; hangs $hangs"
}

# ---------------------------------------------------------------------------- kills

# One document of 20 sentences; each round toggles "reviewed" of one sentence, then kills the
# workbench (sometimes a second one runs on the folder too, sometimes mid-save), and checks
# from the disk alone that the edit is in the file or in its journal, and nothing is corrupt.
kills() {
    local rounds="${1:-1000}" dir="$work/kills"
    mkdir -p "$dir"
    python3 - "$dir/d.json" <<'EOF'
import json, sys
records = [{"tokens": ["Sentence", str(i), "of", "the", "test", "."], "entities": [], "relations": []}
           for i in range(20)]
with open(sys.argv[1], "w") as f:
    f.write("[\n" + ",\n".join(json.dumps(r) for r in records) + "\n]\n")
EOF
    local lost=0 corrupt=0 temps=0 done_rounds=0 expected=0
    for ((round = 1; round <= rounds; round++)); do
        local pid second="" mode=$((RANDOM % 4))
        pid="$(start_workbench "k$round" "$dir")"
        # A journal left by the last kill is offered: take it, so edits keep adding up. The
        # question comes in the same frame as the document, so the round starts only once the
        # sentence shows its state as the disk has it and no question is open: a marker seen
        # before the recovery would pass for the edit.
        local now="not reviewed" ready="" deadline=$((SECONDS + 10)) shown
        [ $expected = 1 ] && now="✓ reviewed"
        while [ $SECONDS -lt $deadline ]; do
            shown="$(screen "k$round")"
            if grep -qF "Recover unsaved edits?" <<<"$shown"; then
                tmx send-keys -t "main:k$round" y
                sleep 0.05
            elif grep -qF "Sentence 1/20 · $now" <<<"$shown"; then
                ready=1
                break
            else
                sleep 0.02
            fi
        done
        if [ -z "$ready" ]; then
            fail "kills: round $round did not start with reviewed=$expected: $(screen "k$round" | grep -m1 'Sentence')"
            close "k$round"
            continue
        fi
        if [ $mode = 1 ]; then
            second="$(start_workbench "s$round" "$dir")"
        fi
        tmx send-keys -t "main:k$round" r
        expected=$((1 - expected))
        local marker="not reviewed"; [ $expected = 1 ] && marker="✓ reviewed"
        if ! wait_for "k$round" "Sentence 1/20 · $marker" 5; then
            fail "kills: round $round: the edit never showed"
            expected=$((1 - expected))
        fi
        if [ $mode = 2 ]; then
            tmx send-keys -t "main:k$round" C-s   # killed mid-save
            sleep "0.00$((RANDOM % 10))"
        else
            sleep "0.000$((RANDOM % 10))"          # within 1 ms of the edit appearing
        fi
        kill -9 "$pid" 2>/dev/null
        [ -n "$second" ] && kill -9 "$second" 2>/dev/null
        close "k$round"; [ -n "$second" ] && close "s$round"
        done_rounds=$((done_rounds + 1))
        # What a next start would see: the file, plus the journal if its base is the file.
        local verdict
        verdict="$(python3 "$root/scripts/reliability_state.py" "$dir/d.json")"
        case "$verdict" in
            corrupt*) corrupt=$((corrupt + 1)); fail "kills: round $round: $verdict" ;;
            reviewed=$expected) pass "kills: round $round" ;;
            *)
                lost=$((lost + 1))
                fail "kills: round $round: wanted reviewed=$expected, disk says $verdict"
                expected="${verdict#reviewed=}" ;;  # go on from what the disk holds
        esac
    done
    # The next start removes what killed writers left.
    pid="$(start_workbench last "$dir")"
    wait_for last "Sentence 1/20" 10
    temps=$(find "$dir" -name '*.tmp' | wc -l)
    kill -9 "$pid"; close last
    [ "$temps" = 0 ] || fail "kills: $temps temporary files left after the next start"
    echo "kills: $done_rounds kill -9 (a quarter with two instances, a quarter mid-save);" \
        "edits lost $lost; corrupt files $corrupt; temporary files left $temps"
}

# ---------------------------------------------------------------------------- memory

# The 152 MB JSON Lines file of 1,000,000 seven-word records that `memory` measures on.
million() {
    local file="$work/million.jsonl"
    [ -f "$file" ] && return
    python3 - "$file" <<'EOF'
import json, sys
with open(sys.argv[1], "w") as f:
    for i in range(1_000_000):
        f.write(json.dumps({"tokens": ["John", "Smith", "works", "for", "Acme", str(i), "."],
                            "entities": [{"type": "Peop", "start": 0, "end": 2}],
                            "relations": [], "orig_id": i}) + "\n")
EOF
    echo "memory: $(du -h "$file" | cut -f1) file, 1,000,000 records"
}

# Kilobytes of field $2 (VmRSS, VmHWM) of process $1.
vm() { awk -v f="$2:" '$1 == f {print $2}' "/proc/$1/status" 2>/dev/null; }

# Seconds since $1 (a `date +%s.%N`).
since() { echo "$(date +%s.%N) - $1" | bc; }

# The workbench on the million records, in tmux under /usr/bin/time -v: how long until the
# document is open and what it holds then, then one sentence marked reviewed and saved (the
# peak of the save), and that the other records came back byte for byte.
memory_workbench() {
    million
    local file="$work/million.jsonl" copy="$work/million.before.jsonl" pid="" started
    cp "$file" "$copy"
    if ! tmx has-session -t main 2>/dev/null; then
        tmx new-session -d -s main -x 120 -y 40 -n idle "sleep 100000"
        tmx set-option -g remain-on-exit on
    fi
    tmx new-window -d -t main -n wb -- /usr/bin/time -v -o "$work/time.wb" \
        "$bin" annotate --no-model "$file"
    started=$(date +%s.%N)
    for _ in $(seq 100); do
        pid=$(pgrep -P "$(tmx display-message -p -t main:wb '#{pane_pid}')" -x spanscope) && break
        sleep 0.05
    done
    # Keys answer while it loads: the help opens before the document is there.
    tmx send-keys -t main:wb '?'
    wait_for wb " Keys " 10 && screen wb | grep -qF "loading…" \
        && echo "memory: workbench: the help opened while the document was loading"
    tmx send-keys -t main:wb Escape
    wait_for wb "Sentence 1/1000000" 120 || fail "memory: the workbench did not open the file"
    echo "memory: workbench open after $(since "$started") s:" \
        "resident $(($(vm "$pid" VmRSS) / 1024)) MB, peak so far $(($(vm "$pid" VmHWM) / 1024)) MB"
    tmx send-keys -t main:wb r
    wait_for wb "Sentence 1/1000000 · ✓ reviewed" 10 || fail "memory: the edit did not show"
    started=$(date +%s.%N)
    tmx send-keys -t main:wb C-s
    wait_for wb "wrote million.jsonl" 120 || fail "memory: the save did not finish"
    echo "memory: workbench saved after $(since "$started") s:" \
        "resident $(($(vm "$pid" VmRSS) / 1024)) MB, peak so far $(($(vm "$pid" VmHWM) / 1024)) MB"
    tmx send-keys -t main:wb q
    for _ in $(seq 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
    local rss
    rss=$(awk -F': ' '/Maximum resident/ {print $2}' "$work/time.wb")
    echo "memory: workbench max RSS $((${rss:-0} / 1024)) MB (/usr/bin/time -v)"
    # Every record but the first, which was edited, as it was.
    cmp <(tail -n +2 "$copy") <(tail -n +2 "$file") \
        || fail "memory: the save changed records nobody edited"
    head -1 "$file" | grep -qF '"reviewed"' || fail "memory: the edit was not saved"
    close wb
}

memory() {
    million
    local file="$work/million.jsonl"
    # validate reads the whole file; predict runs for at most $PREDICT_SECONDS (default 120:
    # on a CPU a million sentences take hours), long enough for its memory to level off.
    local limit="${PREDICT_SECONDS:-120}"
    for cmd in "validate $file" "predict --input $file --output $work/million.out.jsonl"; do
        /usr/bin/time -v timeout -s INT "$limit" "$bin" $cmd > /dev/null 2> "$work/time" || true
        local rss wall
        rss=$(awk -F': ' '/Maximum resident/ {print $2}' "$work/time")
        wall=$(awk -F': ' '/Elapsed/ {print $2}' "$work/time")
        echo "memory: spanscope ${cmd%% *}: max RSS $((${rss:-0} / 1024)) MB, wall $wall"
        [ -n "$rss" ] || fail "memory: ${cmd%% *} gave no measurement: $(tail -3 "$work/time")"
        [ "${rss:-0}" -lt 512000 ] || fail "memory: ${cmd%% *} used $((rss / 1024)) MB"
    done
    local written=0
    [ -f "$work/million.out.jsonl.partial" ] && written=$(wc -l < "$work/million.out.jsonl.partial")
    [ -f "$work/million.out.jsonl" ] && written=$(wc -l < "$work/million.out.jsonl")
    echo "memory: predict wrote $written sentences in its time"
    [ "$written" -gt 0 ] || fail "memory: predict wrote nothing"
    memory_workbench
}

build
case "${1:-all}" in
    corpus) corpus ;;
    kills) kills "${2:-1000}" ;;
    memory) memory ;;
    memory-workbench) memory_workbench ;;
    all) corpus; kills "${2:-1000}"; memory ;;
    *) echo "usage: $0 corpus|kills [N]|memory|memory-workbench|all [N]" >&2; exit 2 ;;
esac
echo "failures: $failures"
[ $failures = 0 ]
