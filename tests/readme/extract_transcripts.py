#!/usr/bin/env python3
"""Write the commands of a Markdown file's console transcripts as one script.

A transcript is a fenced block without an info string whose first line starts with "$ ": each
"$ " line is a command (with its continuation lines ending in a backslash, and the body of a
quoted here-document), and the output shown after it follows. The script runs the commands in
order; for a command whose shown output starts with an HTTP status line ("HTTP/1.1 200 OK", as
`curl -i` prints), it checks the status that command really prints.

usage: extract_transcripts.py MARKDOWN > SCRIPT   (prints nothing when there is no transcript)
"""
import re
import shlex
import sys

sys.path.insert(0, __import__("os").path.dirname(__file__))
from extract_blocks import fenced_blocks  # noqa: E402


def commands(body):
    """Yield (command text, shown output lines) of each "$ " command of a transcript."""
    i = 0
    while i < len(body):
        if not body[i].startswith("$ "):
            i += 1
            continue
        cmd = [body[i][2:]]
        i += 1
        while cmd[-1].endswith("\\") and i < len(body):
            cmd.append(body[i])
            i += 1
        heredoc = re.search(r"<<-?'(\w+)'", "\n".join(cmd))
        if heredoc:
            while i < len(body) and body[i] != heredoc.group(1):
                cmd.append(body[i])
                i += 1
            cmd.append(body[i] if i < len(body) else heredoc.group(1))
            i += 1
        shown = []
        while i < len(body) and not body[i].startswith("$ "):
            shown.append(body[i])
            i += 1
        yield "\n".join(cmd), shown


def main():
    lines = open(sys.argv[1], encoding="utf-8").read().split("\n")
    out = []
    for info, lineno, body, _ in fenced_blocks(lines):
        if info or not body or not body[0].startswith("$ "):
            continue
        for cmd, shown in commands(body):
            where = f"{sys.argv[1]} line {lineno} ({cmd.splitlines()[0][:60]})"
            out.append(f"echo {shlex.quote(where)} >\"$CURRENT\"")
            status = shown[0].split()[1] if shown and shown[0].startswith("HTTP/1.1 ") else None
            if status:
                out.append(f"got=$({cmd}\n) || exit 1")
                out.append(f"case \"$got\" in 'HTTP/1.1 {status} '*) ;; *) echo \"got: "
                           f"$(printf '%s' \"$got\" | head -n 1)\" >&2; exit 1 ;; esac")
                out.append(f"echo {shlex.quote('ok - ' + where + ': HTTP ' + status)}")
            else:
                out.append(f"{cmd}\n" if "<<" in cmd else cmd)
                out.append(f"echo {shlex.quote('ok - ' + where)}")
    if out:
        print("set -e\n" + "\n".join(out))


if __name__ == "__main__":
    main()
