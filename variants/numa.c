/*
 * numa.c - one MPMC ring per NUMA node, its memory bound to the node; a producer writes to
 * the ring of the node it runs on; a snapshot merges the node rings by timestamp.
 *
 * Algorithm: each node ring is an mpmc ring (mpmc.c: D. Vyukov's bounded MPMC queue with
 * overwrite-oldest), created through mpmc__create_mem() so that its slots come from
 * ttlog__ring_alloc_bound() with hwloc_set_area_membind(HWLOC_MEMBIND_BIND) applied before
 * the pages are first touched. The topology is hwloc's (HWLOC_SYNTHETIC and HWLOC_XMLFILE
 * are honoured by hwloc_topology_load), loaded once per process with a cpu -> node table.
 * On a one-node machine a numa ring is one mpmc ring; under a synthetic or XML topology
 * binding is skipped (the topology is not this machine's) but the rings, the cpu -> node
 * routing and the merge are the same as on a real multi-node machine.
 *
 * Capacity: each node ring holds C records (C = the capacity rounded up to a power of
 * two), and a snapshot returns the newest C records of all node rings together, by
 * timestamp: the events an mpmc ring of capacity C would hold, however the threads are
 * spread over the nodes. Memory is bounded by N C records (plus an N C snapshot scratch
 * when N > 1).
 *
 * Producer routing: a per-thread cache of the node index, refreshed with sched_getcpu()
 * (rseq or vDSO, no system call) every NUMA_RECHECK pushes; a thread that migrates writes
 * to its old node's ring for at most that many pushes.
 *
 * Snapshot: each node ring's copy is in push order, which is not quite timestamp order
 * (a producer preempted between its timestamp and its slot), so each copy is sorted by
 * timestamp (merge.h, stable, in place) before the runs are merged; otherwise a thread
 * that moved between nodes could see its records reordered.
 *
 * Progress: as mpmc's (push never waits; pop lock-free; snapshot wait-free). The merge
 * (newest first, filling the caller's buffer from its end) uses scratch reserved at create
 * (N > 1 only); a snapshot that finds it in use copies the node rings one after another
 * into the caller's buffer, as much as fits, and merges in place (merge.h).
 */
#include <errno.h>
#include <hwloc.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "merge.h"
#include "ring.h"
#include "shard.h"

#define NUMA_MAX_NODES 64
#define NUMA_RECHECK 256 /* pushes between two sched_getcpu() */

/* The process's topology: written once under numa_once, read-only afterwards. */
static pthread_once_t numa_once = PTHREAD_ONCE_INIT;
static hwloc_topology_t numa_topo;
static unsigned numa_n = 1;                   /* node count, >= 1 */
static hwloc_obj_t numa_obj[NUMA_MAX_NODES];  /* NULL when hwloc failed */
static int numa_os[NUMA_MAX_NODES];           /* OS index of each node */
static uint8_t *numa_cpu_node;                /* cpu OS index -> node index */
static unsigned numa_ncpu;
static int numa_bindable;                     /* the topology is this machine's */

/* This thread's node index and pushes left before it is looked up again. Read and written
 * by this thread and its signal handlers only; any value they see is a valid node. */
static __thread struct {
	uint32_t node;
	uint32_t left;
} tl_numa __attribute__((tls_model("initial-exec")));

struct numa_node {
	/* read-only after create */
	struct ttlog_ring *ring; /* an mpmc ring, used through mpmc_* only */
	size_t cap;
	int bound; /* 1: the ring's memory is bound to its node */
	/* snapshot-private (under scratch_busy): the node's run in the scratch (records
	 * [0, pos) not merged yet) */
	size_t pos;
};

struct ttlog_ring {
	/* read-only after create */
	unsigned n;
	uint64_t capacity;
	size_t bytes;
	/* snapshot scratch (N > 1: N C records) and the windows (n of them, one per node,
	 * after node[]), owned by whoever set scratch_busy from 0 to 1 */
	_Alignas(64) _Atomic uint32_t scratch_busy;
	struct ttlog_record *scratch;
	size_t scratch_bytes;
	struct ttlog_shard_window *win;
	size_t nwin;
	struct numa_node node[]; /* n of them */
};

static void numa_init(void)
{
	hwloc_topology_t t;
	hwloc_obj_t root;
	int n, last;

	if (hwloc_topology_init(&t) < 0)
		return;
	if (hwloc_topology_load(t) < 0) {
		hwloc_topology_destroy(t);
		return;
	}
	n = hwloc_get_nbobjs_by_type(t, HWLOC_OBJ_NUMANODE);
	if (n < 1)
		n = 1;
	if (n > NUMA_MAX_NODES)
		n = NUMA_MAX_NODES;
	root = hwloc_get_root_obj(t);
	last = hwloc_bitmap_last(root->complete_cpuset);
	numa_ncpu = last >= 0 ? (unsigned)last + 1 : 1;
	numa_cpu_node = calloc(numa_ncpu, 1);
	if (numa_cpu_node == NULL) {
		numa_ncpu = 0;
		hwloc_topology_destroy(t);
		return;
	}
	for (int i = 0; i < n; i++) {
		hwloc_obj_t o = hwloc_get_obj_by_type(t, HWLOC_OBJ_NUMANODE, (unsigned)i);
		unsigned cpu;
		numa_obj[i] = o;
		numa_os[i] = o != NULL ? (int)o->os_index : i;
		if (o == NULL || o->cpuset == NULL)
			continue;
		hwloc_bitmap_foreach_begin(cpu, o->cpuset)
		{
			if (cpu < numa_ncpu)
				numa_cpu_node[cpu] = (uint8_t)i;
		}
		hwloc_bitmap_foreach_end();
	}
	numa_n = (unsigned)n;
	numa_bindable = n > 1 && hwloc_topology_is_thissystem(t);
	numa_topo = t; /* kept for binding; lives as long as the process */
}

unsigned numa_nodes(void)
{
	pthread_once(&numa_once, numa_init);
	return numa_n;
}

void numa_thread_moved(void)
{
	tl_numa.left = 0;
}

/* The node this thread runs on (index into the rings), looked up every NUMA_RECHECK. */
static inline unsigned numa_here(void)
{
	if (__builtin_expect(tl_numa.left == 0, 0)) {
		int cpu = sched_getcpu();
		tl_numa.node = cpu >= 0 && (unsigned)cpu < numa_ncpu ? numa_cpu_node[cpu] : 0;
		tl_numa.left = NUMA_RECHECK;
	}
	tl_numa.left--;
	return tl_numa.node;
}

static int numa_bind(void *p, size_t bytes, void *arg)
{
	unsigned i = (unsigned)(uintptr_t)arg;

	if (!numa_bindable || numa_obj[i] == NULL)
		return -1;
	return hwloc_set_area_membind(numa_topo, p, bytes, numa_obj[i]->nodeset,
				      HWLOC_MEMBIND_BIND, HWLOC_MEMBIND_BYNODESET);
}

/* mpmc__create_mem callbacks; arg is the node index. The bound flag is recorded through
 * a per-create context because the callback has no ring to write it to. */
struct numa_alloc_ctx {
	unsigned node;
	int bound;
};

static void *numa_alloc(size_t bytes, void *arg)
{
	struct numa_alloc_ctx *c = arg;

	return ttlog__ring_alloc_bound(bytes, numa_bind, (void *)(uintptr_t)c->node, &c->bound);
}

static void numa_free(void *p, size_t bytes, void *arg)
{
	(void)arg;
	ttlog__ring_free(p, bytes);
}

int numa_create(struct ttlog_ring **out, const struct ttlog_ring_config *cfg)
{
	struct ttlog_ring_config nc;
	struct ttlog_ring *r;
	size_t cap, bytes;
	int err = 0;

	if ((err = ttlog__ring_config_check(out, cfg, &cap)) < 0)
		return err;
	pthread_once(&numa_once, numa_init);
	bytes = sizeof(*r) + numa_n * (sizeof(r->node[0]) + sizeof(r->win[0]));
	bytes = (bytes + 63) / 64 * 64;
	r = aligned_alloc(64, bytes);
	if (r == NULL)
		return -ENOMEM;
	memset(r, 0, bytes);
	r->n = numa_n;
	r->win = (struct ttlog_shard_window *)&r->node[r->n];
	nc.capacity = cap;
	nc.policy = cfg->policy;
	for (unsigned i = 0; i < r->n; i++) {
		struct numa_alloc_ctx ctx = {.node = i, .bound = 0};
		/* the ctx is read by alloc only, during this call; free ignores its arg */
		struct ttlog_ring_mem mem = {numa_alloc, numa_free, &ctx};
		if ((err = mpmc__create_mem(&r->node[i].ring, &nc, &mem)) < 0)
			goto fail;
		r->node[i].bound = ctx.bound;
		r->node[i].cap = mpmc_capacity(r->node[i].ring);
	}
	r->capacity = cap;
	if (r->n > 1) {
		r->scratch_bytes = r->n * cap * sizeof(struct ttlog_record);
		r->scratch = ttlog__ring_alloc(r->scratch_bytes);
		if (r->scratch == NULL) {
			err = -ENOMEM;
			goto fail;
		}
	}
	atomic_init(&r->scratch_busy, 0);
	*out = r;
	return 0;
fail:
	for (unsigned i = 0; i < r->n; i++)
		mpmc_destroy(r->node[i].ring);
	free(r);
	return err;
}

void numa_destroy(struct ttlog_ring *r)
{
	if (r == NULL)
		return;
	for (unsigned i = 0; i < r->n; i++)
		mpmc_destroy(r->node[i].ring);
	ttlog__ring_free(r->scratch, r->scratch_bytes);
	free(r);
}

/* More than one node: the ring of the node this thread runs on. Out of line, so that the
 * one-node case of numa_push and numa_pop (most machines) is a tail call with no frame. */
static int __attribute__((noinline)) push_here(struct ttlog_ring *r,
						const struct ttlog_record *rec)
{
	unsigned node = numa_here();

	return mpmc_push(r->node[node < r->n ? node : 0].ring, rec);
}

int numa_push(struct ttlog_ring *r, const struct ttlog_record *rec)
{
	/* one node: no lookup of where this thread runs */
	if (__builtin_expect(r->n == 1, 1))
		return mpmc_push(r->node[0].ring, rec);
	return push_here(r, rec);
}

/* The local node's ring first, then the others. */
static int __attribute__((noinline)) pop_here(struct ttlog_ring *r, struct ttlog_record *out)
{
	unsigned n = r->n, i = numa_here();

	if (i >= n)
		i = 0;
	for (unsigned k = 0; k < n; k++) {
		if (mpmc_pop(r->node[i].ring, out) == 0)
			return 0;
		if (++i == n)
			i = 0;
	}
	return -EAGAIN;
}

int numa_pop(struct ttlog_ring *r, struct ttlog_record *out)
{
	if (__builtin_expect(r->n == 1, 1))
		return mpmc_pop(r->node[0].ring, out);
	return pop_here(r, out);
}

/* Node i's window, before its records are counted into it. */
static void window_init(struct ttlog_ring *r, unsigned i)
{
	r->win[i] = (struct ttlog_shard_window){.node = numa_os[i], .shard = i, .shared = 1};
}

/* Scratch in use: each node ring's copy straight into out, merged into what is there. */
static size_t snapshot_inplace(struct ttlog_ring *r, struct ttlog_record *out, size_t max,
			       struct ttlog_ring_cut *cut)
{
	struct ttlog_ring_cut c;
	size_t used = 0;

	ttlog__inplace_begin(r);
	for (unsigned i = 0; i < r->n; i++) {
		size_t n = mpmc_snapshot(r->node[i].ring, out + used, max - used, &c);
		ttlog__cut_add(cut, &c);
		ttlog__sort_inplace(out + used, n);
		ttlog__merge_inplace(out, 0, used, used + n);
		used += n;
	}
	ttlog__cut_close(cut, used);
	return used;
}

size_t numa_snapshot(struct ttlog_ring *r, struct ttlog_record *out, size_t max,
		     struct ttlog_ring_cut *cut)
{
	struct ttlog_ring_cut c;
	size_t kept = 0, off = 0;

	memset(cut, 0, sizeof(*cut));
	if (!ttlog__scratch_take(&r->scratch_busy))
		return snapshot_inplace(r, out, max, cut);
	if (r->n == 1) {
		kept = mpmc_snapshot(r->node[0].ring, out, max, cut);
		window_init(r, 0);
		ttlog__window_fill(&r->win[0], out, kept);
		r->win[0].stored = cut->stored;
		r->win[0].dropped = cut->dropped;
		r->nwin = 1;
		goto out;
	}
	for (unsigned i = 0; i < r->n; i++) {
		struct numa_node *nd = &r->node[i];
		nd->pos = mpmc_snapshot(nd->ring, r->scratch + off, nd->cap, &c);
		ttlog__cut_add(cut, &c);
		/* the merge below takes each run's newest first: it must be in ts order */
		ttlog__sort_inplace(r->scratch + off, nd->pos);
		window_init(r, i);
		r->win[i].stored = c.stored;
		r->win[i].dropped = c.dropped;
		off += nd->cap;
	}
	r->nwin = r->n;
	/* N-way merge, newest first, filling out from its end: the newest max records. N is
	 * small, a linear scan of the runs' last records beats a heap. Equal timestamps:
	 * the later node first, so that read oldest first they keep node order. */
	size_t w = max;
	while (w > 0) {
		const struct ttlog_record *best = NULL;
		unsigned bi = 0;
		off = 0;
		for (unsigned i = 0; i < r->n; off += r->node[i].cap, i++) {
			if (r->node[i].pos == 0)
				continue;
			const struct ttlog_record *h = &r->scratch[off + r->node[i].pos - 1];
			if (best == NULL || h->ts >= best->ts) {
				best = h;
				bi = i;
			}
		}
		if (best == NULL)
			break;
		ttlog__window_take(&r->win[bi], best);
		out[--w] = *best;
		r->node[bi].pos--;
	}
	kept = max - w;
	if (w > 0)
		memmove(out, out + w, kept * sizeof(*out));
	ttlog__cut_close(cut, kept);
out:
	ttlog__scratch_give(&r->scratch_busy);
	return kept;
}

size_t numa_windows(struct ttlog_ring *r, size_t first, struct ttlog_shard_window *out,
		    size_t max)
{
	return ttlog__windows_copy(r, r->win, r->nwin, first, out, max);
}

void numa_stats(const struct ttlog_ring *r, struct ttlog_ring_stats *st)
{
	struct ttlog_ring_stats s;

	memset(st, 0, sizeof(*st));
	for (unsigned i = 0; i < r->n; i++) {
		mpmc_stats(r->node[i].ring, &s);
		st->pushed += s.pushed;
		st->popped += s.popped;
		st->overwritten += s.overwritten;
		st->dropped += s.dropped;
	}
	st->capacity = r->capacity;
}

size_t numa_capacity(const struct ttlog_ring *r)
{
	return (size_t)r->capacity;
}

TTLOG_DEFINE_RING_OPS(numa, .windows = numa_windows);
