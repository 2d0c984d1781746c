/*
 * box_fork.c - a forked child's own black box, made when the child settles its rings
 * (fork.c). The box is mapped MAP_SHARED, so fork() does not copy it: until then the
 * child's rings are its parent's live memory, and nothing of the child's may be written
 * there. Settling makes a new box file, copies into it what the child has of the parent's
 * (header, segment table, the callsite dictionary as it was at the fork, the ring memory
 * the child's rings live in), lets fork.c cut each ring back to the fork (reading the
 * parent's live slots, writing the copy), then puts the copy where the parent's was mapped
 * in one mremap. No file (a full file system): a private copy, with no box (reported).
 * Layout: box.h and docs/blackbox-format.md.
 */
#include <errno.h>
#include <sys/mman.h>
#include <unistd.h>

#include "box_state.h"
#include "internal.h"

#define box ttlog__box /* short: the state box.c shares (box_state.h) */

/* What the parent's box held at the fork besides the rings (ttlog__box_before_fork), and
 * the child's settling in progress. */
static struct {
	uint64_t cs_top, dropped_extra, truncated;
	uint32_t ncallsites;
	bool unsettled; /* the mapping is the parent's */
	bool copied;    /* settled into a box of its own: append the late callsites */
	/* settling: the new box (fd -1: private memory) mapped at dst */
	unsigned char *dst;
	int fd;
	uint64_t start, ring_top;
} fb = {.fd = -1};

bool ttlog__box_shared(void)
{
	return box.base != NULL && !box.detached && fb.unsettled;
}

void ttlog__box_before_fork(void)
{
	struct ttlog__box_hdr *h = box.hdr;

	if (h == NULL || box.detached)
		return;
	/* relaxed: counters and a claim pointer, read at one moment */
	fb.cs_top = atomic_load_explicit(&h->cs_top, memory_order_relaxed);
	fb.dropped_extra = atomic_load_explicit(&h->dropped_extra, memory_order_relaxed);
	fb.truncated = atomic_load_explicit(&h->truncated, memory_order_relaxed);
	fb.ncallsites = ttlog__callsite_count();
}

void ttlog__box_after_fork(void)
{
	if (box.base == NULL || box.detached)
		return; /* no box, or private memory: fork copied it */
	/* the parent's descriptor (and its OFD lock) is the parent's */
	if (box.fd >= 0)
		close(box.fd);
	box.fd = -1;
	fb.unsettled = true;
}

/* The parts of the parent's box the child has: header, segment table, the dictionary up
 * to the fork, the ring memory the child's rings live in (its bump pointer is the fork's).
 * write() each range (fd >= 0: a full file system is an error here, not a SIGBUS later)
 * or copy it (fd < 0). */
static int copy_ranges(int fd, unsigned char *dst, const unsigned char *src)
{
	const struct ttlog__box_hdr *sh = (const struct ttlog__box_hdr *)src;
	const uint64_t range[2][2] = {{0, sh->cs_off + fb.cs_top},
				      {sh->ring_off, sh->ring_off + fb.ring_top}};

	for (int i = 0; i < 2; i++) {
		uint64_t at = range[i][0], end = range[i][1];
		if (fd < 0) {
			memcpy(dst + at, src + at, (size_t)(end - at));
			continue;
		}
		while (at < end) {
			ssize_t w = pwrite(fd, src + at, (size_t)(end - at), (off_t)at);
			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0)
				return w < 0 ? -errno : -EIO;
			at += (uint64_t)w;
		}
	}
	return 0;
}

/* No box and no memory for the child's rings: ttlog stops in this child (log calls find no
 * ring), and nothing of the parent's box is written or removed. */
static void give_up(const char *why)
{
	ttlog__report(why, "");
	box.hdr = NULL;
	box.detached = true;
	fb.unsettled = false;
	atomic_store_explicit(&ttlog__g.ring, NULL, memory_order_release);
}

ptrdiff_t ttlog__box_settle_begin(const unsigned char **lo, size_t *len)
{
	unsigned char *src = box.base;

	*lo = NULL;
	*len = 0;
	if (!ttlog__box_shared())
		return 0;
	/* relaxed: one thread reads its own copy of the bump pointer */
	fb.ring_top = atomic_load_explicit(&box.ring_top, memory_order_relaxed);
	if (ttlog__proc_start_time(getpid(), &fb.start) < 0)
		fb.start = 0;
	fb.dst = MAP_FAILED;
	fb.fd = ttlog__box_create_file(fb.start);
	if (fb.fd >= 0) {
		if (ftruncate(fb.fd, (off_t)box.size) == 0 && copy_ranges(fb.fd, NULL, src) == 0)
			fb.dst = mmap(NULL, box.size, PROT_READ | PROT_WRITE,
				      MAP_SHARED | MAP_NORESERVE, fb.fd, 0);
		if (fb.dst == MAP_FAILED) {
			close(fb.fd);
			unlinkat(box.dirfd, box.name, 0);
			fb.fd = -1;
		}
	}
	if (fb.fd < 0) {
		/* no box of its own: private memory, so that the child never writes into the
		 * parent's box */
		fb.dst = mmap(NULL, box.size, PROT_READ | PROT_WRITE,
			      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		if (fb.dst != MAP_FAILED)
			copy_ranges(-1, fb.dst, src);
	}
	if (fb.dst == MAP_FAILED) {
		give_up("black box: the forked child has no memory for its rings; ttlog stops "
			"in it");
		return 0;
	}
	*lo = src + box.hdr->ring_off;
	*len = (size_t)fb.ring_top;
	return fb.dst - src;
}

/* The segment table of the copy: the entries of the rings the child has (tracked in its
 * memory, cut by fork.c), the others invalid (the parent's, described after the fork,
 * even in memory carved before it). Returns the entries in use. */
static uint32_t child_segments(unsigned char *dst, const unsigned char *src)
{
	const struct ttlog__box_hdr *sh = (const struct ttlog__box_hdr *)src;
	struct ttlog__box_seg *ds = (struct ttlog__box_seg *)(dst + sh->seg_off);
	const struct ttlog__box_seg *ss = (const struct ttlog__box_seg *)(src + sh->seg_off);
	uint64_t lo = sh->ring_off, hi = lo + fb.ring_top;
	/* acquire: pairs with the state stores in ttlog__box_segment() */
	uint32_t n = atomic_load_explicit(&((struct ttlog__box_hdr *)sh)->seg_count,
					  memory_order_acquire),
		 used = 0;

	for (uint32_t i = 0; i < sh->seg_max; i++) {
		struct ttlog__box_seg e;
		memcpy(&e, &ss[i], sizeof e);
		if (i >= n ||
		    atomic_load_explicit(&((struct ttlog__box_seg *)ss)[i].state,
					 memory_order_acquire) != TTLOG_BOX_SEG_VALID ||
		    e.slots < lo || e.slots >= hi || !ttlog__fork_tracked(src + e.slots)) {
			atomic_store_explicit(&ds[i].state, 0, memory_order_relaxed);
			continue;
		}
		memcpy(&ds[i], &e, sizeof e);
		atomic_store_explicit(&ds[i].state, TTLOG_BOX_SEG_VALID, memory_order_relaxed);
		used = i + 1;
	}
	return used;
}

void ttlog__box_settle_end(void)
{
	unsigned char *src = box.base, *dst = fb.dst;
	struct ttlog__box_hdr *dh = (struct ttlog__box_hdr *)dst;

	if (!ttlog__box_shared())
		return;
	atomic_store_explicit(&dh->seg_count, child_segments(dst, src), memory_order_relaxed);
	atomic_store_explicit(&dh->cs_top, fb.cs_top, memory_order_relaxed);
	atomic_store_explicit(&dh->dropped_extra, fb.dropped_extra, memory_order_relaxed);
	atomic_store_explicit(&dh->truncated, fb.truncated, memory_order_relaxed);
	dh->parent_pid = box.hdr->pid;
	dh->pid = (int32_t)getpid();
	dh->start_time = fb.start;
	dh->created_ns = ttlog__realtime_ns();
	/* one step: the parent's pages leave the child's address space as its own arrive */
	if (mremap(dst, box.size, box.size, MREMAP_MAYMOVE | MREMAP_FIXED, src) == MAP_FAILED) {
		munmap(dst, box.size);
		if (fb.fd >= 0) {
			close(fb.fd);
			unlinkat(box.dirfd, box.name, 0);
		}
		give_up("black box: the forked child cannot map its own box; ttlog stops in it");
		return;
	}
	fb.unsettled = false;
	fb.copied = fb.fd >= 0;
	box.fd = fb.fd;
	box.detached = fb.fd < 0;
	if (fb.fd >= 0)
		ttlog__box_lock(fb.fd);
	else
		ttlog__report("black box: the forked child has none (its events are not "
			      "recoverable)",
			      "");
}

void ttlog__box_add_counts(uint64_t dropped_extra, uint64_t truncated)
{
	struct ttlog__box_hdr *h = box.hdr;

	if (h == NULL || box.detached)
		return;
	/* relaxed: counters */
	atomic_fetch_add_explicit(&h->dropped_extra, dropped_extra, memory_order_relaxed);
	atomic_fetch_add_explicit(&h->truncated, truncated, memory_order_relaxed);
}

void ttlog__box_settled_late(void)
{
	/* the callsites registered between the parent's note and the fork, cut from the
	 * dictionary with what the parent appended after it */
	if (!fb.copied)
		return;
	fb.copied = false;
	for (uint32_t id = fb.ncallsites + 1, n = ttlog__callsite_count(); id <= n; id++) {
		const struct ttlog_callsite *cs = ttlog__callsite(id);
		if (cs != NULL)
			ttlog__box_callsite(id, cs);
	}
}
