/*
 * box.c - the black box: the rings, their positions and loss counters, and the callsite
 * dictionary live in one file per process, mapped MAP_SHARED, so that every store
 * survives the process however it dies (SIGKILL, the OOM killer). recover.c turns the box
 * of a dead process into a snapshot. Layout: box.h and docs/blackbox-format.md.
 *
 * The ring region is reserved whole at init as a sparse part of the file (no page is
 * allocated until touched) and carved by a bump pointer with no system call, because spsc
 * allocates a thread's shard on its first push, possibly in a signal handler. Carved
 * memory is never reused: the file goes with ttlog_shutdown().
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "box.h"
#include "box_state.h"
#include "internal.h"

/* Linked only with their variants; weak so that a library without them links (memlimit.c
 * does the same for numa_nodes). Hidden: never bound to a program's symbol. */
extern unsigned numa_nodes(void) __attribute__((weak, visibility("hidden")));
extern unsigned percpu_rings(void) __attribute__((weak, visibility("hidden")));

#define PAGE 4096u

struct ttlog__box_state ttlog__box = {.fd = -1, .dirfd = -1};
#define box ttlog__box /* short: the state box_fork.c shares (box_state.h) */

static size_t round_page(uint64_t n)
{
	return (size_t)((n + PAGE - 1) & ~(uint64_t)(PAGE - 1));
}

const char *ttlog__box_default_dir(char *buf, size_t len)
{
	snprintf(buf, len, "/dev/shm/ttlog-%u", (unsigned)geteuid());
	return buf;
}

int ttlog__box_dir_open(const char *dir, bool create, char *msg, size_t len)
{
	struct stat st;
	int fd;

	if (create && mkdir(dir, 0700) < 0 && errno != EEXIST) {
		int err = -errno;
		snprintf(msg, len, "black box directory '%.200s': cannot create: %s", dir,
			 strerror(errno));
		return err;
	}
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		int err = -errno;
		snprintf(msg, len, "black box directory '%.200s': %s%s", dir, strerror(errno),
			 errno == ELOOP || errno == ENOTDIR ? " (a symlink or not a directory)"
							    : "");
		return err == -ELOOP ? -ENOTDIR : err;
	}
	if (fstat(fd, &st) < 0 || !S_ISDIR(st.st_mode)) {
		close(fd);
		snprintf(msg, len, "black box directory '%.200s': not a directory", dir);
		return -ENOTDIR;
	}
	if (st.st_uid != geteuid() || (st.st_mode & 022) != 0) {
		close(fd);
		snprintf(msg, len,
			 "black box directory '%.200s': refused: owned by uid %u (we are %u) "
			 "with mode %03o; want a directory of ours that only we can write",
			 dir, (unsigned)st.st_uid, (unsigned)geteuid(),
			 (unsigned)(st.st_mode & 0777));
		return -EPERM;
	}
	return fd;
}

int ttlog__proc_start_time(pid_t pid, uint64_t *out)
{
	char path[64], buf[1024], *p;
	ssize_t n;
	int fd, field;

	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return -errno;
	n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return -EIO;
	buf[n] = '\0';
	/* the command name (field 2) may hold spaces and parentheses: fields restart after
	 * the last ')' with field 3 */
	if ((p = strrchr(buf, ')')) == NULL)
		return -EIO;
	for (field = 2; field < 22 && p != NULL; field++)
		p = strchr(p + 1, ' ');
	if (p == NULL)
		return -EIO;
	*out = strtoull(p + 1, NULL, 10);
	return 0;
}

/* Bytes of ring memory the variant may carve at most for capacity c (variants/ring.h's
 * bounds, each allocation rounded to pages, plus the rings' own headers); *nseg: the
 * segments it describes at most. */
static uint64_t ring_bytes(const char *variant, uint64_t c, uint32_t *nseg)
{
	uint64_t slots = c * TTLOG_RECORD_SIZE, n = 1;

	if (strcmp(variant, "spsc") == 0) {
		/* SPSC_DEFAULT_SHARDS: shards with their headers, the shared mpmc ring */
		*nseg = SPSC_DEFAULT_SHARDS + 1;
		return (SPSC_DEFAULT_SHARDS + 1) * (round_page(slots + 256) + PAGE) + 2 * PAGE;
	}
	if (strcmp(variant, "numa") == 0) {
		n = numa_nodes ? numa_nodes() : 1;
		*nseg = (uint32_t)n;
		/* node rings with their headers, and the merge scratch */
		return n * (round_page(slots) + PAGE) +
		       round_page(n * c * sizeof(struct ttlog_record)) + 2 * PAGE;
	}
	if (strcmp(variant, "percpu") == 0) {
		n = percpu_rings ? percpu_rings() : 1;
		*nseg = (uint32_t)n;
		return round_page(n * slots + n * 128) + 2 * PAGE;
	}
	*nseg = 1;
	return round_page(slots) + 2 * PAGE; /* mpmc */
}

/* The dictionary's first bytes are allocated at init; an entry beyond them allocates its
 * own range first (a registration, not the log call's common path), so that a full tmpfs
 * never turns a store into a SIGBUS. */
#define CS_PREALLOC (64u << 10)

/* Append one callsite to the dictionary; async-signal-safe, lock-free. */
void ttlog__box_callsite(uint32_t id, const struct ttlog_callsite *cs)
{
	struct ttlog__box_hdr *h;
	struct ttlog__box_cs *e;
	size_t size = sizeof *e, k;
	uint64_t top;
	char *s;

	if (ttlog__fork_pending() && !ttlog__fork_settled(true))
		return;
	if ((h = box.hdr) == NULL || box.detached)
		return;
	size += strlen(cs->target ? cs->target : "") + strlen(cs->message ? cs->message : "") +
		strlen(cs->file ? cs->file : "") + 3;
	for (k = 0; k < cs->nfields; k++)
		size += strlen(cs->names[k] ? cs->names[k] : "") + 1;
	size = (size + 7) & ~(size_t)7;
	/* relaxed: the CAS hands out disjoint ranges; the entry is published by its commit */
	top = atomic_load_explicit(&h->cs_top, memory_order_relaxed);
	do {
		if (top > h->cs_size || size > h->cs_size - top)
			return; /* full: the recoverer counts this callsite's events as dropped */
	} while (!atomic_compare_exchange_weak_explicit(
		&h->cs_top, &top, top + size, memory_order_relaxed, memory_order_relaxed));
	if (top + size > CS_PREALLOC &&
	    fallocate(box.fd, 0, (off_t)(h->cs_off + top), (off_t)size) < 0)
		return; /* no room: left uncommitted, the recoverer skips it */
	e = (struct ttlog__box_cs *)(box.base + h->cs_off + top);
	e->size = (uint32_t)size;
	e->id = id;
	e->line = cs->line;
	e->level = cs->level;
	e->nfields = cs->nfields;
	memcpy(e->types, cs->types, sizeof e->types);
	s = (char *)(e + 1);
	s = stpcpy(s, cs->target ? cs->target : "") + 1;
	s = stpcpy(s, cs->message ? cs->message : "") + 1;
	s = stpcpy(s, cs->file ? cs->file : "") + 1;
	for (k = 0; k < cs->nfields; k++)
		s = stpcpy(s, cs->names[k] ? cs->names[k] : "") + 1;
	memset(s, 0, (size_t)((char *)e + size - s));
	/* release: a reader of this process that sees the commit sees the entry; the
	 * recoverer reads the file after the process is gone */
	atomic_store_explicit(&e->commit, ttlog__box_hash((unsigned char *)e + 8, size - 8),
			      memory_order_release);
}

void ttlog__box_anchor(const struct ttlog__clock_map *m)
{
	struct ttlog__box_hdr *h = box.hdr;

	if (h == NULL || m->ticks_per_ns <= 0 || ttlog__fork_pending())
		return;
	/* one snapshot at a time calls this (the snapshot buffers' owner): one writer */
	if (atomic_load_explicit(&h->anchor_cur, memory_order_relaxed) == 0) {
		h->ticks_per_ns1 = m->ticks_per_ns;
		h->anchor_ticks1 = m->base_ticks;
		h->anchor_ns1 = m->base_ns;
		/* release: the anchor before its index (the recoverer reads the file later) */
		atomic_store_explicit(&h->anchor_cur, 1, memory_order_release);
	} else {
		h->ticks_per_ns = m->ticks_per_ns;
		h->anchor_ticks = m->base_ticks;
		h->anchor_ns = m->base_ns;
		atomic_store_explicit(&h->anchor_cur, 0, memory_order_release);
	}
}

void ttlog__box_count(int which)
{
	struct ttlog__box_hdr *h;

	if (ttlog__fork_pending() && ttlog__fork_count(which))
		return;
	if ((h = box.hdr) == NULL)
		return;
	/* relaxed: counters */
	atomic_fetch_add_explicit(which ? &h->truncated : &h->dropped_extra, 1,
				  memory_order_relaxed);
}

bool ttlog__box_owns(const void *p)
{
	const unsigned char *c = p;

	return box.base != NULL && c >= box.base && c < box.base + box.size;
}

void *ttlog__box_carve(size_t bytes)
{
	unsigned char *p;
	struct ttlog__box_hdr *h;
	uint64_t n = round_page(bytes), top;

	if (bytes == 0 || (ttlog__fork_pending() && !ttlog__fork_settled(true)))
		return NULL;
	if ((h = box.hdr) == NULL || box.detached)
		return NULL;
	/* relaxed: see ring_top */
	top = atomic_load_explicit(&box.ring_top, memory_order_relaxed);
	do {
		if (n > h->ring_size - top)
			return NULL; /* the caller maps anonymous memory instead */
	} while (!atomic_compare_exchange_weak_explicit(
		&box.ring_top, &top, top + n, memory_order_relaxed, memory_order_relaxed));
	p = box.base + h->ring_off + top;
	/* the file's pages now (one system call, as the mmap it replaces): a full tmpfs
	 * is a failure here, never a SIGBUS on a log call */
	if (fallocate(box.fd, 0, (off_t)(h->ring_off + top), (off_t)n) < 0)
		return NULL;
	return p;
}

void ttlog__box_segment(const struct ttlog_seg *s)
{
	struct ttlog__box_hdr *h;
	struct ttlog__box_seg *e;
	uint32_t i;

	if (ttlog__fork_pending() && !ttlog__fork_settled(true))
		return;
	ttlog__fork_track(s); /* box or not: a forked child cuts it back to the fork */
	if ((h = box.hdr) == NULL || box.detached || !ttlog__box_owns(s->slots) ||
	    !ttlog__box_owns(s->tail) || !ttlog__box_owns(s->head) || !ttlog__box_owns(s->popped) ||
	    !ttlog__box_owns(s->dropped) || (s->busy != NULL && !ttlog__box_owns(s->busy)))
		return;
	/* relaxed: claims an entry; its content is published by the state store */
	i = atomic_fetch_add_explicit(&h->seg_count, 1, memory_order_relaxed);
	if (i >= h->seg_max)
		return;
	e = (struct ttlog__box_seg *)(box.base + h->seg_off) + i;
	e->kind = s->kind;
	e->flags = s->flags;
	e->nslots = s->nslots;
	e->pos0 = s->pos0;
	e->slots = (uint64_t)((const unsigned char *)s->slots - box.base);
	e->tail = (uint64_t)((const unsigned char *)s->tail - box.base);
	e->head = (uint64_t)((const unsigned char *)s->head - box.base);
	e->popped = (uint64_t)((const unsigned char *)s->popped - box.base);
	e->dropped = (uint64_t)((const unsigned char *)s->dropped - box.base);
	e->busy = s->busy ? (uint64_t)((const unsigned char *)s->busy - box.base) : 0;
	/* release: the entry before its state (for readers in this process) */
	atomic_store_explicit(&e->state, TTLOG_BOX_SEG_VALID, memory_order_release);
}

/* An OFD read lock on the whole box while its process lives: a recoverer's write lock
 * fails until the process (every descriptor of this open file) is gone. */
void ttlog__box_lock(int fd)
{
	struct flock fl = {.l_type = F_RDLCK, .l_whence = SEEK_SET};

	fcntl(fd, F_OFD_SETLK, &fl);
}

int ttlog__box_create_file(uint64_t start)
{
	for (unsigned n = 0; n < 1000; n++) {
		int fd;

		if (n == 0)
			snprintf(box.name, sizeof box.name, "ttlog-%d-%llu" TTLOG_BOX_SUFFIX,
				 (int)getpid(), (unsigned long long)start);
		else
			snprintf(box.name, sizeof box.name, "ttlog-%d-%llu-%u" TTLOG_BOX_SUFFIX,
				 (int)getpid(), (unsigned long long)start, n);
		fd = openat(box.dirfd, box.name, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
			    0600);
		if (fd >= 0) {
			/* 0600 whatever the umask */
			if (fchmod(fd, 0600) < 0) {
				int err = -errno;
				close(fd);
				unlinkat(box.dirfd, box.name, 0);
				return err;
			}
			return fd;
		}
		if (errno != EEXIST)
			return -errno;
	}
	return -EEXIST;
}

int ttlog__box_open(const char *dir, const char *variant, size_t capacity, char *msg, size_t len)
{
	struct ttlog__box_hdr *h;
	struct ttlog__clock_map map;
	uint64_t c = 16, start = 0, seg_bytes, ring, size;
	uint32_t nseg;
	int err;

	while (c < capacity)
		c <<= 1;
	if ((box.dirfd = ttlog__box_dir_open(dir, true, msg, len)) < 0) {
		err = box.dirfd;
		box.dirfd = -1;
		return err;
	}
	if (ttlog__proc_start_time(getpid(), &start) < 0)
		start = 0;
	ring = ring_bytes(variant, c, &nseg);
	nseg += 8; /* rings a program makes beside ttlog's while it runs (their memory too) */
	if (nseg > TTLOG_BOX_SEG_MAX)
		nseg = TTLOG_BOX_SEG_MAX;
	seg_bytes = round_page((uint64_t)nseg * sizeof(struct ttlog__box_seg));
	size = TTLOG_BOX_HEADER + seg_bytes + TTLOG_BOX_CS_BYTES + ring;
	if ((box.fd = ttlog__box_create_file(start)) < 0) {
		err = box.fd;
		snprintf(msg, len, "black box '%.200s/ttlog-%d-*.box': cannot create: %s", dir,
			 (int)getpid(), strerror(-err));
		goto fail_dir;
	}
	if (ftruncate(box.fd, (off_t)size) < 0) {
		err = -errno;
		snprintf(msg, len, "black box '%.200s/%s': cannot size: %s", dir, box.name,
			 strerror(errno));
		goto fail_file;
	}
	box.base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, box.fd, 0);
	if (box.base == MAP_FAILED) {
		err = -errno;
		box.base = NULL;
		snprintf(msg, len, "black box '%.200s/%s': cannot map: %s", dir, box.name,
			 strerror(errno));
		goto fail_file;
	}
	box.size = size;
	/* the header, the segment table and the dictionary's first pages now, so that a full
	 * tmpfs fails here rather than with SIGBUS on a log call (ring memory is allocated as
	 * it is carved, dictionary entries beyond these as they are appended) */
	if (fallocate(box.fd, 0, 0, TTLOG_BOX_HEADER + (off_t)seg_bytes + CS_PREALLOC) < 0) {
		err = -ENOSPC;
		snprintf(msg, len, "black box '%.200s/%s': no space in its file system", dir,
			 box.name);
		goto fail_map;
	}
	h = (struct ttlog__box_hdr *)box.base;
	memcpy(h->magic, TTLOG_BOX_MAGIC, 8);
	h->version = TTLOG_BOX_VERSION;
	h->header_size = TTLOG_BOX_HEADER;
	h->file_size = size;
	h->record_size = TTLOG_RECORD_SIZE;
	h->policy = (uint32_t)ttlog__g.policy;
	h->pid = (int32_t)getpid();
	h->parent_pid = 0;
	h->start_time = start;
	h->capacity = c;
	h->clock_tsc = (uint32_t)ttlog__g.clock.tsc;
	h->uid = (uint32_t)geteuid();
	ttlog__clock_map_now(&ttlog__g.clock, &map);
	h->ticks_per_ns = map.ticks_per_ns;
	h->anchor_ticks = map.base_ticks;
	h->anchor_ns = map.base_ns;
	h->created_ns = ttlog__realtime_ns();
	h->seg_off = TTLOG_BOX_HEADER;
	h->seg_max = (uint32_t)(seg_bytes / sizeof(struct ttlog__box_seg));
	h->cs_off = TTLOG_BOX_HEADER + seg_bytes;
	h->cs_size = TTLOG_BOX_CS_BYTES;
	h->ring_off = h->cs_off + h->cs_size;
	h->ring_size = ring;
	snprintf(h->service, sizeof h->service, "%s", ttlog__g.service);
	snprintf(h->hostname, sizeof h->hostname, "%s", ttlog__g.hostname);
	snprintf(h->variant, sizeof h->variant, "%s", variant);
	snprintf(h->snapshot_dir, sizeof h->snapshot_dir, "%s", ttlog__g.dir);
	atomic_store_explicit(&box.ring_top, 0, memory_order_relaxed);
	ttlog__box_lock(box.fd);
	box.detached = false;
	/* release: the header is complete before any ring or callsite uses the box */
	atomic_store_explicit((_Atomic(struct ttlog__box_hdr *) *)&box.hdr, h,
			      memory_order_release);
	/* the callsites registered before this init (the table lives for the process) */
	for (uint32_t id = 1, n = ttlog__callsite_count(); id <= n; id++) {
		const struct ttlog_callsite *cs = ttlog__callsite(id);
		if (cs != NULL)
			ttlog__box_callsite(id, cs);
	}
	return 0;

fail_map:
	munmap(box.base, size);
	box.base = NULL;
	box.size = 0;
fail_file:
	close(box.fd);
	box.fd = -1;
	unlinkat(box.dirfd, box.name, 0);
fail_dir:
	close(box.dirfd);
	box.dirfd = -1;
	return err;
}

bool ttlog__box_active(void)
{
	return box.hdr != NULL;
}

void ttlog__box_close(void)
{
	if (box.base == NULL)
		return;
	/* a forked child that never settled maps its parent's box: the parent's to remove */
	bool parents = ttlog__box_shared();

	box.hdr = NULL;
	munmap(box.base, box.size);
	box.base = NULL;
	box.size = 0;
	if (!box.detached && !parents && box.dirfd >= 0)
		unlinkat(box.dirfd, box.name, 0);
	if (box.fd >= 0)
		close(box.fd);
	if (box.dirfd >= 0)
		close(box.dirfd);
	box.fd = box.dirfd = -1;
	box.detached = false;
}

void ttlog__box_crash_written(void)
{
	/* the crash snapshot holds the events: nothing left for a recoverer (the mapping
	 * stays, in case a handler before ours lets the program go on) */
	if (box.hdr != NULL && !box.detached && !ttlog__box_shared() && box.dirfd >= 0)
		unlinkat(box.dirfd, box.name, 0);
}
