/*
 * tp.h - the LTTng-UST tracepoint of the baseline: the standard event of the throughput
 * and latency experiments (message is static in the event's metadata; u64 + short
 * string + bool as payload), recorded into the session's ring buffer.
 */
#undef LTTNG_UST_TRACEPOINT_PROVIDER
#define LTTNG_UST_TRACEPOINT_PROVIDER ttlog_bench

#undef LTTNG_UST_TRACEPOINT_INCLUDE
#define LTTNG_UST_TRACEPOINT_INCLUDE "./tp.h"

#if !defined(TTLOG_BENCH_TP_H) || defined(LTTNG_UST_TRACEPOINT_HEADER_MULTI_READ)
#define TTLOG_BENCH_TP_H

#include <lttng/tracepoint.h>
#include <stdbool.h>
#include <stdint.h>

LTTNG_UST_TRACEPOINT_EVENT(
	ttlog_bench, standard,
	LTTNG_UST_TP_ARGS(uint64_t, user_id, const char *, action, int, success),
	LTTNG_UST_TP_FIELDS(
		lttng_ust_field_integer(uint64_t, user_id, user_id)
		lttng_ust_field_string(action, action)
		lttng_ust_field_integer(uint8_t, success, success)))

#endif

#include <lttng/tracepoint-event.h>
