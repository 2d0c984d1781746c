/*
 * recover.c - a dead process's black box (box.c, box.h) turned into an ordinary snapshot
 * file (reason "recovered"), then removed. The box is read with pread() only, every
 * offset and size checked against the file, so a hostile or damaged box is an error with a
 * message, never a crash (a mapping would fault on a file truncated under it).
 *
 * What a slot holds is told by its seq word alone, as the live snapshots tell it
 * (docs/blackbox-format.md): a record is kept only when its seq says "holds p" for a
 * position p the ring's positions still cover; a push cut by the death shows as a claimed
 * or busy-marked slot and is counted in counters.torn, never shown. So logged = kept +
 * overwritten + dropped + torn holds exactly.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../variants/merge.h"
#include "box.h"
#include "internal.h"

#define MAX_SLOTS (1ull << 27) /* all segments together: refuse larger (or looping) boxes */
#define PC_BUSY (1ull << 63)
#define PC_USED (1ull << 62)
#define PC_POS(s) ((s) & ~(PC_BUSY | PC_USED))

struct rec_set {
	struct ttlog_record *r;
	size_t n, cap;
};

/* A percpu slot at its ring's tail: a push cut between its first store and its commit. */
struct cand {
	struct ttlog_record r;
	bool complete; /* seq says "holds tail": the record is whole */
};

struct rbox {
	int fd;
	uint64_t size;
	struct ttlog__box_hdr h;
	char *msg;
	size_t msg_len;
	/* dictionary */
	unsigned char *csbuf;
	struct ttlog_callsite *csv; /* entries, pointing into csbuf */
	size_t ncsv;
	const struct ttlog_callsite **cs; /* by id - 1 */
	uint32_t ncs;
	/* records and counts */
	struct rec_set keep;
	struct cand *cands;
	size_t ncands, cands_cap;
	uint64_t stored, popped, dropped, torn;
};

static int bad(struct rbox *b, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int bad(struct rbox *b, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(b->msg, b->msg_len, fmt, ap);
	va_end(ap);
	return err;
}

/* n bytes at off, all inside the file, or -EBADMSG. */
static int rd(struct rbox *b, void *buf, uint64_t n, uint64_t off, const char *what)
{
	unsigned char *p = buf;

	if (off > b->size || n > b->size - off)
		return bad(b, -EBADMSG, "%s at %llu (+%llu bytes) is outside the file (%llu bytes)",
			   what, (unsigned long long)off, (unsigned long long)n,
			   (unsigned long long)b->size);
	while (n > 0) {
		ssize_t got = pread(b->fd, p, n > (1u << 30) ? 1u << 30 : n, (off_t)off);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			return bad(b, got < 0 ? -errno : -EBADMSG, "reading %s: %s", what,
				   got < 0 ? strerror(errno) : "short file");
		p += got;
		off += (uint64_t)got;
		n -= (uint64_t)got;
	}
	return 0;
}

static bool str_ok(const char *s, size_t n)
{
	return memchr(s, '\0', n) != NULL;
}

static int check_header(struct rbox *b)
{
	struct ttlog__box_hdr *h = &b->h;
	uint64_t c;
	int err;

	if (b->size < sizeof *h)
		return bad(b, -EBADMSG, "truncated: %llu bytes, not even a header",
			   (unsigned long long)b->size);
	if ((err = rd(b, h, sizeof *h, 0, "the header")) < 0)
		return err;
	c = h->capacity;
	if (memcmp(h->magic, TTLOG_BOX_MAGIC, 8) != 0)
		return bad(b, -EBADMSG, "not a ttlog black box (bad magic)");
	if (h->version != TTLOG_BOX_VERSION)
		return bad(b, -EPROTO, "box format version %u; this ttlog reads version %d",
			   h->version, TTLOG_BOX_VERSION);
	if (h->header_size != TTLOG_BOX_HEADER)
		return bad(b, -EBADMSG, "header size %u, want %d", h->header_size,
			   TTLOG_BOX_HEADER);
	if (h->record_size != TTLOG_RECORD_SIZE)
		return bad(b, -EPROTO, "record size %u; this ttlog is built for %d", h->record_size,
			   TTLOG_RECORD_SIZE);
	if (h->file_size != b->size)
		return bad(b, -EBADMSG, "truncated or grown: %llu bytes, the header says %llu",
			   (unsigned long long)b->size, (unsigned long long)h->file_size);
	if (h->pid <= 0 || h->parent_pid < 0)
		return bad(b, -EBADMSG, "bad pid %d", h->pid);
	if (c < 16 || c > (1ull << 32) || (c & (c - 1)) != 0)
		return bad(b, -EBADMSG, "bad capacity %llu", (unsigned long long)c);
	if (h->policy != TTLOG_POLICY_OVERWRITE && h->policy != TTLOG_POLICY_DROP)
		return bad(b, -EBADMSG, "bad policy %u", h->policy);
	if (atomic_load_explicit(&h->anchor_cur, memory_order_relaxed) == 1) {
		h->ticks_per_ns = h->ticks_per_ns1; /* the newer calibration */
		h->anchor_ticks = h->anchor_ticks1;
		h->anchor_ns = h->anchor_ns1;
	}
	if (h->clock_tsc > 1 || (h->clock_tsc && (!isfinite(h->ticks_per_ns) ||
						  h->ticks_per_ns < 1e-3 || h->ticks_per_ns > 1e3)))
		return bad(b, -EBADMSG, "bad clock calibration");
	if (!str_ok(h->service, sizeof h->service) || !str_ok(h->hostname, sizeof h->hostname) ||
	    !str_ok(h->variant, sizeof h->variant) ||
	    !str_ok(h->snapshot_dir, sizeof h->snapshot_dir) || h->service[0] == '\0')
		return bad(b, -EBADMSG, "bad header strings");
	if (h->seg_max > TTLOG_BOX_SEG_MAX || h->seg_off < TTLOG_BOX_HEADER ||
	    h->seg_off > b->size ||
	    (uint64_t)h->seg_max * sizeof(struct ttlog__box_seg) > b->size - h->seg_off)
		return bad(b, -EBADMSG, "segment table (%u entries at %llu) outside the file",
			   h->seg_max, (unsigned long long)h->seg_off);
	if (h->cs_off > b->size || h->cs_size > b->size - h->cs_off || h->cs_size > (1u << 30))
		return bad(b, -EBADMSG, "callsite dictionary outside the file");
	return 0;
}

/* The committed entries of the dictionary; a torn or damaged entry is skipped (resync on
 * the next 8-byte boundary whose entry's commit matches). */
static int load_callsites(struct rbox *b)
{
	uint64_t top = atomic_load_explicit(&b->h.cs_top, memory_order_relaxed), off = 0;
	int err;

	if (top > b->h.cs_size)
		top = b->h.cs_size;
	b->cs = calloc(TTLOG_MAX_CALLSITES, sizeof *b->cs);
	b->csbuf = malloc(top + 1);
	/* an entry is at least 48 bytes */
	b->csv = calloc(top / 48 + 1, sizeof *b->csv);
	if (b->cs == NULL || b->csbuf == NULL || b->csv == NULL)
		return bad(b, -ENOMEM, "out of memory for the callsite dictionary");
	if ((err = rd(b, b->csbuf, top, b->h.cs_off, "the callsite dictionary")) < 0)
		return err;
	while (off + sizeof(struct ttlog__box_cs) <= top) {
		struct ttlog__box_cs e;
		memcpy(&e, b->csbuf + off, sizeof e);
		uint64_t commit = atomic_load_explicit(&e.commit, memory_order_relaxed);
		if (e.size < sizeof e || e.size % 8 != 0 || e.size > top - off ||
		    commit != ttlog__box_hash(b->csbuf + off + 8, e.size - 8) || e.id == 0 ||
		    e.id > TTLOG_MAX_CALLSITES || e.level > TTLOG_LEVEL_FATAL ||
		    e.nfields > TTLOG_MAX_FIELDS) {
			off += 8;
			continue;
		}
		char *s = (char *)b->csbuf + off + sizeof e, *end = (char *)b->csbuf + off + e.size;
		const char *str[3 + TTLOG_MAX_FIELDS];
		unsigned k, nstr = 3u + e.nfields;
		bool ok = true;
		for (k = 0; k < nstr && ok; k++) {
			char *z = memchr(s, '\0', (size_t)(end - s));
			ok = z != NULL;
			str[k] = s;
			s = ok ? z + 1 : s;
		}
		for (k = 0; k < e.nfields && ok; k++)
			ok = e.types[k] >= TTLOG_TYPE_U64 && e.types[k] <= TTLOG_TYPE_STR;
		if (!ok) {
			off += 8;
			continue;
		}
		const char **names = malloc(sizeof(char *) * (e.nfields ? e.nfields : 1));
		if (names == NULL)
			return bad(b, -ENOMEM, "out of memory for the callsite dictionary");
		struct ttlog_callsite *cs = &b->csv[b->ncsv++];
		cs->id = e.id;
		cs->level = e.level;
		cs->nfields = e.nfields;
		memcpy(cs->types, e.types, sizeof cs->types);
		cs->target = str[0];
		cs->message = str[1];
		cs->file = str[2];
		cs->line = e.line;
		for (k = 0; k < e.nfields; k++)
			names[k] = str[3 + k];
		cs->names = names;
		if (b->cs[e.id - 1] == NULL)
			b->cs[e.id - 1] = cs;
		if (e.id > b->ncs)
			b->ncs = e.id;
		off += e.size;
	}
	return 0;
}

static int keep(struct rbox *b, const struct ttlog_record *r)
{
	if (b->keep.n == b->keep.cap) {
		size_t cap = b->keep.cap ? b->keep.cap * 2 : 4096;
		struct ttlog_record *p = realloc(b->keep.r, cap * sizeof *p);
		if (p == NULL)
			return bad(b, -ENOMEM, "out of memory for the records");
		b->keep.r = p;
		b->keep.cap = cap;
	}
	b->keep.r[b->keep.n++] = *r;
	return 0;
}

static int add_cand(struct rbox *b, const struct ttlog_record *r, bool complete)
{
	if (b->ncands == b->cands_cap) {
		size_t cap = b->cands_cap ? b->cands_cap * 2 : 64;
		struct cand *p = realloc(b->cands, cap * sizeof *p);
		if (p == NULL)
			return bad(b, -ENOMEM, "out of memory");
		b->cands = p;
		b->cands_cap = cap;
	}
	b->cands[b->ncands++] = (struct cand){*r, complete};
	return 0;
}

static int rd64(struct rbox *b, uint64_t off, uint64_t *v, const char *what)
{
	if (off % 8 != 0)
		return bad(b, -EBADMSG, "%s at %llu is not aligned", what, (unsigned long long)off);
	return rd(b, v, 8, off, what);
}

/* One segment: its kept records, its torn pushes, its counters. */
static int load_segment(struct rbox *b, const struct ttlog__box_seg *g, uint32_t i)
{
	const size_t rs = TTLOG_RECORD_SIZE;
	uint64_t cap = g->nslots, mask = cap - 1, t, h, p, d, busy32 = 0, start, pos;
	unsigned char *slots;
	uint64_t torn = 0; /* positions below the tail claimed but never published */
	int err;

	if (g->kind < TTLOG_BOX_SEG_MPMC || g->kind > TTLOG_BOX_SEG_PERCPU)
		return bad(b, -EBADMSG, "segment %u: unknown kind %u", i, g->kind);
	if (cap == 0 || cap > (1ull << 32) || (cap & mask) != 0)
		return bad(b, -EBADMSG, "segment %u: bad slot count %llu", i,
			   (unsigned long long)cap);
	if (g->pos0 != (g->kind == TTLOG_BOX_SEG_PERCPU ? cap : 0))
		return bad(b, -EBADMSG, "segment %u: bad first position", i);
	if (g->slots % 8 != 0 || g->slots > b->size || cap * rs > b->size - g->slots)
		return bad(b, -EBADMSG, "segment %u: slots (%llu at %llu) outside the file", i,
			   (unsigned long long)cap, (unsigned long long)g->slots);
	if ((err = rd64(b, g->tail, &t, "a tail")) < 0 ||
	    (err = rd64(b, g->head, &h, "a head")) < 0 ||
	    (err = rd64(b, g->popped, &p, "a popped counter")) < 0 ||
	    (err = rd64(b, g->dropped, &d, "a dropped counter")) < 0)
		return err;
	if (g->busy != 0) {
		uint32_t v;
		if (g->busy % 4 != 0 || (err = rd(b, &v, 4, g->busy, "a busy flag")) < 0)
			return err < 0 ? err : bad(b, -EBADMSG, "segment %u: bad busy flag", i);
		busy32 = v;
	}
	if (t < g->pos0)
		return bad(b, -EBADMSG, "segment %u: tail %llu below the first position", i,
			   (unsigned long long)t);
	if ((slots = malloc(cap * rs)) == NULL)
		return bad(b, -ENOMEM, "out of memory for segment %u", i);
	if ((err = rd(b, slots, cap * rs, g->slots, "slots")) < 0)
		goto out;

	start = t - g->pos0 > cap ? t - cap : g->pos0;
	if (h > start)
		start = h < t ? h : t;
	for (pos = start; pos < t; pos++) {
		const unsigned char *sl = slots + (pos & mask) * rs;
		uint64_t seq;
		memcpy(&seq, sl, 8);
		if (seq == pos + 1) {
			struct ttlog_record r;
			memcpy(&r, sl + 8, sizeof r);
			if ((err = keep(b, &r)) < 0)
				goto out;
		} else if (g->kind == TTLOG_BOX_SEG_MPMC && seq == pos) {
			torn++; /* claimed before the death, never published */
		} else if (g->kind == TTLOG_BOX_SEG_PERCPU && !(g->flags & TTLOG_BOX_SEG_RSEQ) &&
			   (PC_POS(seq) < pos + 1 || seq == ((pos + 1) | PC_BUSY))) {
			torn++; /* fallback: claimed by CAS, never published */
		}
	}
	/* the slot at the tail: a push cut between its first store and the tail's */
	if (t - g->pos0 < (1ull << 63)) {
		const unsigned char *sl = slots + (t & mask) * rs;
		struct ttlog_record r;
		uint64_t seq;
		memcpy(&seq, sl, 8);
		memcpy(&r, sl + 8, sizeof r);
		if (g->kind == TTLOG_BOX_SEG_SPSC && seq == t + 1) {
			/* whole: died between the seq store and the tail store */
			if ((err = keep(b, &r)) < 0)
				goto out;
			t++;
		} else if (g->kind == TTLOG_BOX_SEG_SPSC && seq == t && busy32 != 0) {
			b->torn++; /* marked, its words partly written; not below the tail */
		} else if (g->kind == TTLOG_BOX_SEG_PERCPU && (g->flags & TTLOG_BOX_SEG_RSEQ) &&
			   (seq == t + 1 || seq == ((t + 1) | PC_BUSY))) {
			/* decided once every segment is read: an rseq push aborted (preempted)
			 * leaves the same marks, and its restart may have completed on another
			 * CPU's ring */
			if ((err = add_cand(b, &r, seq == t + 1)) < 0)
				goto out;
		}
	}
	b->stored += t - g->pos0 - torn;
	b->torn += torn;
	/* in drop mode only pops move head: the rings keep no popped counter there */
	b->popped += b->h.policy == TTLOG_POLICY_DROP ? (h > g->pos0 ? h - g->pos0 : 0) : p;
	b->dropped += d;
out:
	free(slots);
	return err;
}

static int load_segments(struct rbox *b)
{
	uint32_t n = atomic_load_explicit(&b->h.seg_count, memory_order_relaxed), i;
	struct ttlog__box_seg *tab;
	uint64_t total = 0;
	int err;

	if (n > b->h.seg_max)
		n = b->h.seg_max;
	if (n == 0)
		return 0;
	if ((tab = calloc(n, sizeof *tab)) == NULL)
		return bad(b, -ENOMEM, "out of memory");
	if ((err = rd(b, tab, (uint64_t)n * sizeof *tab, b->h.seg_off, "the segment table")) < 0)
		goto out;
	for (i = 0; i < n; i++) {
		if (atomic_load_explicit(&tab[i].state, memory_order_relaxed) !=
		    TTLOG_BOX_SEG_VALID)
			continue; /* claimed, never completed: the ring was not in use yet */
		total += tab[i].nslots <= MAX_SLOTS ? tab[i].nslots : MAX_SLOTS + 1;
		if (total > MAX_SLOTS) {
			err = bad(b, -EFBIG, "more than %llu slots in all", MAX_SLOTS);
			goto out;
		}
		if ((err = load_segment(b, &tab[i], i)) < 0)
			goto out;
	}
out:
	free(tab);
	return err;
}

/* The rseq candidates: a record whose (timestamp, thread) a kept record has was completed
 * by the restart of an aborted attempt: not an event of its own. The others were cut by
 * the death: whole ones are kept (and stored), marked ones torn. */
static int settle_cands(struct rbox *b)
{
	size_t nkept = b->keep.n;

	for (size_t i = 0; i < b->ncands; i++) {
		const struct cand *c = &b->cands[i];
		bool dup = false;
		for (size_t k = 0; k < nkept && !dup; k++)
			dup = b->keep.r[k].ts == c->r.ts && b->keep.r[k].tid == c->r.tid;
		/* an attempt aborted on one CPU and cut by the death on another: one event */
		for (size_t k = 0; k < i && !dup; k++)
			dup = b->cands[k].r.ts == c->r.ts && b->cands[k].r.tid == c->r.tid;
		if (dup)
			continue;
		if (c->complete) {
			int err = keep(b, &c->r);
			if (err < 0)
				return err;
			b->stored++;
		} else {
			b->torn++;
		}
	}
	return 0;
}

static void rbox_free(struct rbox *b)
{
	for (size_t i = 0; i < b->ncsv; i++)
		free((void *)b->csv[i].names);
	free(b->cs);
	free(b->csv);
	free(b->csbuf);
	free(b->keep.r);
	free(b->cands);
	if (b->fd >= 0)
		close(b->fd);
}

/* 1 when the box's process is alive: the same pid with the same start time. */
static bool alive(const struct ttlog__box_hdr *h)
{
	uint64_t start;

	return ttlog__proc_start_time(h->pid, &start) == 0 && start == h->start_time;
}

/*
 * Recover one box (name in dirfd) into out_dirfd. filter: only a box of this service and
 * snapshot directory (the writer thread's peers), others are left alone (1). Returns 0
 * recovered (snap: the snapshot's name), 1 left alone (alive, taken by another recoverer,
 * not ours to take; msg says which), or a negative errno with msg.
 */
static int recover_one(int dirfd, const char *name, int out_dirfd, const char *f_service,
		       const char *f_dir, char *snap, size_t snap_len, char *msg, size_t msg_len)
{
	struct rbox b = {.fd = -1, .msg = msg, .msg_len = msg_len};
	struct ttlog__snapres res;
	struct ttlog__snapsrc src;
	struct ttlog__snapinfo info;
	struct stat st, now;
	struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
	size_t unknown = 0, n;
	int err;

	msg[0] = '\0';
	/* read and write: the write lock needs it; nothing is written */
	b.fd = openat(dirfd, name, O_RDWR | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	if (b.fd < 0) {
		err = -errno;
		bad(&b, err, "%s%s", strerror(errno),
		    errno == ELOOP ? " (a symlink: refused)" : "");
		goto out;
	}
	if (fstat(b.fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		err = bad(&b, -EINVAL, "not a regular file");
		goto out;
	}
	if (st.st_uid != geteuid()) {
		err = bad(&b, -EPERM, "owned by uid %u, not by us (%u)", (unsigned)st.st_uid,
			  (unsigned)geteuid());
		goto out;
	}
	b.size = (uint64_t)st.st_size;
	if ((err = check_header(&b)) < 0)
		goto out;
	if (f_service != NULL &&
	    (strcmp(b.h.service, f_service) != 0 || strcmp(b.h.snapshot_dir, f_dir) != 0)) {
		err = 1;
		bad(&b, 1, "another service's or directory's box");
		goto out;
	}
	if (alive(&b.h)) {
		err = 1;
		bad(&b, 1, "process %d is alive", b.h.pid);
		goto out;
	}
	/* its process holds a read lock while it lives; recoverers exclude each other */
	if (fcntl(b.fd, F_OFD_SETLK, &fl) < 0) {
		if (errno == EAGAIN || errno == EACCES) {
			err = 1;
			bad(&b, 1, "in use (its process or another recoverer holds it)");
			goto out;
		}
		if (errno != EINVAL) {
			err = bad(&b, -errno, "cannot lock: %s", strerror(errno));
			goto out;
		}
	}
	if ((err = load_callsites(&b)) < 0 || (err = load_segments(&b)) < 0 ||
	    (err = settle_cands(&b)) < 0)
		goto out;
	/* records whose callsite the dictionary lacks (it was full): dropped */
	for (size_t i = n = 0; i < b.keep.n; i++) {
		uint32_t id = b.keep.r[i].callsite & TTLOG_REC_ID_MASK;
		if (id == 0 || id > b.ncs || b.cs[id - 1] == NULL) {
			unknown++;
			continue;
		}
		b.keep.r[n++] = b.keep.r[i];
	}
	b.keep.n = n;
	ttlog__sort_inplace(b.keep.r, n); /* stable: each thread keeps its order */

	memset(&src, 0, sizeof src);
	src.service = b.h.service;
	src.hostname = b.h.hostname;
	src.variant = b.h.variant[0] ? b.h.variant : "unknown";
	src.policy = (int)b.h.policy;
	src.clock_tsc = (int)b.h.clock_tsc;
	src.pid = (uint64_t)b.h.pid;
	src.parent_pid = (uint64_t)b.h.parent_pid;
	src.capacity = b.h.capacity;
	src.truncated = atomic_load_explicit(&b.h.truncated, memory_order_relaxed);
	src.torn = b.torn;
	if (b.h.clock_tsc)
		src.map = (struct ttlog__clock_map){b.h.anchor_ticks, b.h.anchor_ns,
						    b.h.ticks_per_ns};
	else
		src.map = (struct ttlog__clock_map){0, 0, 1.0};
	src.cs = b.cs;
	src.ncs = b.ncs;
	memset(&info, 0, sizeof info);
	info.src = &src;
	info.reason = "recovered";
	info.created_ns = ttlog__realtime_ns();
	info.n = n;
	info.cut.stored = b.stored - unknown;
	info.cut.kept = n;
	info.cut.popped = b.popped < info.cut.stored - n ? b.popped : info.cut.stored - n;
	info.cut.overwritten = info.cut.stored - n - info.cut.popped;
	info.cut.dropped = b.dropped + unknown +
			   atomic_load_explicit(&b.h.dropped_extra, memory_order_relaxed);
	if (b.stored < unknown + n) {
		err = bad(&b, -EBADMSG, "positions and slots disagree (kept %zu of %llu stored)", n,
			  (unsigned long long)b.stored);
		goto out;
	}
	if ((err = ttlog__snapres_init(&res, n ? n : 1)) < 0) {
		bad(&b, err, "out of memory for the snapshot buffers");
		goto out;
	}
	if (n > 0)
		memcpy(res.records, b.keep.r, n * sizeof *b.keep.r);
	err = ttlog__snapfile_write(&res, out_dirfd, 0600, src.pid, &info, snap, snap_len);
	ttlog__snapres_fini(&res);
	if (err < 0) {
		bad(&b, err, "writing the snapshot: %s", ttlog_strerror(err));
		goto out;
	}
	/* the snapshot is durable: the box goes, if it is still the file we read */
	if (fstatat(dirfd, name, &now, AT_SYMLINK_NOFOLLOW) == 0 && now.st_dev == st.st_dev &&
	    now.st_ino == st.st_ino)
		unlinkat(dirfd, name, 0);
	err = 0;
out:
	rbox_free(&b);
	return err;
}

static bool box_name(const char *n)
{
	size_t l = strlen(n), sl = sizeof TTLOG_BOX_SUFFIX - 1;

	return strncmp(n, "ttlog-", 6) == 0 && l > 6 + sl &&
	       strcmp(n + l - sl, TTLOG_BOX_SUFFIX) == 0;
}

TTLOG_API int ttlog_recover(const char *path, const char *out_dir, char *snap, size_t snap_len,
			    char *msg, size_t msg_len)
{
	char dirbuf[TTLOG_PATH_MAX], name_buf[256], snap_name[160], m[512];
	const char *slash, *name;
	int dirfd, out_fd, err;

	if (msg == NULL || msg_len == 0) {
		msg = m;
		msg_len = sizeof m;
	}
	msg[0] = '\0';
	if (path == NULL || strlen(path) >= sizeof dirbuf) {
		snprintf(msg, msg_len, "bad box path");
		return -EINVAL;
	}
	if (out_dir == NULL)
		out_dir = getenv("TTLOG_SNAPSHOT_DIR") ? getenv("TTLOG_SNAPSHOT_DIR") : "/tmp";
	slash = strrchr(path, '/');
	if (slash == NULL) {
		strcpy(dirbuf, ".");
		name = path;
	} else {
		size_t dl = slash == path ? 1 : (size_t)(slash - path);
		memcpy(dirbuf, path, dl);
		dirbuf[dl] = '\0';
		name = slash + 1;
	}
	if (strlen(name) == 0 || strlen(name) >= sizeof name_buf) {
		snprintf(msg, msg_len, "bad box file name");
		return -EINVAL;
	}
	strcpy(name_buf, name);
	if ((dirfd = open(dirbuf, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		err = -errno;
		snprintf(msg, msg_len, "directory '%.200s': %s", dirbuf, strerror(errno));
		return err;
	}
	if ((out_fd = open(out_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		err = -errno;
		snprintf(msg, msg_len, "snapshot directory '%.200s': %s", out_dir, strerror(errno));
		close(dirfd);
		return err;
	}
	err = recover_one(dirfd, name_buf, out_fd, NULL, NULL, snap_name, sizeof snap_name, msg,
			  msg_len);
	if (err == 0 && snap != NULL && snap_len > 0)
		if ((size_t)snprintf(snap, snap_len, "%s/%s", out_dir, snap_name) >= snap_len)
			err = -ENAMETOOLONG;
	close(out_fd);
	close(dirfd);
	return err;
}

/* The boxes ttlog_init() found for its writer to recover (names in ttlog__g.box_dir):
 * written by ttlog__recover_scan() before the writer starts, read by the writer. */
static char **peers;
static size_t npeers;

/* Is name (in dirfd) the box of a dead process of this service and snapshot directory? A
 * quick look at the header; recover_one() checks everything again. */
static bool dead_peer(int dirfd, const char *name)
{
	struct ttlog__box_hdr h;
	int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	bool ok;

	if (fd < 0)
		return false;
	ok = pread(fd, &h, sizeof h, 0) == (ssize_t)sizeof h &&
	     memcmp(h.magic, TTLOG_BOX_MAGIC, 8) == 0 && str_ok(h.service, sizeof h.service) &&
	     str_ok(h.snapshot_dir, sizeof h.snapshot_dir) &&
	     strcmp(h.service, ttlog__g.service) == 0 &&
	     strcmp(h.snapshot_dir, ttlog__g.dir) == 0 && !alive(&h);
	close(fd);
	return ok;
}

void ttlog__recover_scan(void)
{
	char msg[300];
	struct dirent *de;
	int dirfd, fd;
	DIR *d;

	for (size_t i = 0; i < npeers; i++) /* a list left by an init that failed */
		free(peers[i]);
	free(peers);
	peers = NULL;
	npeers = 0;
	if ((dirfd = ttlog__box_dir_open(ttlog__g.box_dir, false, msg, sizeof msg)) < 0)
		return;
	fd = dup(dirfd);
	if (fd < 0 || (d = fdopendir(fd)) == NULL) {
		if (fd >= 0)
			close(fd);
		close(dirfd);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		char **p;
		if (!box_name(de->d_name) || !dead_peer(dirfd, de->d_name))
			continue;
		if ((p = realloc(peers, (npeers + 1) * sizeof *p)) == NULL)
			break;
		peers = p;
		if ((peers[npeers] = strdup(de->d_name)) != NULL)
			npeers++;
	}
	closedir(d);
	close(dirfd);
}

void ttlog__recover_peers(void)
{
	char msg[300], snap[160];
	int dirfd;

	if (npeers == 0)
		return; /* nothing to do: no allocation, no system call */
	dirfd = ttlog__box_dir_open(ttlog__g.box_dir, false, msg, sizeof msg);
	for (size_t i = 0; i < npeers; i++) {
		int err = dirfd < 0 ? dirfd
				    : recover_one(dirfd, peers[i], ttlog__g.dirfd, ttlog__g.service,
						  ttlog__g.dir, snap, sizeof snap, msg, sizeof msg);
		if (err < 0) {
			ttlog__report("black box ", peers[i]);
			ttlog__report("  not recovered: ", msg);
		}
		free(peers[i]);
	}
	free(peers);
	peers = NULL;
	npeers = 0;
	if (dirfd >= 0)
		close(dirfd);
}
