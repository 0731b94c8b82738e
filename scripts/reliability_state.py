#!/usr/bin/env python3
"""What a workbench starting now would show for sentence 0 of FILE: `reviewed=1` or `reviewed=0`
(the file, with its recovery journal replayed when the journal's base is the file), or
`corrupt: why` when the file or the journal is not what spanscope writes. Used by
scripts/reliability.sh kills."""
import json
import os
import sys

path = sys.argv[1]
try:
    data = open(path, "rb").read()
    records = json.loads(data)
    assert isinstance(records, list)
except Exception as e:  # noqa: BLE001 - any failure is a corrupt file
    print(f"corrupt: {path}: {e}")
    sys.exit(0)

h = 0xCBF29CE484222325
for b in data:
    h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
sentence = records[0]
journal = os.path.join(os.path.dirname(path), ".spanscope", "recovery",
                       os.path.basename(path) + ".journal.jsonl")
if os.path.exists(journal):
    raw = open(journal, "rb").read()
    lines = raw.split(b"\n")[:-1]  # a torn last line is left out, as spanscope does
    try:
        header = json.loads(lines[0]) if lines else None
        base = header and header.get("base")
        if base and base.get("len") == len(data) and base.get("hash") == h:
            for line in lines[1:]:
                if line.strip():
                    entry = json.loads(line)
                    if entry["sentence"] == 0:
                        sentence = entry["after"]
    except Exception as e:  # noqa: BLE001
        print(f"corrupt: {journal}: {e}")
        sys.exit(0)
print(f"reviewed={1 if sentence.get('reviewed') is True else 0}")
