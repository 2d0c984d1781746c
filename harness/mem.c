/*
 * mem.c - jemalloc statistics through mallctl (the harness links -ljemalloc, so every
 * malloc of the process, ttlog's included, goes through it).
 */
#include <stdint.h>
#include <stdio.h>

#include <jemalloc/jemalloc.h>

#include "bench.h"

static void refresh(void)
{
	uint64_t epoch = 1;
	size_t len = sizeof epoch;
	/* statistics are cached: a new epoch makes mallctl read them afresh */
	mallctl("epoch", &epoch, &len, &epoch, len);
}

int64_t bench_je_allocated(void)
{
	size_t v, len = sizeof v;

	refresh();
	if (mallctl("stats.allocated", &v, &len, NULL, 0) != 0)
		return -1;
	return (int64_t)v;
}

int64_t bench_je_nmalloc(void)
{
	uint64_t small = 0, large = 0;
	size_t len = sizeof small;
	char name[64];

	refresh();
	/* MALLCTL_ARENAS_ALL (4096): the sum over every arena */
	snprintf(name, sizeof name, "stats.arenas.%d.small.nrequests", MALLCTL_ARENAS_ALL);
	if (mallctl(name, &small, &len, NULL, 0) != 0)
		return -1;
	len = sizeof large;
	snprintf(name, sizeof name, "stats.arenas.%d.large.nrequests", MALLCTL_ARENAS_ALL);
	if (mallctl(name, &large, &len, NULL, 0) != 0)
		return -1;
	return (int64_t)(small + large);
}
