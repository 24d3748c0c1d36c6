#!/usr/bin/env python3
"""Copy the files `docker build` would send as its context: DIR minus what DIR/.dockerignore
excludes, by the rules Docker documents for .dockerignore (Go filepath.Match patterns relative
to the context root, `**` for any number of directories, `!` re-includes, the last matching
line wins, and a pattern that matches a directory excludes everything below it).

usage: docker_context.py CONTEXT_DIR OUT_DIR   (prints the copied paths, one a line)
Without a .dockerignore everything is copied, as Docker does.
"""
import os
import re
import shutil
import sys


def pattern_regex(pattern):
    """A .dockerignore pattern as a regex over a slash-separated relative path."""
    out = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if pattern.startswith("**", i):
            i += 2
            if pattern.startswith("/", i):  # "**/" : zero or more directories
                i += 1
                out.append("(?:.*/)?")
            else:
                out.append(".*")
            continue
        if c == "*":
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[":
            j = pattern.find("]", i + 1)
            if j < 0:
                raise SystemExit(f"bad pattern {pattern!r}")
            out.append("[" + pattern[i + 1:j] + "]")  # Go and Python both negate with ^
            i = j
        elif c == "\\" and i + 1 < len(pattern):
            i += 1
            out.append(re.escape(pattern[i]))
        else:
            out.append(re.escape(c))
        i += 1
    return re.compile("".join(out) + r"\Z")


def read_rules(path):
    rules = []
    if not os.path.exists(path):
        return rules
    for line in open(path, encoding="utf-8"):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        include = line.startswith("!")
        if include:
            line = line[1:].strip()
        line = os.path.normpath(line).lstrip("/")
        rules.append((include, pattern_regex(line)))
    return rules


def excluded(rel, rules):
    """Docker checks the path and each of its parent directories against every pattern."""
    parts = rel.split("/")
    prefixes = ["/".join(parts[:n]) for n in range(1, len(parts) + 1)]
    verdict = False
    for include, rx in rules:
        if any(rx.match(p) for p in prefixes):
            verdict = not include
    return verdict


def main():
    src, out = sys.argv[1], sys.argv[2]
    rules = read_rules(os.path.join(src, ".dockerignore"))
    for root, dirs, files in os.walk(src):
        dirs.sort()
        for name in sorted(files) + [d for d in dirs if os.path.islink(os.path.join(root, d))]:
            full = os.path.join(root, name)
            rel = os.path.relpath(full, src)
            if excluded(rel, rules):
                continue
            dest = os.path.join(out, rel)
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            shutil.copy2(full, dest, follow_symlinks=False)
            print(rel)


if __name__ == "__main__":
    main()
