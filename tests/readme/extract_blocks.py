#!/usr/bin/env python3
"""Write the runnable shell blocks of a Markdown file as numbered scripts.

A fenced block whose info string is `sh runnable` is run by tests/readme/readme_blocks.sh;
`sh runnable root` marks a block that needs root (or sudo). A `text output` block right after
a runnable one (only blank lines between) is what that block must print on stdout, exactly.

usage: extract_blocks.py MARKDOWN OUTDIR
Writes OUTDIR/NNN.sh, OUTDIR/NNN.line (the block's line in MARKDOWN), OUTDIR/NNN.root (when
marked root) and OUTDIR/NNN.expected; prints the number of runnable blocks.
"""
import os
import re
import sys


def fence(line):
    """The run of backticks opening a fenced block at `line`, and its info string; CommonMark:
    three or more backticks, and an info string without a backtick (else it is inline code)."""
    m = re.match(r"^ {0,3}(`{3,})([^`]*)$", line)
    return (m.group(1), m.group(2)) if m else (None, None)


def fenced_blocks(lines):
    """Yield (info words, first line number, body lines, end index) of each fenced block."""
    i = 0
    while i < len(lines):
        ticks, info = fence(lines[i])
        if ticks:
            info = info.strip().split()
            start = i + 1
            j = start
            # The closing fence: backticks only, at least as many as the opening one.
            while j < len(lines) and not re.match(r"^ {0,3}" + ticks + r"`*\s*$", lines[j]):
                j += 1
            if j == len(lines):
                raise SystemExit(f"line {i + 1}: fenced block is not closed")
            yield info, i + 1, lines[start:j], j
            i = j + 1
        else:
            i += 1


def main():
    md, out = sys.argv[1], sys.argv[2]
    lines = open(md, encoding="utf-8").read().split("\n")
    os.makedirs(out, exist_ok=True)
    count = 0
    last = None  # (name, end index) of the previous runnable block
    for info, lineno, body, end in fenced_blocks(lines):
        if info[:2] == ["sh", "runnable"]:
            unknown = set(info[2:]) - {"root"}
            if unknown:
                raise SystemExit(f"line {lineno}: unknown marker(s) {sorted(unknown)}")
            count += 1
            name = os.path.join(out, f"{count:03d}")
            with open(name + ".sh", "w", encoding="utf-8") as f:
                f.write("\n".join(body) + "\n")
            with open(name + ".line", "w", encoding="utf-8") as f:
                f.write(f"{lineno}\n")
            if "root" in info:
                open(name + ".root", "w").close()
            last = (name, end)
        elif info[:2] == ["text", "output"]:
            between = lines[last[1] + 1:lineno - 1] if last else ["no runnable block"]
            if any(x.strip() for x in between):
                raise SystemExit(f"line {lineno}: an output block must follow a runnable block")
            with open(last[0] + ".expected", "w", encoding="utf-8") as f:
                f.write("\n".join(body) + "\n")
            last = None
        else:
            last = None
    print(count)


if __name__ == "__main__":
    main()
