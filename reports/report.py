#!/usr/bin/env python3
"""report.py - turn one ttlog-bench run into benchmark_reports/.

    python3 reports/report.py DIR

Reads DIR/results.json (written by ttlog-bench; nothing here is hard-coded: every number
comes from that file) and writes:
    DIR/comprehensive_report.txt   every table, with ratios of each variant to each baseline
    DIR/report.md                  the same tables with the charts
    DIR/summary.md                 the key medians with the machine (for the README)
    DIR/data/*.dat                 the chart data
    DIR/charts/*.png, *.svg        gnuplot charts (reports/*.gp), when gnuplot is installed
Standard library only.
"""
import json
import os
import random
import shutil
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))

# experiment -> (title, what the table shows, the metrics in the main table, ratio metrics)
EXPERIMENTS = [
    ("throughput", "Throughput: the real log call (message + u64 + short string + bool)",
     "events/s recorded (logged - dropped) by producer threads; ring 2^20, overwrite policy. "
     "Overwritten and dropped rates beside; dropped events never count. page_faults = the "
     "process's page faults in the window (a ring not pre-faulted pays them on its first "
     "lap; short QUICK windows show it most)",
     ["recorded_eps", "overwritten_eps", "dropped_eps", "page_faults"], ["recorded_eps"]),
    ("buffer-ops", "Buffer ops: one thread, push then pop",
     "raw ring operations/s (successful push + successful pop), capacity 1,000,000, drop policy",
     ["ops_per_s"], ["ops_per_s"]),
    ("pc-matrix", "Producer/consumer matrix: raw ring push/pop",
     "ops/s = successful pushes + successful pops, capacity 1,000,000; rings use the drop "
     "policy so that they compare with the bounded baseline queues",
     ["ops_per_s", "push_per_s", "pop_per_s"], ["ops_per_s"]),
    ("latency", "Log-call latency (ns)",
     "rdtsc around each call, the timer's own cost (measured in the same run) subtracted; "
     "unloaded = one thread, ~250 ns spin between calls; saturated = back to back with every "
     "other core logging too. batch_* / fenced_*: rdtsc around batches of 64 calls (same run, "
     "the gap between batches only), the empty batch's cost subtracted, / 64: the mean per "
     "call, finer than the TSC step; median and p99 over batches; batch = calls back to back, "
     "fenced = an lfence after each call. plain_*: NanoLog's own method (a plain rdtsc pair, "
     "no fence, around each call, its empty cost subtracted), to compare with NanoLog's "
     "published figures. cost_*: where a fenced call's ns go (unloaded, "
     "variants): the clock read alone, the ring push alone, and the rest (level checks, "
     "filling the record, callsite and thread ids) = fenced_mean - clock - push",
     ["p50", "p90", "p99", "p99.9", "p99.99", "max", "timer", "batch_mean", "batch_p99",
      "fenced_mean", "fenced_p99", "plain_p50", "plain_p99", "plain_p99.9", "cost_clock",
      "cost_push", "cost_rest"],
     ["p50", "p99.9", "fenced_mean"]),
    ("threads-1024", "1024 concurrent threads through the real log call",
     "every thread logs its share; exact accounting checked (logged = kept + overwritten + "
     "dropped, and logged = events issued)", None, []),
    ("rings-100k", "100,000 live rings", "creation cost, memory, push+pop ops over all rings",
     None, []),
    ("memory", "Memory", "ring bytes per event, RSS and jemalloc deltas, allocations per "
     "logged event after warm-up (must be 0)", None, []),
    ("memory-matrix", "Memory matrix: bytes per event",
     "events x fields x string size; ring = slot bytes; CBOR = decompressed snapshot / events; "
     "LZ4 = snapshot file / events (real ttlog_snapshot files)", None, []),
    ("snapshot", "Snapshot cost", "collect / encode / compress / write split, total through "
     "ttlog_snapshot, ns per event, file size and compression ratio", None, []),
    ("indirect", "The price of the indirect call",
     "the same push loop through the ops table and through the direct call (mpmc_push)",
     None, []),
    ("locked", "Locked instructions per log call",
     "counted, not timed: the standard event's real log call single-stepped (ptrace) in a "
     "child, one thread, ring of 1024 full (overwrite: every call evicts); per call, the "
     "instructions with a LOCK prefix or an xchg with memory, and all instructions executed "
     "(rep string once); push path = the child's ttlog_get_stats().push_path; method = "
     "singlestep, or singlestep+hidden-rseq_cs where plain stepping restarts the rseq "
     "section at every step (docs/experiments.md)", None, []),
    ("blackbox", "The black box's cost to a log call",
     "the standard event's latency (unloaded method) with the rings in the box file "
     "(MAP_SHARED, tmpfs) and in anonymous memory, same variant, same run, interleaved; "
     "box_file_bytes = what the box file holds on tmpfs once the ring is full", None, []),
    ("fork", "What ttlog costs a program that forks",
     "fork + exec of /bin/true + waitpid in the parent, without ttlog, with the rings in "
     "anonymous memory and with the black box; and fork + one log call in the child "
     "(which settles the child's rings: cut back to the fork, the box copied) + _exit; "
     "ring full at the default capacity; median and p90 over the forks of a repetition",
     None, []),
]


def fmt(v, unit=""):
    if v is None:
        return "-"
    a = abs(v)
    if unit in ("ns",) and a < 1e4:
        return "%.0f" % v if a >= 100 else "%.1f" % v
    if a >= 1e9:
        return "%.2fG" % (v / 1e9)
    if a >= 1e6:
        return "%.2fM" % (v / 1e6)
    if a >= 1e4:
        return "%.1fK" % (v / 1e3)
    if a >= 100:
        return "%.0f" % v
    if a == int(a):
        return "%d" % v
    return "%.3g" % v


class Run:
    def __init__(self, d):
        with open(os.path.join(d, "results.json")) as f:
            self.j = json.load(f)
        self.figs = self.j["figures"]
        self.machine = self.j["machine"]
        self.run = self.j["run"]
        self.notes = self.j.get("notes", [])
        order = [i["name"] for i in self.run.get("impls", [])]
        seen = []
        for g in self.figs:
            if g["impl"] not in seen:
                seen.append(g["impl"])
        self.impls = [i for i in order if i in seen] + [i for i in seen if i not in order]
        self.kind = {g["impl"]: g["kind"] for g in self.figs}

    def exp(self, name):
        return [g for g in self.figs if g["experiment"] == name]

    def variants(self, name=None):
        figs = self.exp(name) if name else self.figs
        have = {g["impl"] for g in figs}
        return [i for i in self.impls if self.kind.get(i) == "variant" and i in have]

    def baselines(self, name=None):
        figs = self.exp(name) if name else self.figs
        have = {g["impl"] for g in figs}
        return [i for i in self.impls if self.kind.get(i) == "baseline" and i in have]

    def get(self, exp, impl, config, metric):
        for g in self.figs:
            if (g["experiment"] == exp and g["impl"] == impl and g["config"] == config
                    and g["metric"] == metric):
                return g
        return None

    def configs(self, exp):
        out = []
        for g in self.exp(exp):
            if g["config"] not in out:
                out.append(g["config"])
        return out

    def metrics(self, exp):
        out = []
        for g in self.exp(exp):
            if g["metric"] not in out:
                out.append(g["metric"])
        return out


def cell(g):
    if g is None:
        return "-"
    u = g["unit"]
    s = "%s [%s..%s] %.0f%%" % (fmt(g["median"], u), fmt(g["min"], u), fmt(g["max"], u),
                               100 * g["cv"])
    return ("!" + s) if g["unstable"] else s


def table(headers, rows):
    w = [len(h) for h in headers]
    for r in rows:
        for i, c in enumerate(r):
            w[i] = max(w[i], len(c))
    line = lambda r: "  ".join(c.ljust(w[i]) if i == 0 else c.rjust(w[i])
                               for i, c in enumerate(r))
    out = [line(headers), "  ".join("-" * x for x in w)]
    out += [line(r) for r in rows]
    return "\n".join(out)


def md_table(headers, rows):
    out = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    out += ["| " + " | ".join(c.replace("|", "/") for c in r) + " |" for r in rows]
    return "\n".join(out)


def short_cfg(c, varying=None):
    """The part of a config that tells the rows apart (the keys that vary)."""
    parts = c.split(";")
    if varying:
        keep = [p for p in parts if p.split("=")[0] in varying]
        if keep:
            return ";".join(keep)
    return parts[0]


def varying_keys(cfgs):
    vals = {}
    for c in cfgs:
        for p in c.split(";"):
            k, _, v = p.partition("=")
            vals.setdefault(k, set()).add(v)
    return {k for k, v in vals.items() if len(v) > 1}


def matrix_table(run):
    """memory-matrix pivoted: one row per (events, fields, str), per variant
    ring / CBOR / LZ4 bytes per kept event and the truncated fraction."""
    vs = run.variants("memory-matrix")
    hdr = ["events", "fields", "str"]
    for v in vs:
        hdr += [v + " ring", v + " CBOR", v + " LZ4", v + " trunc"]
    rows = []
    for c in run.configs("memory-matrix"):
        kv = dict(p.split("=", 1) for p in c.split(";") if "=" in p)
        r = [kv.get("events", "?"), kv.get("fields", "?"), kv.get("str", "?")]
        for v in vs:
            for m in ("ring_bytes_per_event", "cbor_bytes_per_event", "lz4_bytes_per_event"):
                g = run.get("memory-matrix", v, c, m)
                r.append("%.1f" % g["median"] if g else "-")
            g = run.get("memory-matrix", v, c, "truncated_frac")
            r.append("%.0f%%" % (100 * g["median"]) if g else "-")
        rows.append(r)
    return ("bytes per event kept (ring = ring bytes / kept; a record slot is %s bytes), "
            "truncated = fraction of events with a string cut to fit the record; one "
            "repetition (sizes do not vary)" % run.machine.get("record_size", "?"), hdr, rows)


def locked_table(run):
    """locked: one row per (variant, state) with its push path and counting method."""
    hdr = ["variant", "env", "push path", "method", "locked/call", "locked max",
           "insns/call", "insns max", "evictions/call", "rseq restarts", "rseq section insns",
           "calls"]
    rows = []
    for v in run.variants("locked"):
        for c in run.configs("locked"):
            kv = dict(p.split("=", 1) for p in c.split(";") if "=" in p)
            if run.get("locked", v, c, "counted") is not None:
                g = run.get("locked", v, c, "counted")
                rows.append([v, kv.get("env", "?"), "-", "not counted: " +
                             (g.get("note") or "?")] + ["-"] * (len(hdr) - 4))
                continue
            if run.get("locked", v, c, "locked_per_call") is None:
                continue
            r = [v, kv.get("env", "?"), kv.get("path", "?"), kv.get("method", "?")]
            for m in ("locked_per_call", "locked_max", "insns_per_call", "insns_max",
                      "evictions_per_call", "rseq_restarts", "rseq_section_insns"):
                g = run.get("locked", v, c, m)
                r.append("-" if g is None else
                         "%.2f" % g["median"] if g["median"] != int(g["median"]) else
                         "%d" % g["median"])
            r.append(kv.get("calls", "?"))
            rows.append(r)
    return ("per log call: mean over the calls and max; '-' path = the variant's one push "
            "path; one repetition (a count, not a timing)", hdr, rows)


def ratio(v, b, higher_better):
    """> 1 means the variant is better, for either direction."""
    if v is None or b is None:
        return None
    vm, bm = v["median"], b["median"]
    if higher_better:
        return vm / bm if bm else None
    return bm / vm if vm else None


def fmt_ratio(r):
    if r is None:
        return "-"
    if r >= 100:
        return "%.0fx" % r
    return "%.2fx" % r


BOOT_N = 1000


def ratio_interval(v, b, higher_better):
    """95% bootstrap interval of ratio() of two figures (not None; each side's repetitions
    resampled on their own, a fixed seed so that a report is reproducible), or None with
    fewer than 3 of either"""
    xs, ys = v.get("values") or [], b.get("values") or []
    if len(xs) < 3 or len(ys) < 3:
        return None
    rnd = random.Random(12345)
    med = statistics.median
    out = []
    for _ in range(BOOT_N):
        mv = med(rnd.choices(xs, k=len(xs)))
        mb = med(rnd.choices(ys, k=len(ys)))
        if (mb if higher_better else mv) == 0:
            return None
        out.append(mv / mb if higher_better else mb / mv)
    out.sort()
    return out[int(BOOT_N * 0.025)], out[int(BOOT_N * 0.975) - 1]


def fmt_ratio_ci(v, b, higher_better):
    """ratio, its interval and what it says: '1.08x [0.93-1.25] tie' ('above' when the
    interval is over 1, 'below' when under it)"""
    x = ratio(v, b, higher_better)
    if x is None:
        return "-"
    ci = ratio_interval(v, b, higher_better)
    if ci is None:
        return fmt_ratio(x)
    verdict = "above" if ci[0] > 1 else "below" if ci[1] < 1 else "tie"
    return "%s [%s-%s] %s" % (fmt_ratio(x), fmt_ratio(ci[0])[:-1], fmt_ratio(ci[1])[:-1],
                              verdict)


def sections(run):
    """[(title, description, [(caption, headers, rows)])] for every experiment present."""
    out = []
    for name, title, desc, metrics, ratio_metrics in EXPERIMENTS:
        figs = run.exp(name)
        if not figs:
            continue
        impls = [i for i in run.impls if any(g["impl"] == i for g in figs)]
        tables = []
        mets = metrics or run.metrics(name)
        mets = [m for m in mets if m in run.metrics(name)]
        cfgs = run.configs(name)
        vk = varying_keys(cfgs)
        if name == "memory-matrix":
            tables.append(matrix_table(run))
        elif name == "locked":
            tables.append(locked_table(run))
        else:
            rows = []
            for c in cfgs:
                for m in mets:
                    if all(run.get(name, i, c, m) is None for i in impls):
                        continue
                    unit = next(g["unit"] for g in figs if g["metric"] == m)
                    rows.append([short_cfg(c, vk), "%s (%s)" % (m, unit)] +
                                [cell(run.get(name, i, c, m)) for i in impls])
            tables.append(("median [min..max] CV over repetitions; '!' marks CV > 10% "
                           "(unstable)", ["config", "metric"] + impls, rows))
            tables.append(("config: " + cfgs[0], [], []) if len(cfgs) == 1 else
                          ("configs: " + " | ".join(cfgs), [], []))
        vs, bs = run.variants(name), run.baselines(name)
        if ratio_metrics and vs and bs:
            rrows = []
            for c in cfgs:
                for m in ratio_metrics:
                    for v in vs:
                        r = [short_cfg(c, vk), m, v]
                        any_r = False
                        for b in bs:
                            gv, gb = run.get(name, v, c, m), run.get(name, b, c, m)
                            hb = gv["higher_better"] if gv else True
                            r.append(fmt_ratio_ci(gv, gb, hb))
                            any_r |= r[-1] != "-"
                        if any_r:
                            rrows.append(r)
            tables.append(("each variant against each baseline: > 1x means the variant is "
                           "better (throughput: variant / baseline; latency: baseline / "
                           "variant); the ratio of medians, its 95% bootstrap interval over "
                           "the repetitions, and 'above', 'below' or 'tie' (the interval "
                           "holds 1)", ["config", "metric", "variant"] +
                           ["vs " + b for b in bs], rrows))
        elif ratio_metrics and vs:
            tables.append(("no baseline measured in this run for this experiment", [], []))
        elif not ratio_metrics and vs:
            tables.append(("no baseline takes part in this experiment (ttlog variants only)",
                           [], []))
        notes = sorted({g["note"] for g in figs if g.get("note")})
        for n in notes:
            tables.append(("note: " + n, [], []))
        out.append((name, title, desc, tables))
    return out


def headline(run):
    """The key medians: the table asked for in the issue's note."""
    rows = []

    def add(label, exp, cfg_prefix, metric, hb):
        cfgs = [c for c in run.configs(exp) if c.startswith(cfg_prefix)]
        if not cfgs:
            return
        c = cfgs[0]
        for v in run.variants(exp):
            g = run.get(exp, v, c, metric)
            if g is None:
                continue
            ratios = []
            for b in run.baselines(exp):
                x = ratio(g, run.get(exp, b, c, metric), hb)
                if x is not None:
                    ratios.append("%s %s" % (b, fmt_ratio(x)))
            rows.append([label, v, fmt(g["median"], g["unit"]) + " " + g["unit"] +
                         (" (unstable)" if g["unstable"] else ""),
                         ", ".join(ratios) if ratios else "-"])
        for b in run.baselines(exp):
            g = run.get(exp, b, c, metric)
            if g is not None:
                rows.append([label, b, fmt(g["median"], g["unit"]) + " " + g["unit"] +
                             (" (unstable)" if g["unstable"] else ""), "(baseline)"])

    add("throughput 1 thread", "throughput", "threads=1;", "recorded_eps", True)
    add("throughput 2 threads", "throughput", "threads=2;", "recorded_eps", True)
    add("pc-matrix 1P/1C", "pc-matrix", "1P/1C", "ops_per_s", True)
    add("pc-matrix 2P/2C", "pc-matrix", "2P/2C", "ops_per_s", True)
    add("latency p50 unloaded", "latency", "unloaded", "p50", False)
    add("latency fenced_mean unloaded", "latency", "unloaded", "fenced_mean", False)
    add("latency batch_mean unloaded", "latency", "unloaded", "batch_mean", False)
    add("log call: clock read", "latency", "unloaded", "cost_clock", False)
    add("log call: ring push", "latency", "unloaded", "cost_push", False)
    add("log call: the rest", "latency", "unloaded", "cost_rest", False)
    add("latency p99.9 unloaded", "latency", "unloaded", "p99.9", False)
    add("latency fenced_mean, trigger armed", "latency", "trigger-armed", "fenced_mean", False)
    add("latency p50 saturated", "latency", "saturated", "p50", False)
    add("latency p99.9 saturated", "latency", "saturated", "p99.9", False)
    add("ring bytes/event", "memory", "", "ring_bytes_per_event", False)
    add("allocs/event after warm-up", "memory", "", "allocs_per_event", False)
    for ev in ("events=1000000", "events=100000"):
        cfgs = [c for c in run.configs("memory-matrix")
                if c.startswith(ev + ";fields=3;str=16")]
        if cfgs:
            add("LZ4 bytes/event (%s, 3 fields)" % ev.split("=")[1], "memory-matrix", cfgs[0],
                "lz4_bytes_per_event", False)
            break
    for ev in ("events=1000000", "events=100000", "events=1000"):
        if any(c.startswith(ev) for c in run.configs("snapshot")):
            add("snapshot ns/event (%s)" % ev.split("=")[1], "snapshot", ev, "ns_per_event",
                False)
            break
    add("indirect: direct mpmc_push", "indirect", "", "direct_ns_per_push", False)
    add("indirect: through mpmc_ops", "indirect", "", "ops_ns_per_push", False)
    add("indirect: price per call", "indirect", "", "price_ns", False)
    return rows


def machine_lines(run):
    m, r = run.machine, run.run
    lines = [
        "machine:   %s" % m.get("summary", ""),
        "cpu:       %s (%s cores online)" % (m.get("cpu"), m.get("cores_online")),
        "kernel:    %s" % m.get("kernel"),
        "compiler:  %s, flags %s" % (m.get("compiler"), m.get("cflags")),
        "tsc:       %.3f ticks/ns, resolution %.1f ns; record size %s bytes" % (
            m.get("tsc_ticks_per_ns", 0), m.get("tsc_resolution_ns", 0), m.get("record_size")),
        "load avg:  %s at start, %s at the end" % (m.get("loadavg_start"), m.get("loadavg_end")),
        "git:       %s    date: %s" % (r.get("git_rev"), r.get("date")),
        "run:       %s" % r.get("command", "").strip(),
        "           %s run, %d repetitions, %d ms warm-up + %d ms per point, %d latency "
        "samples, %.0f s in all" % ("QUICK" if r.get("quick") else "full", r.get("reps", 0),
                                    r.get("warmup_ms", 0), r.get("duration_ms", 0),
                                    r.get("lat_samples", 0), r.get("elapsed_s", 0)),
    ]
    return lines


def gbench_rows(d):
    """make bench's Google Benchmark results, if DIR/gbench.json is there."""
    path = os.path.join(d, "gbench.json")
    if not os.path.exists(path):
        return None, []
    try:
        with open(path) as f:
            j = json.load(f)
    except (OSError, ValueError):
        return None, []
    rows = []
    for b in j.get("benchmarks", []):
        if b.get("run_type") == "aggregate" and b.get("aggregate_name") not in ("median",):
            continue
        unit = b.get("time_unit", "ns")
        ips = b.get("items_per_second")
        rows.append([b.get("name", "?"), "%.1f %s" % (b.get("real_time", 0), unit),
                     fmt(ips) + "/s" if ips else "-"])
    ctx = j.get("context", {})
    return ("Google Benchmark (make bench, %s): real time per iteration (median when "
            "repeated)" % ctx.get("date", "?")), rows


def write_text(run, d):
    out = []
    out.append("ttlog comprehensive benchmark report")
    out.append("=" * 78)
    out += machine_lines(run)
    nun = sum(1 for g in run.figs if g["unstable"])
    out.append("figures:   %d, of which %d unstable (CV > %.0f%%): the machine is shared, "
               "that noise is real and is shown, not hidden" % (
                   len(run.figs), nun, 100 * run.run.get("unstable_cv", 0.1)))
    out.append("")
    out.append("Key medians (ratios: > 1x = the variant is better than that baseline)")
    out.append("-" * 78)
    out.append(table(["figure", "impl", "median", "ratios to baselines"], headline(run)))
    for name, title, desc, tables in sections(run):
        out.append("")
        out.append("%s [%s]" % (title, name))
        out.append("-" * 78)
        out.append(desc)
        for cap, h, rows in tables:
            out.append("")
            out.append(cap)
            if h:
                out.append(table(h, rows))
    cap, rows = gbench_rows(d)
    if rows:
        out.append("")
        out.append(cap)
        out.append("-" * 78)
        out.append(table(["benchmark", "time", "items/s"], rows))
    if run.notes:
        out.append("")
        out.append("Notes")
        out.append("-" * 78)
        out += ["- " + n for n in run.notes]
    out.append("")
    out.append("Topology (lstopo-no-graphics --of console)")
    out.append("-" * 78)
    out.append(run.machine.get("topology", ""))
    with open(os.path.join(d, "comprehensive_report.txt"), "w") as f:
        f.write("\n".join(out) + "\n")


# ---- charts --------------------------------------------------------------------------

def write_dat(path, header, rows):
    with open(path, "w") as f:
        f.write(" ".join('"%s"' % h for h in header) + "\n")
        for r in rows:
            f.write(" ".join(str(x) for x in r) + "\n")


def charts(run, d):
    """Write the .dat files and run the gnuplot scripts; returns [(title, basename)]."""
    data = os.path.join(d, "data")
    cdir = os.path.join(d, "charts")
    os.makedirs(data, exist_ok=True)
    os.makedirs(cdir, exist_ok=True)
    jobs = []  # (script, dat, outbase, title, extra vars)

    # throughput vs threads: x, then median/min/max per impl
    impls = [i for i in run.impls if run.exp("throughput") and
             any(g["impl"] == i for g in run.exp("throughput"))]
    if impls:
        xs = sorted({g["x"] for g in run.exp("throughput")})
        rows = []
        for x in xs:
            r = [int(x)]
            for i in impls:
                g = next((g for g in run.exp("throughput") if g["impl"] == i and g["x"] == x
                          and g["metric"] == "recorded_eps"), None)
                r += [g["median"], g["min"], g["max"]] if g else ["NaN"] * 3
            rows.append(r)
        hdr = ["threads"] + [h for i in impls for h in (i, i + "_min", i + "_max")]
        write_dat(os.path.join(data, "throughput.dat"), hdr, rows)
        jobs.append(("throughput.gp", "throughput.dat", "throughput",
                     "Throughput vs threads", {"nimpl": len(impls)}))

    # pc matrix (and buffer-ops as the first group)
    for exp, base in (("pc-matrix", "pc_matrix"),):
        figs = [g for g in run.exp(exp) if g["metric"] == "ops_per_s"]
        if not figs:
            continue
        impls = [i for i in run.impls if any(g["impl"] == i for g in figs)]
        rows = []
        for c in run.configs(exp):
            r = ['"%s"' % short_cfg(c)]
            for i in impls:
                g = run.get(exp, i, c, "ops_per_s")
                r += [max(g["median"], 1), max(g["min"], 1), max(g["max"], 1)] if g \
                    else ["NaN"] * 3
            rows.append(r)
        hdr = ["config"] + [h for i in impls for h in (i, i + "_min", i + "_max")]
        write_dat(os.path.join(data, base + ".dat"), hdr, rows)
        jobs.append(("pc_matrix.gp", base + ".dat", base,
                     "Producer/consumer matrix (ops/s, log scale)", {"nimpl": len(impls)}))

    # latency percentiles, one chart per mode
    pcts = ["p50", "p90", "p99", "p99.9", "p99.99", "max"]
    for mode in ("unloaded", "saturated"):
        cfgs = [c for c in run.configs("latency") if c.startswith(mode)]
        if not cfgs:
            continue
        impls = [i for i in run.impls if run.get("latency", i, cfgs[0], "p50")]
        rows = []
        for k, p in enumerate(pcts):
            r = [k, '"%s"' % p]
            for i in impls:
                g = run.get("latency", i, cfgs[0], p)
                r += [max(g["median"], 0.5), max(g["min"], 0.5), max(g["max"], 0.5)] if g \
                    else ["NaN"] * 3
            rows.append(r)
        hdr = ["k", "pct"] + [h for i in impls for h in (i, i + "_min", i + "_max")]
        write_dat(os.path.join(data, "latency_%s.dat" % mode), hdr, rows)
        jobs.append(("latency.gp", "latency_%s.dat" % mode, "latency_%s" % mode,
                     "Log-call latency percentiles, %s (ns, log scale)" % mode,
                     {"nimpl": len(impls)}))

    # memory matrix: for the first variant, the largest event count present
    mm = run.exp("memory-matrix")
    if mm:
        v = run.variants("memory-matrix")[0]
        evs = sorted({int(g["config"].split(";")[0].split("=")[1]) for g in mm})
        ev = evs[-1]
        rows = []
        for c in run.configs("memory-matrix"):
            if not c.startswith("events=%d;" % ev):
                continue
            parts = dict(p.split("=", 1) for p in c.split(";") if "=" in p)
            r = ['"f%s/s%s"' % (parts.get("fields"), parts.get("str"))]
            for m in ("ring_slot_bytes", "cbor_bytes_per_event", "lz4_bytes_per_event"):
                g = run.get("memory-matrix", v, c, m)
                r.append(g["median"] if g else "NaN")
            rows.append(r)
        write_dat(os.path.join(data, "memory_matrix.dat"),
                  ["config", "ring", "cbor", "lz4"], rows)
        jobs.append(("memory_matrix.gp", "memory_matrix.dat", "memory_matrix",
                     "Bytes per event: ring slot, CBOR, LZ4 (%s, %d events; f = fields, "
                     "s = string bytes)" % (v, ev), {}))

    # snapshot cost split, ns/event, per variant x events
    sn = run.exp("snapshot")
    if sn:
        rows = []
        for v in run.variants("snapshot"):
            for c in run.configs("snapshot"):
                r = ['"%s %s"' % (v, c.split(";")[0].replace("events=", ""))]
                n = None
                for m in ("collect_ns", "encode_ns", "compress_ns", "write_ns"):
                    g = run.get("snapshot", v, c, m)
                    ev = int(c.split(";")[0].split("=")[1])
                    r.append(g["median"] / ev if g else "NaN")
                    n = ev
                g = run.get("snapshot", v, c, "total_ns")
                r.append(g["median"] / n if g else "NaN")
                rows.append(r)
        write_dat(os.path.join(data, "snapshot.dat"),
                  ["config", "collect", "encode", "compress", "write", "total"], rows)
        jobs.append(("snapshot.gp", "snapshot.dat", "snapshot",
                     "Snapshot cost per event (ns), split; total = ttlog_snapshot()", {}))

    made = []
    gp = shutil.which("gnuplot")
    for script, dat, outbase, title, extra in jobs:
        if gp is None:
            continue
        ok = True
        for term in ("png", "svg"):
            vars_ = ["datafile='%s'" % os.path.join(data, dat),
                     "outfile='%s.%s'" % (os.path.join(cdir, outbase), term),
                     "term='%s'" % term, "charttitle='%s'" % title.replace("'", "")]
            vars_ += ["%s=%s" % (k, v) for k, v in extra.items()]
            r = subprocess.run([gp, "-e", "; ".join(vars_), os.path.join(HERE, script)],
                               capture_output=True, text=True)
            if r.returncode != 0:
                sys.stderr.write("report: gnuplot %s: %s\n" % (script, r.stderr.strip()))
                ok = False
        if ok:
            made.append((title, outbase))
    if gp is None:
        sys.stderr.write("report: gnuplot not installed: no charts\n")
    return made


def write_md(run, d, made):
    out = ["# ttlog benchmark report", ""]
    out.append("Generated by `reports/report.py` from `results.json` of the run below "
               "(raw values: `results.csv`, `results_raw.csv`). Every figure is the median "
               "over repetitions with its min, max and coefficient of variation; **!** marks "
               "a CV above 10% (unstable: the machine is shared with other work).")
    out.append("")
    out += ["    " + l for l in machine_lines(run)]
    out.append("")
    out.append("## Key medians")
    out.append("")
    out.append("Ratios: > 1x means the variant is better than that baseline (throughput: "
               "variant / baseline; latency: baseline / variant).")
    out.append("")
    out.append(md_table(["figure", "impl", "median", "ratios to baselines"], headline(run)))
    charts_of = {"throughput": ["throughput"], "pc-matrix": ["pc_matrix"],
                 "latency": ["latency_unloaded", "latency_saturated"],
                 "memory-matrix": ["memory_matrix"], "snapshot": ["snapshot"]}
    have = {b: t for t, b in made}
    for name, title, desc, tables in sections(run):
        out.append("")
        out.append("## %s" % title)
        out.append("")
        out.append(desc + ".")
        for b in charts_of.get(name, []):
            if b in have:
                out.append("")
                out.append("![%s](charts/%s.svg)" % (have[b], b))
        for cap, h, rows in tables:
            out.append("")
            out.append("*%s*" % cap)
            if h:
                out.append("")
                out.append(md_table(h, rows))
    cap, rows = gbench_rows(d)
    if rows:
        out.append("")
        out.append("## " + cap)
        out.append("")
        out.append(md_table(["benchmark", "time", "items/s"], rows))
    if run.notes:
        out.append("")
        out.append("## Notes")
        out.append("")
        out += ["- " + n for n in run.notes]
    out.append("")
    out.append("## Topology")
    out.append("")
    out.append("```")
    out.append(run.machine.get("topology", ""))
    out.append("```")
    with open(os.path.join(d, "report.md"), "w") as f:
        f.write("\n".join(out) + "\n")


def write_summary(run, d):
    """summary.md: the key medians with their machine, for the README's results section."""
    m, r = run.machine, run.run
    out = ["Measured on %s (kernel %s), %s run of %s, git %s, %d repetitions of %d ms "
           "points; > 1x = the variant is better than that baseline; (unstable) = CV > 10%%."
           % (m.get("summary", "?"), m.get("kernel", "?"), "a QUICK" if r.get("quick")
              else "a", r.get("date", "?"), r.get("git_rev", "?"), r.get("reps", 0),
              r.get("duration_ms", 0)),
           "", md_table(["figure", "impl", "median", "ratios to baselines"], headline(run))]
    if run.notes:
        out += [""] + ["- " + n for n in run.notes]
    with open(os.path.join(d, "summary.md"), "w") as f:
        f.write("\n".join(out) + "\n")


def main():
    if len(sys.argv) != 2:
        sys.stderr.write("usage: report.py RESULTS_DIR\n")
        return 2
    d = sys.argv[1]
    run = Run(d)
    write_text(run, d)
    made = charts(run, d)
    write_md(run, d, made)
    write_summary(run, d)
    print("report: %s/comprehensive_report.txt, report.md, %d charts (PNG+SVG)" % (d, len(made)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
