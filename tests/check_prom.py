#!/usr/bin/python3
"""Parse a Prometheus text exposition file with prometheus_client (Debian's
python3-prometheus-client) and check what test_metrics.c expects of ttlog's metrics:
every family typed, every sample labelled service and variant, values finite and >= 0.
Usage: check_prom.py FILE EXPECTED_LOGGED"""
import math
import sys

from prometheus_client.parser import text_string_to_metric_families

text = open(sys.argv[1], encoding="utf-8").read()
want_logged = float(sys.argv[2])
families = {f.name: f for f in text_string_to_metric_families(text)}
expected = {
    "ttlog_events_logged": "counter", "ttlog_events_kept": "gauge",
    "ttlog_events_overwritten": "counter", "ttlog_events_dropped": "counter",
    "ttlog_events_truncated": "counter", "ttlog_snapshots_written": "counter",
    "ttlog_snapshot_failures": "counter", "ttlog_snapshots_coalesced": "counter",
    "ttlog_snapshot_duration_seconds": "summary",
    "ttlog_snapshot_last_duration_seconds": "gauge",
    "ttlog_ring_capacity_events": "gauge", "ttlog_ring_fill_ratio": "gauge",
    "ttlog_triggers_fired": "counter", "ttlog_triggers_suppressed": "counter",
}
for name, kind in expected.items():
    if name not in families:
        sys.exit(f"missing family {name}; have {sorted(families)}")
    if families[name].type != kind:
        sys.exit(f"{name}: type {families[name].type}, want {kind}")
for f in families.values():
    for s in f.samples:
        if set(s.labels) != {"service", "variant"}:
            sys.exit(f"{s.name}: labels {s.labels}")
        if not math.isfinite(s.value) or s.value < 0:
            sys.exit(f"{s.name}: value {s.value}")
logged = [s.value for s in families["ttlog_events_logged"].samples
          if s.name == "ttlog_events_logged_total"]
if logged != [want_logged]:
    sys.exit(f"ttlog_events_logged_total {logged}, want {want_logged}")
print(f"ok: {len(families)} families parsed")
