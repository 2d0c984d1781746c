#!/usr/bin/env python3
"""check.py - what rsyslog wrote against what the snapshots hold (tests/ship/test_ship.sh).

usage: check.py VIEW OUT.jsonl FACILITY [--dup-ok FILE]... [--tail-ok FILE]... SNAPSHOT...

Reads each SNAPSHOT through ttlog-view --json (the reader API), builds every message
ttlog-ship must have sent from the rules of docs/ship.md (an implementation of its own,
not the C encoder's), and compares with OUT.jsonl, one JSON object per message that
rsyslog received (its raw message and the fields its RFC 5424 parser found):
  - every message is there, byte for byte (raw), and rsyslog's parse of it gives the
    snapshot's values: PRI (facility, severity from the level), VERSION, TIMESTAMP,
    HOSTNAME, APP-NAME, PROCID, MSGID, STRUCTURED-DATA, MSG (BOM + text);
  - nothing else is there;
  - each message is there exactly once, except those of the snapshots given with --dup-ok
    (the ones whose connection was torn: their first part may have arrived twice, and is
    then byte-identical);
  - except, for the snapshots given with --tail-ok (the one acknowledged just before the
    receiver was killed), a missing tail: the last messages rsyslogd had read but not yet
    written when it died (docs/ship.md, "Read is not stored"). Such a loss is printed.
Prints one line per problem (at most 20 of each kind) and a summary; exit 1 on any problem.
"""
import json
import subprocess
import sys
from collections import Counter

BOM = "\ufeff"
SEV = {"TRACE": 7, "DEBUG": 7, "INFO": 6, "WARN": 4, "ERROR": 3, "FATAL": 2}


def pct(b, extra=b""):
    out = []
    for c in b:
        if c < 33 or c > 126 or c == 0x25 or c in extra:
            out.append("%%%02X" % c)
        else:
            out.append(chr(c))
    return out


def cut(pieces, limit):
    s, n = "", 0
    for p in pieces:
        if n + len(p) > limit:
            break
        s += p
        n += len(p)
    return s


def header(v, limit):
    """(what the header holds, whether it is v itself)"""
    b = v.encode()
    if not b:
        return "-", False
    if b == b"-":
        return "%2D", False
    s = cut(pct(b), limit)
    return s, s == v


def sd_name(v):
    b = v.encode()
    return cut(pct(b, b'="]'), 32) if b else "_"


def text(v, param):
    out = []
    for ch in v:
        o = ord(ch)
        if ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif o < 0x20 or o == 0x7F:
            out.append("\\x%02x" % o)
        elif param and ch in '"\\]':
            out.append("\\" + ch)
        else:
            out.append(ch)
    return "".join(out)


def timestamp(ns):
    import datetime

    t = datetime.datetime.fromtimestamp(ns // 10**9, datetime.timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%S") + ".%06dZ" % (ns % 10**9 // 1000)


def value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return "%.17g" % v
    return text(v, True)


def pairs(kv):
    return kv  # keep order and repeated keys


def view(viewbin, args):
    r = subprocess.run([viewbin] + args, capture_output=True, check=True)
    return [json.loads(l, object_pairs_hook=pairs) for l in r.stdout.decode().splitlines()]


def messages(viewbin, path, facility):
    """[(identity, expected dict)] of one snapshot, counters first"""
    (h,) = view(viewbin, ["--json", "-H", path])
    h = dict(h)
    host, svc, pid, created = h["hostname"], h["service"], h["pid"], h["created_ns"]
    cnt = dict(h["counters"])
    H, hexact = header(host, 255)
    A, aexact = header(svc, 48)
    out = []

    def meta_common(seq, msgid):
        m = '[ttlog.meta@32473 created="%d" seq="%d"' % (created, seq)
        M, mexact = header(msgid, 32)
        if not hexact and host:
            m += ' host="%s"' % text(host, True)
        if not aexact and svc:
            m += ' service="%s"' % text(svc, True)
        if not mexact and msgid:
            m += ' target="%s"' % text(msgid, True)
        return m, M

    def msg(sev, ts, M, sd, body):
        raw = "<%d>1 %s %s %s %d %s %s %s%s" % (facility * 8 + sev, ts, H, A, pid, M, sd, BOM, body)
        return {"raw": raw, "pri": str(facility * 8 + sev), "ver": "1", "ts": ts,
                "host": H, "app": A, "procid": str(pid), "msgid": M, "sd": sd,
                "msg": BOM + body}

    # --json's gap records ({"gap": ...} lines) are not events
    events = [e for e in view(viewbin, ["--json", path]) if e[0][0] != "gap"]
    meta, M = meta_common(0, "ttlog.counters")
    meta += ' reason="%s" variant="%s" events="%d"]' % (
        text(h["reason"], True), text(h["variant"], True), len(events))
    loss = (cnt["overwritten"] or cnt["dropped"] or cnt["truncated"] or cnt.get("clipped", 0)
            or cnt.get("torn", 0))
    sd = "[ttlog@32473" + "".join(
        ' %s="%d"' % (k, cnt.get(k, 0))
        for k in ("logged", "kept", "overwritten", "dropped", "truncated", "in_flight",
                  "clipped", "torn")) + "]" + meta
    body = "snapshot %s: %d events, %d overwritten, %d dropped, %d truncated" % (
        h["reason"], len(events), cnt["overwritten"], cnt["dropped"], cnt["truncated"])
    out.append(((host, pid, created, 0), msg(4 if loss else 6, timestamp(created),
                                             "ttlog.counters", sd, text(body, False))))
    for seq, e in enumerate(events, 1):
        e = dict(e)
        meta, M = meta_common(seq, e["target"])
        meta += ' level="%s" thread="%d"]' % (e["level"].lower(), e["thread"])
        sd = ""
        if e["fields"]:
            sd = "[ttlog@32473" + "".join(
                ' %s="%s"' % (sd_name(k), value(v)) for k, v in e["fields"]) + "]"
        out.append(((host, pid, created, seq),
                    msg(SEV[e["level"]], timestamp(e["ts_ns"]), M, sd + meta,
                        text(e["message"], False))))
    return out


def main():
    args = sys.argv[1:]
    viewbin, outfile, facility = args[0], args[1], int(args[2])
    dup_ok, tail_ok, snaps, i = set(), set(), [], 3
    while i < len(args):
        if args[i] == "--dup-ok":
            dup_ok.add(args[i + 1])
            i += 2
        elif args[i] == "--tail-ok":
            tail_ok.add(args[i + 1])
            i += 2
        else:
            snaps.append(args[i])
            i += 1
    want = {}  # raw -> (expected, snapshot path, seq)
    for p in snaps:
        for ident, m in messages(viewbin, p, facility):
            want[m["raw"]] = (m, p, ident[3])
    with open(outfile, "rb") as f:
        got = [json.loads(l) for l in f.read().decode("utf-8").splitlines()]
    seen = Counter(g["raw"] for g in got)
    problems = Counter()

    def bad(kind, line):
        problems[kind] += 1
        if problems[kind] <= 20:
            print("FAIL " + line)

    fields_checked = 0
    for g in got:
        w = want.get(g["raw"])
        if w is None:
            bad("unexpected", "unexpected message: %r" % g["raw"][:300])
            continue
        for k, v in w[0].items():
            if g.get(k) != v:
                bad("field", "%s: rsyslog parsed %r, want %r (message %r)" % (k, g.get(k), v,
                                                                            g["raw"][:200]))
            fields_checked += 1
    missing = dups = allowed_dups = 0
    # a missing tail of a --tail-ok snapshot: from its first missing seq on, all missing
    lost = {}
    for raw, (m, p, seq) in want.items():
        if p in tail_ok and seen.get(raw, 0) == 0:
            lost.setdefault(p, []).append(seq)
    tails = {}
    for p, seqs in lost.items():
        last = max(s for (_, q, s) in want.values() if q == p)
        first = min(seqs)
        if len(seqs) == last - first + 1:
            tails[p] = first
            print("residual loss: the last %d of %d messages of %s (acknowledged, then the "
                  "receiver was killed before writing them; docs/ship.md)" %
                  (len(seqs), last + 1, p))
    for raw, (m, p, seq) in want.items():
        n = seen.get(raw, 0)
        if n == 0 and p in tails and seq >= tails[p]:
            continue
        if n == 0:
            missing += 1
            bad("missing", "missing from %s: %r" % (p, raw[:300]))
        elif n > 1:
            if p in dup_ok:
                allowed_dups += n - 1
            else:
                dups += n - 1
                bad("dup", "%d times (%s): %r" % (n, p, raw[:300]))
    print("check: %d snapshots, %d messages expected, %d received, %d fields compared; "
          "%d missing, %d unexpected, %d duplicates (%d more in torn snapshots, allowed)" %
          (len(snaps), len(want), len(got), fields_checked, missing, problems["unexpected"],
           dups, allowed_dups))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
