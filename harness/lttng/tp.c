/* tp.c - the tracepoint provider of tp.h (LTTng-UST generates it here). */
#define LTTNG_UST_TRACEPOINT_CREATE_PROBES
#define LTTNG_UST_TRACEPOINT_DEFINE
#include "tp.h"
