#!/usr/bin/env python3
"""Writes the malformed and special-file corpus of scripts/reliability.sh into DIR.

Prints one line per case: the file name, a tab, and text the error must contain (besides the
file's path): the record, line or byte it is at and the reason's key words.
"""
import json
import os
import socket
import sys

out = sys.argv[1]
cases = []


def case(name, data, expect):
    path = os.path.join(out, name)
    with open(path, "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())
    cases.append((name, expect))


GOOD = {"tokens": ["John", "works", "for", "Acme", "."],
        "entities": [{"type": "Peop", "start": 0, "end": 1}, {"type": "Org", "start": 3, "end": 4}],
        "relations": [{"type": "Work_For", "head": 0, "tail": 1}]}

# Whole-file problems of a JSON array.
files = [
    ("empty", "", "invalid JSON"),
    ("spaces", "   \n\t ", "invalid JSON"),
    ("open-bracket", "[", "line 1, column"),
    ("open-record", "[{", "line 1, column"),
    ("trailing-comma", '[{"tokens":["a"]},]', "line 1, column"),
    ("two-values", "[] []", "line 1, column"),
    ("garbage", "hello world", "line 1, column"),
    ("nul", "nul", "line 1, column"),
    ("unterminated-string", '[{"tokens":["a', "line 1, column"),
    ("bad-escape", r'[{"tokens":["\q"]}]', "line 1, column"),
    ("lone-surrogate", r'[{"tokens":["\ud800"]}]', "line 1, column"),
    ("control-char", '[{"tokens":["a\x01b"]}]', "line 1, column"),
    ("top-string", '"tokens"', "top level must be a JSON array"),
    ("top-number", "42", "top level must be a JSON array"),
    ("top-null", "null", "top level must be a JSON array"),
    ("top-true", "true", "top level must be a JSON array"),
    ("deep-nesting", "[" * 100_000, "recursion limit"),
    ("deep-record", "[" + '{"a":' * 10_000 + "1" + "}" * 10_000 + "]", "recursion limit"),
    ("huge-number", '[{"tokens":["a"],"entities":[{"type":"P","start":1e400,"end":1}]}]', "record 0: entity 0: `start` must be a non-negative integer"),
    ("bom-garbage", "\ufeff{{", "line 1, column"),
]
for name, data, expect in files:
    case(f"file-{name}.json", data, expect)
case("file-invalid-utf8.json", b'[{"tokens":["\xff\xfe"]}]', "byte 13: invalid UTF-8")
case("file-latin1.json", '[{"tokens":["caf\xe9"]}]'.encode("latin-1"), "invalid UTF-8")
case("file-utf16.json", '[{"tokens":["a"]}]'.encode("utf-16"), "invalid UTF-8")
case("file-invalid-utf8.txt", b"Ann sleeps.\n\xc3\x28 more\n", "invalid UTF-8")
case("file-unknown.csv", "a,b\n", "unknown file type")

# Record-level problems: (what, record, reason key words). Each goes into a .json array after
# two good records and into a .jsonl file at line 3, so the place is record 2 (line 3).
records = [
    ("number", 7, "a record must be a JSON object"),
    ("string", "x", "a record must be a JSON object"),
    ("array", [1], "a record must be a JSON object"),
    ("null", None, "a record must be a JSON object"),
    ("bool", True, "a record must be a JSON object"),
    ("no-tokens", {"entities": []}, "missing `tokens`"),
    ("tokens-string", {"tokens": "a b"}, "`tokens`"),
    ("tokens-object", {"tokens": {"a": 1}}, "`tokens`"),
    ("token-number", {"tokens": ["a", 5]}, "token 1"),
    ("token-null", {"tokens": [None]}, "token 0"),
    ("token-array", {"tokens": [["a"]]}, "token 0"),
    ("token-empty", {"tokens": ["a", ""]}, "token 1"),
    ("token-spaces", {"tokens": ["a", "   "]}, "token 1"),
    ("token-zero-width", {"tokens": ["a", "\u200b"]}, "token 1"),
    ("entities-string", {"tokens": ["a"], "entities": "x"}, "`entities`"),
    ("entities-object", {"tokens": ["a"], "entities": {}}, "`entities`"),
    ("entity-number", {"tokens": ["a"], "entities": [3]}, "entity 0"),
    ("entity-no-type", {"tokens": ["a"], "entities": [{"start": 0, "end": 1}]}, "entity 0: missing `type`"),
    ("entity-type-number", {"tokens": ["a"], "entities": [{"type": 1, "start": 0, "end": 1}]}, "entity 0"),
    ("entity-type-empty", {"tokens": ["a"], "entities": [{"type": "", "start": 0, "end": 1}]}, "entity 0"),
    ("entity-no-start", {"tokens": ["a"], "entities": [{"type": "P", "end": 1}]}, "entity 0: missing `start`"),
    ("entity-no-end", {"tokens": ["a"], "entities": [{"type": "P", "start": 0}]}, "entity 0: missing `end`"),
    ("entity-negative", {"tokens": ["a"], "entities": [{"type": "P", "start": -1, "end": 1}]}, "entity 0"),
    ("entity-float", {"tokens": ["a"], "entities": [{"type": "P", "start": 0.5, "end": 1}]}, "entity 0"),
    ("entity-string-index", {"tokens": ["a"], "entities": [{"type": "P", "start": "0", "end": 1}]}, "entity 0"),
    ("entity-reversed", {"tokens": ["a", "b"], "entities": [{"type": "P", "start": 2, "end": 1}]}, "entity 0"),
    ("entity-empty-span", {"tokens": ["a", "b"], "entities": [{"type": "P", "start": 1, "end": 1}]}, "entity 0"),
    ("entity-past-end", {"tokens": ["a"], "entities": [{"type": "P", "start": 0, "end": 5}]}, "entity 0"),
    ("entity-huge-index", {"tokens": ["a"], "entities": [{"type": "P", "start": 0, "end": 10**30}]}, "entity 0"),
    ("entity-duplicate", {"tokens": ["a"], "entities": [{"type": "P", "start": 0, "end": 1}] * 2}, "entity 1"),
    ("relations-string", {"tokens": ["a"], "relations": "x"}, "`relations`"),
    ("relation-number", {"tokens": ["a"], "relations": [1]}, "relation 0"),
    ("relation-no-type", {**GOOD, "relations": [{"head": 0, "tail": 1}]}, "relation 0: missing `type`"),
    ("relation-no-head", {**GOOD, "relations": [{"type": "W", "tail": 1}]}, "relation 0: missing `head`"),
    ("relation-no-tail", {**GOOD, "relations": [{"type": "W", "head": 0}]}, "relation 0: missing `tail`"),
    ("relation-head-out", {**GOOD, "relations": [{"type": "W", "head": 5, "tail": 1}]}, "relation 0"),
    ("relation-tail-out", {**GOOD, "relations": [{"type": "W", "head": 0, "tail": 9}]}, "relation 0"),
    ("relation-negative", {**GOOD, "relations": [{"type": "W", "head": -1, "tail": 1}]}, "relation 0"),
    ("relation-float", {**GOOD, "relations": [{"type": "W", "head": 0.0, "tail": 1}]}, "relation 0"),
    ("relation-self", {**GOOD, "relations": [{"type": "W", "head": 0, "tail": 0}]}, "relation 0"),
    ("relation-no-entities", {"tokens": ["a"], "relations": [{"type": "W", "head": 0, "tail": 1}]}, "relation 0"),
    ("relation-duplicate", {**GOOD, "relations": [{"type": "W", "head": 0, "tail": 1}] * 2}, "relation 1"),
    ("relation-type-empty", {**GOOD, "relations": [{"type": "", "head": 0, "tail": 1}]}, "relation 0"),
    ("token-bool", {"tokens": [True]}, "token 0"),
    ("tokens-null", {"tokens": None}, "`tokens`"),
    ("entity-array", {"tokens": ["a"], "entities": [[0, 1]]}, "entity 0"),
    ("entity-null", {"tokens": ["a"], "entities": [None]}, "entity 0"),
    ("entity-type-null", {"tokens": ["a"], "entities": [{"type": None, "start": 0, "end": 1}]}, "entity 0"),
    ("entity-end-null", {"tokens": ["a"], "entities": [{"type": "P", "start": 0, "end": None}]}, "entity 0"),
    ("relation-null", {**GOOD, "relations": [None]}, "relation 0"),
    ("relation-type-null", {**GOOD, "relations": [{"type": None, "head": 0, "tail": 1}]}, "relation 0"),
    ("relation-head-string", {**GOOD, "relations": [{"type": "W", "head": "0", "tail": 1}]}, "relation 0"),
]
for name, record, reason in records:
    body = [GOOD, GOOD, record]
    case(f"record-{name}.json", "[\n" + ",\n".join(json.dumps(r) for r in body) + "\n]\n",
         f"record 2: {reason}" if not reason.startswith("`") else "record 2: ")
    case(f"record-{name}.jsonl", "".join(json.dumps(r) + "\n" for r in body),
         f"record 2 (line 3): {reason}" if not reason.startswith("`") else "record 2 (line 3): ")

# A key twice in one object: JSON parsers keep one value silently, so it is a bad record.
twice = '{"tokens":["a"],"n":1,"n":2}'
case("record-key-twice.json", "[\n" + json.dumps(GOOD) + ",\n" + json.dumps(GOOD) + ",\n" + twice + "\n]\n",
     'record 2: the key "n" appears twice')
case("record-key-twice.jsonl", json.dumps(GOOD) + "\n" + json.dumps(GOOD) + "\n" + twice + "\n",
     'record 2 (line 3): the key "n" appears twice')

# JSON Lines whose lines are not JSON.
lines = [
    ("open", "{"),
    ("garbage", "hello"),
    ("two-values", '{"tokens":["a"]} {"tokens":["b"]}'),
    ("trailing-comma", '{"tokens":["a"],}'),
    ("array-line", '[{"tokens":["a"]}]'),
]
for name, line in lines:
    text = json.dumps(GOOD) + "\n" + json.dumps(GOOD) + "\n" + line + "\n"
    expect = "record 2 (line 3): " if name == "array-line" else "line 3, column"
    case(f"lines-{name}.jsonl", text, expect)
case("lines-invalid-utf8.jsonl", (json.dumps(GOOD) + "\n").encode() + b'{"tokens":["\xff"]}\n',
     "invalid UTF-8")
case("lines-deep.jsonl", "[" * 50_000 + "\n", "recursion limit")

# Special files: not regular files, so refused by name without waiting for them.
special = []
os.mkfifo(os.path.join(out, "special-fifo.json"))
special.append(("special-fifo.json", "a named pipe (FIFO), not a file"))
os.mkfifo(os.path.join(out, "special-fifo.jsonl"))
special.append(("special-fifo.jsonl", "a named pipe (FIFO), not a file"))
for dev in ["zero", "null", "urandom", "full"]:
    for ext in ["json", "jsonl", "txt"]:
        name = f"special-dev-{dev}.{ext}"
        os.symlink(f"/dev/{dev}", os.path.join(out, name))
        special.append((name, "a device, not a file"))
os.mkdir(os.path.join(out, "special-folder.json"))
special.append(("special-folder.json", "folder"))
os.symlink(os.path.join(out, "nowhere.json"), os.path.join(out, "special-dangling.json"))
special.append(("special-dangling.json", "No such file"))
os.symlink("special-loop.json", os.path.join(out, "special-loop.json"))
special.append(("special-loop.json", "symbolic links"))
sock = socket.socket(socket.AF_UNIX)
sock.bind(os.path.join(out, "special-socket.json"))
special.append(("special-socket.json", "socket"))
cases.extend(special)

for name, expect in cases:
    print(f"{name}\t{expect}")
