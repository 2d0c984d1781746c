/*
 * ring_mem.c - the one place ring memory comes from: anonymous, page-aligned, zeroed
 * and populated at creation (MAP_POPULATE), so no page fault lands on a log call.
 */
#include <sys/mman.h>

#include "internal.h"

void *ttlog__ring_alloc(size_t bytes)
{
	void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

void ttlog__ring_free(void *p, size_t bytes)
{
	if (p != NULL)
		munmap(p, bytes);
}
