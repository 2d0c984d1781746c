/*
 * ring_mem.c - the one place ring memory comes from: page-aligned, zeroed and populated
 * at creation, so no page fault lands on a log call. While ttlog runs with a black box
 * (box.c) it is carved from the box's file; otherwise, or when the box has no room left,
 * it is anonymous (transparent huge pages asked for from 2 MiB on).
 * ttlog__ring_alloc_bound: the same, with a memory policy applied before the pages are
 * first touched (numa rings bound to their node).
 * ttlog__anon_alloc: memory that never goes to the box (snapshot buffers).
 */
#include <stdatomic.h>
#include <sys/mman.h>
#include <unistd.h>

#include "internal.h"

/* relaxed: a statistic; lock-free, so counting is safe where a push may allocate (spsc
 * shards, also from a signal handler) */
static _Atomic uint64_t ring_maps;

uint64_t ttlog__ring_maps(void)
{
	return atomic_load_explicit(&ring_maps, memory_order_relaxed);
}

/* Touch every page (the box's file pages are allocated already; this maps them), with no
 * system call: a carve may run in a signal handler. */
static void touch(void *p, size_t bytes)
{
	long page = sysconf(_SC_PAGESIZE);
	size_t step = page > 0 ? (size_t)page : 4096, off;

	for (off = 0; off < bytes; off += step)
		((volatile unsigned char *)p)[off] = 0;
}

/* Pre-fault without MAP_POPULATE, which would touch the pages before the advice (and
 * bind(), below) applied. */
static void prefault(void *p, size_t bytes)
{
#ifdef MADV_POPULATE_WRITE
	if (madvise(p, bytes, MADV_POPULATE_WRITE) == 0)
		return;
#endif
	/* the mapping is zero-filled: writing a zero to each page faults it in */
	touch(p, bytes);
}

/* An anonymous mapping, not touched yet. One of 2 MiB or more asks for transparent huge
 * pages (where THP is "madvise", the usual default, it gets none otherwise): a log call
 * writes the next slot of a ring far larger than the TLB covers in 4 KiB pages. */
static void *anon_map(size_t bytes)
{
	void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
#ifdef MADV_HUGEPAGE
	if (bytes >= (2u << 20))
		(void)madvise(p, bytes, MADV_HUGEPAGE); /* advice: no huge pages is no error */
#endif
	atomic_fetch_add_explicit(&ring_maps, 1, memory_order_relaxed);
	return p;
}

void *ttlog__anon_alloc(size_t bytes)
{
	void *p = anon_map(bytes);

	if (p != NULL)
		prefault(p, bytes);
	return p;
}

void *ttlog__ring_alloc(size_t bytes)
{
	void *p = ttlog__box_carve(bytes);

	if (p == NULL)
		return ttlog__anon_alloc(bytes);
	atomic_fetch_add_explicit(&ring_maps, 1, memory_order_relaxed);
	touch(p, bytes);
	return p;
}

void ttlog__ring_free(void *p, size_t bytes)
{
	if (p == NULL)
		return;
	ttlog__fork_untrack(p, bytes);
	/* box memory goes with the box */
	if (!ttlog__box_owns(p))
		munmap(p, bytes);
}

void *ttlog__ring_alloc_bound(size_t bytes, int (*bind)(void *p, size_t bytes, void *arg),
			      void *arg, int *bound)
{
	void *p = ttlog__box_carve(bytes);
	int ok = 0;

	if (p != NULL)
		atomic_fetch_add_explicit(&ring_maps, 1, memory_order_relaxed);
	else if ((p = anon_map(bytes)) == NULL)
		return NULL;
	if (bind != NULL)
		ok = bind(p, bytes, arg) == 0;
	if (bound != NULL)
		*bound = ok;
	prefault(p, bytes);
	return p;
}
