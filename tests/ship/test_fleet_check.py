#!/usr/bin/env python3
"""test_fleet_check.py - stress/fleet_check.py's reading of rsyslogd's output file: a line
the kill of rsyslogd cut short (here inside a UTF-8 sequence) is skipped only where the
demo says the kill left it; anywhere else it, and any line that is not a ttlog-ship
message, is a reported problem. Exit 0 when every check holds."""
import contextlib
import io
import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                "stress"))
import fleet_check as fc  # noqa: E402

MSG = ('<14>1 2026-12-04T00:00:00.000001Z node-1 svc 4242 db.query '
       '[ttlog@32473 rows="3" note="\u00e9t\u00e9 \ufffd"]'
       '[ttlog.meta@32473 created="1764806400000000000" seq="%d" level="info" thread="7"] '
       'query done')
failures = 0


def line(seq):
    """as rsyslogd's template writes it: JSON escapes, UTF-8 left as it is"""
    return (json.dumps({"raw": MSG % seq}, ensure_ascii=False) + "\n").encode()


def read(data, torn_line):
    fc.problems.clear()
    with tempfile.NamedTemporaryFile(suffix=".jsonl") as f:
        f.write(data)
        f.flush()
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            got, n, torn = fc.read_rsyslog(f.name, torn_line)
    return got, n, torn, dict(fc.problems), out.getvalue()


def expect(what, cond, detail):
    global failures
    if not cond:
        failures += 1
        print("FAIL %s: %s" % (what, detail))
    else:
        print("ok   %s" % what)


# the kill cut line 2 inside U+FFFD (EF BF BD): only the EF byte got written
cut = line(2)[: line(2).index("\ufffd".encode()) + 1]
data = line(1) + cut + b"\n" + line(3)

got, n, torn, probs, out = read(data, 2)
seqs = sorted(k[3] for k in got)
expect("the torn line named by the demo is skipped and said", torn and probs == {} and
       "cut short" in out and seqs == [1, 3] and n == 3, (torn, probs, seqs, n, out))

got, n, torn, probs, out = read(data, None)
expect("a torn line the demo did not name is a problem", not torn and
       probs == {"unparsed": 1} and sorted(k[3] for k in got) == [1, 3], (torn, probs, out))

got, n, torn, probs, out = read(data, 3)
expect("naming another line does not excuse the torn one", not torn and
       probs == {"unparsed": 1}, (torn, probs, out))

got, n, torn, probs, out = read(line(1) + b'{"raw":"not syslog"}\n' + line(1), None)
expect("a line that is not a ttlog-ship message is a problem; copies are counted",
       probs == {"unparsed": 1} and list(got.values())[0][0] == 2, (probs, got))

sys.exit(1 if failures else 0)
