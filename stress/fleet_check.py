#!/usr/bin/env python3
"""fleet_check.py - every event of every snapshot exactly once in rsyslog and in PostgreSQL
(stress/fleet_demo.sh).

usage: fleet_check.py --view VIEW --rsyslog OUT.jsonl [--rsyslog-torn LINE]
                      [--pg SNAPSHOTS.csv EVENTS.csv] [--counts FILE]
                      [--dup-ok SNAPSHOT]... [--tail-ok SNAPSHOT]... NODEDIR...

The truth is each snapshot file of each NODEDIR as ttlog-view --json reads it (header and
events; gap records are not events).

rsyslog (OUT.jsonl: one {"raw": ...} per message rsyslogd wrote): each message is parsed
as RFC 5424 (HOSTNAME, PROCID, TIMESTAMP, MSGID, the SD-ELEMENTs [ttlog@32473 ...] and
[ttlog.meta@32473 created seq level thread]) and found by its identity (hostname, pid,
created, seq): seq 0 is the snapshot's counters message, 1..N its events, oldest first
(docs/ship.md). Checked per message: the parsed PROCID, TIMESTAMP, MSGID, fields, level
and thread equal the event's, and the whole raw message equals the one tests/ship/check.py
builds from the snapshot by the rules of docs/ship.md (an implementation independent of
the agent's encoder). Each message exactly once, no other message, except:
  --dup-ok S   the snapshot whose connection the kill tore (the agent's "down" line names
               it): its first part may be there twice, byte for byte the same;
  --tail-ok S  the snapshot an agent had acknowledged last when rsyslogd was killed: the
               last messages it had read but not written may be missing (docs/ship.md,
               "Read is not stored"). Such a loss is printed.
  --rsyslog-torn N  line N of OUT.jsonl is where rsyslogd's file ended when it was
               killed: rsyslogd may have been inside its write(), so the line may be cut
               short (at any byte, inside a UTF-8 sequence too); if so it is skipped and
               its message counts as not stored (the --tail-ok or the resend rules).

PostgreSQL (two CSV dumps, see fleet_demo.sh): one row per snapshot identity (hostname,
pid, created_ns) with the file's service, reason, kept and event count; one row per event
(identity, seq from 0) with the file's time_ns, level, target, message, thread and fields
(jsonb compared as JSON values). Strictly exactly once: nothing missing, nothing else.

--counts FILE: writes "NODEDIR-NAME SNAPSHOTS EVENTS" per node directory (for the rates).
Prints one line per problem (at most 20 of each kind) and a summary per engine; exit 1
on any problem.
"""
import csv
import json
import os
import re
import sys
from collections import Counter

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                "ship"))
import check as ship  # noqa: E402  (tests/ship/check.py: the expected RFC 5424 messages)

FACILITY = 1  # ttlog-ship's default, user
csv.field_size_limit(1 << 30)

problems = Counter()


def bad(kind, line):
    problems[kind] += 1
    if problems[kind] <= 20:
        print("FAIL " + line)


# ---- ttlog-view, one call per file and mode ------------------------------------------------
_cache = {}
_view = ship.view


def view(viewbin, args):
    key = tuple(args)
    if key not in _cache:
        if len(_cache) >= 4:  # the two calls of the previous file
            _cache.clear()
        _cache[key] = _view(viewbin, args)
    return _cache[key]


ship.view = view  # check.messages() reads the files through the same cache


def snapshot(viewbin, path):
    """(header, events) as ttlog-view --json shows them; nested objects as (key, value)
    pairs, in the file's order"""
    (h,) = view(viewbin, ["--json", "-H", path])
    events = [dict(e) for e in view(viewbin, ["--json", path]) if e[0][0] != "gap"]
    return dict(h), events


# ---- RFC 5424 ----------------------------------------------------------------------------
HDR = re.compile(r"<(\d+)>1 (\S+) (\S+) (\S+) (\S+) (\S+) ")
PARAM = re.compile(r' ([^= \]"]+)="((?:[^"\\\]]|\\.)*)"')


def parse(raw):
    """(header fields, {sd-id: [(name, value as written)]}) or None"""
    m = HDR.match(raw)
    if m is None:
        return None
    pri, ts, host, app, procid, msgid = m.groups()
    rest = raw[m.end():]
    sd = {}
    if rest.startswith("-"):
        return None  # ttlog-ship always writes a meta element
    while rest.startswith("["):
        sid_end = min(i for i in (rest.find(" "), rest.find("]")) if i >= 0)
        sid = rest[1:sid_end]
        pos = sid_end
        params = []
        while rest[pos] == " ":
            p = PARAM.match(rest, pos)
            if p is None:
                return None
            params.append((p.group(1), p.group(2)))
            pos = p.end()
        if rest[pos] != "]":
            return None
        sd[sid] = params
        rest = rest[pos + 1:]
    return {"pri": pri, "ts": ts, "host": host, "procid": procid, "msgid": msgid}, sd


def expected_parse(h, seq, e):
    """what the parse of event e's message must give (seq >= 1)"""
    fields = tuple((ship.sd_name(k), ship.value(v)) for k, v in e["fields"])
    return (str(h["pid"]), ship.timestamp(e["ts_ns"]), ship.header(e["target"], 32)[0], fields,
            str(h["created_ns"]), str(seq), e["level"].lower(), str(e["thread"]))


def got_parse(hdr, sd):
    meta = dict(sd.get("ttlog.meta@32473", []))
    return (hdr["procid"], hdr["ts"], hdr["msgid"], tuple(sd.get("ttlog@32473", [])),
            meta.get("created"), meta.get("seq"), meta.get("level"), meta.get("thread"))


def json_line(line):
    try:
        return json.loads(line)["raw"]
    except (UnicodeDecodeError, ValueError, KeyError, TypeError):
        return None


def read_rsyslog(path, torn_line):
    """identity -> [copies, hash of raw, hash of the parse, whether copies differ]; the
    number of lines; whether line torn_line was torn (rsyslogd killed inside its write)"""
    got = {}
    n = 0
    torn = False
    with open(path, "rb") as f:
        for line in f:
            n += 1
            raw = json_line(line)
            if raw is None and n == torn_line:
                torn = True
                print("rsyslog: line %d, %d bytes, was cut short by rsyslogd's kill (allowed; "
                      "its message counts as not stored)" % (n, len(line)))
                continue
            if raw is None:
                bad("unparsed", "rsyslog: line %d is not a JSON object with \"raw\": %r" %
                    (n, line[:300]))
                continue
            p = parse(raw)
            meta = dict(p[1].get("ttlog.meta@32473", [])) if p else {}
            if p is None or "created" not in meta or "seq" not in meta:
                bad("unparsed", "rsyslog: not a ttlog-ship message: %r" % raw[:300])
                continue
            hdr, sd = p
            key = (hdr["host"], hdr["procid"], meta["created"], int(meta["seq"]))
            hp = hash(got_parse(hdr, sd))
            g = got.get(key)
            if g is None:
                got[key] = [1, hash(raw), hp, False]
            else:
                g[0] += 1
                g[3] |= g[1] != hash(raw)
    return got, n, torn


class Rsyslog:
    def __init__(self, out, torn_line, dup_ok, tail_ok):
        self.got, self.nlines, self.torn = read_rsyslog(out, torn_line)
        self.dup_ok, self.tail_ok = dup_ok, tail_ok
        self.expected = self.dups = self.allowed = self.lost = 0

    def snapshot(self, viewbin, path, h, events):
        msgs = ship.messages(viewbin, path, FACILITY)
        missing = []
        for (host, pid, created, seq), m in msgs:
            self.expected += 1
            key = (ship.header(host, 255)[0], str(pid), str(created), seq)
            g = self.got.pop(key, None)
            if g is None:
                missing.append(seq)
                continue
            if g[1] != hash(m["raw"]):
                bad("raw", "rsyslog: %s seq %d: the message differs from the snapshot's: "
                    "want %r" % (path, seq, m["raw"][:300]))
            if seq > 0:
                want = expected_parse(h, seq, events[seq - 1])
                if g[2] != hash(want):
                    bad("parse", "rsyslog: %s seq %d: PROCID, TIMESTAMP, MSGID or SD differ "
                        "from the event's: want %r" % (path, seq, want))
            if g[0] > 1:
                if path in self.dup_ok and not g[3]:
                    self.allowed += g[0] - 1
                else:
                    self.dups += g[0] - 1
                    bad("dup", "rsyslog: %s seq %d: %d copies%s" % (
                        path, seq, g[0], " that differ" if g[3] else ""))
        if missing:
            last = len(msgs) - 1
            if path in self.tail_ok and missing == list(range(missing[0], last + 1)):
                self.lost += len(missing)
                print("residual loss (rsyslog): the last %d of %d messages of %s: "
                      "acknowledged, then rsyslogd was killed before writing them "
                      "(docs/ship.md)" % (len(missing), last + 1, path))
            else:
                for seq in missing:
                    bad("missing", "rsyslog: %s seq %d: missing" % (path, seq))

    def end(self, nsnaps):
        for key, g in list(self.got.items())[:20]:
            bad("unexpected", "rsyslog: a message of no snapshot: %r (%d copies)" % (key, g[0]))
        if len(self.got) > 20:
            problems["unexpected"] += len(self.got) - 20
        print("rsyslog: %d messages expected (%d snapshots: counters + events), %d written "
              "(%d of them cut short by the kill, allowed); %d missing, %d unexpected, %d "
              "duplicates; %d copies from torn connections (allowed), %d lost from the tail "
              "of an acknowledged snapshot (allowed, printed)" % (
                  self.expected, nsnaps, self.nlines, self.torn, problems["missing"],
                  len(self.got), self.dups, self.allowed, self.lost))


def canon(fields):
    return json.dumps(fields, sort_keys=True)


class Postgres:
    def __init__(self, snaps_csv, events_csv):
        self.rows = Counter()
        self.srow = {}
        with open(snaps_csv, newline="", encoding="utf-8") as f:
            for r in csv.reader(f):
                key = (r[0], int(r[1]), int(r[2]))
                self.rows[key] += 1
                self.srow[key] = r
        self.ev = {}
        self.nev = 0
        with open(events_csv, newline="", encoding="utf-8") as f:
            for r in csv.reader(f):
                self.nev += 1
                key = (r[0], int(r[1]), int(r[2]), int(r[3]))
                val = (int(r[4]), r[5], r[6], r[7], int(r[8]), canon(json.loads(r[9])))
                g = self.ev.get(key)
                if g is None:
                    self.ev[key] = [1, hash(val)]
                else:
                    g[0] += 1
        self.expected = 0

    def snapshot(self, path, h, events):
        key = (h["hostname"], h["pid"], h["created_ns"])
        n = self.rows.pop(key, 0)
        if n != 1:
            bad("pg-snap", "PostgreSQL: %s: %d rows in ttlog.snapshots, want 1" % (path, n))
        if n:
            r = self.srow[key]
            want = [h["service"], h["reason"], str(dict(h["counters"])["kept"]),
                    str(len(events))]
            if r[3:7] != want:
                bad("pg-snap", "PostgreSQL: %s: service, reason, kept, events %r, want %r" %
                    (path, r[3:7], want))
        for seq, e in enumerate(events):
            self.expected += 1
            g = self.ev.pop(key + (seq,), None)
            val = (e["ts_ns"], e["level"], e["target"], e["message"], e["thread"],
                   canon(dict(e["fields"])))
            if g is None:
                bad("pg-missing", "PostgreSQL: %s seq %d: missing" % (path, seq))
            elif g[0] != 1:
                bad("pg-dup", "PostgreSQL: %s seq %d: %d rows" % (path, seq, g[0]))
            elif g[1] != hash(val):
                bad("pg-value", "PostgreSQL: %s seq %d: the row differs from the event %r" %
                    (path, seq, val))

    def end(self, nsnaps):
        for key in list(self.rows)[:20]:
            bad("pg-unexpected", "PostgreSQL: a snapshot row of no file: %r" % (key,))
        for key in list(self.ev)[:20]:
            bad("pg-unexpected", "PostgreSQL: an event row of no file's event: %r" % (key,))
        print("PostgreSQL: %d snapshots and %d events expected, %d event rows; %d missing, "
              "%d unexpected, %d duplicates, %d that differ" % (
                  nsnaps, self.expected, self.nev, problems["pg-missing"],
                  len(self.rows) + len(self.ev), problems["pg-dup"], problems["pg-value"]))


def main():
    a = sys.argv[1:]
    viewbin = rsyslog = counts = torn_line = None
    pg = None
    dup_ok, tail_ok, dirs = set(), set(), []
    i = 0
    while i < len(a):
        if a[i] == "--view":
            viewbin, i = a[i + 1], i + 2
        elif a[i] == "--rsyslog":
            rsyslog, i = a[i + 1], i + 2
        elif a[i] == "--pg":
            pg, i = (a[i + 1], a[i + 2]), i + 3
        elif a[i] == "--counts":
            counts, i = a[i + 1], i + 2
        elif a[i] == "--dup-ok":
            dup_ok.add(a[i + 1])
            i += 2
        elif a[i] == "--rsyslog-torn":
            torn_line, i = int(a[i + 1]), i + 2
        elif a[i] == "--tail-ok":
            tail_ok.add(a[i + 1])
            i += 2
        else:
            dirs.append(a[i])
            i += 1
    if viewbin is None or rsyslog is None or not dirs:
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    rs = Rsyslog(rsyslog, torn_line, dup_ok, tail_ok)
    pgc = Postgres(*pg) if pg else None
    nsnaps, per_dir = 0, []
    for d in dirs:
        files = sorted(os.path.join(d, n) for n in os.listdir(d)
                       if n.startswith("ttlog-") and n.endswith(".bin"))
        nev = 0
        for path in files:
            h, events = snapshot(viewbin, path)
            nev += len(events)
            rs.snapshot(viewbin, path, h, events)
            if pgc:
                pgc.snapshot(path, h, events)
        per_dir.append((os.path.basename(d), len(files), nev))
        nsnaps += len(files)
    print("truth: %d nodes, %d snapshots, %d events (ttlog-view --json of the files)" %
          (len(dirs), nsnaps, sum(x[2] for x in per_dir)))
    if counts:
        with open(counts, "w") as f:
            for x in per_dir:
                f.write("%s %d %d\n" % x)
    rs.end(nsnaps)
    if pgc:
        pgc.end(nsnaps)
    if problems:
        print("fleet_check: FAILED: " + ", ".join("%s %d" % kv for kv in sorted(problems.items())))
        return 1
    print("fleet_check: every event of every snapshot exactly once%s" %
          (" in rsyslog and in PostgreSQL" if pg else " in rsyslog"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
