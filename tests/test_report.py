#!/usr/bin/env python3
"""test_report.py - reports/report.py's ratios to baselines: the ratio of medians oriented so
that > 1x is better, its bootstrap interval, and the verdict (above, below, tie) it gives.
Exit 0 when every check holds."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "reports"))
import report  # noqa: E402

failures = 0


def fig(values, higher_better=True):
    s = sorted(values)
    return {"median": s[len(s) // 2], "values": values, "higher_better": higher_better}


def expect(what, got, want):
    global failures
    if got != want:
        failures += 1
        print("FAIL %s: got %r, want %r" % (what, got, want))
    else:
        print("ok   %s: %s" % (what, got))


fast = fig([200, 210, 190, 205, 195])
slow = fig([100, 105, 95, 102, 98])
same = fig([150, 90, 210, 120, 180])
alike = fig([160, 95, 200, 130, 170])
expect("twice the baseline's rate", report.fmt_ratio_ci(fast, slow, True).split()[::2],
       ["2.00x", "above"])
expect("half the baseline's rate", report.fmt_ratio_ci(slow, fast, True).split()[::2],
       ["0.50x", "below"])
lo, hi = report.ratio_interval(fast, slow, True)
expect("the interval holds the ratio, within the extreme ratios of the repetitions",
       190 / 105 <= lo <= 2.0 <= hi <= 210 / 95, True)
expect("overlapping spreads are a tie, not a win",
       report.fmt_ratio_ci(alike, same, True).split()[-1], "tie")
lat_v, lat_b = fig([10, 11, 10, 12, 10], False), fig([40, 42, 41, 39, 40], False)
expect("a latency a quarter of the baseline's is 4x better",
       report.fmt_ratio_ci(lat_v, lat_b, False).split()[0], "4.00x")
expect("a latency a quarter of the baseline's is above",
       report.fmt_ratio_ci(lat_v, lat_b, False).split()[-1], "above")
expect("two repetitions: the ratio without an interval",
       report.fmt_ratio_ci(fig([200, 210]), fig([100, 105]), True), "2.00x")
expect("no baseline figure", report.fmt_ratio_ci(fast, None, True), "-")
expect("the same inputs, the same interval (fixed seed)",
       report.ratio_interval(alike, same, True), report.ratio_interval(alike, same, True))
sys.exit(1 if failures else 0)
