#!/usr/bin/env python3
"""Prints the CSV body of the last reply chunk in a chunked-protocol reply stream (stdin)."""

import sys

data = sys.stdin.buffer.read()
body = b""
while data:
    nl = data.index(b"\n")
    header = data[:nl].decode()
    if not header.startswith("chunked 1.0,"):
        sys.exit("not a chunked reply stream: %r" % header[:40])
    meta_len, body_len = (int(x) for x in header[len("chunked 1.0,"):].split(","))
    start = nl + 1 + meta_len
    body = data[start:start + body_len]
    data = data[start + body_len:]
sys.stdout.buffer.write(body)
