/*
 * bl_queues.c - the C queue baselines of buffer-ops and pc-matrix, behind struct qops.
 *
 * ck_ring (Concurrency Kit, libck-dev): the type-specialised MPMC ring
 * (CK_RING_PROTOTYPE), which copies the 56-byte record in and out by value like our
 * rings do. Its capacity is a power of two and it holds capacity - 1 records; a
 * producer that claimed a slot publishes in claim order (it waits for earlier producers),
 * so it collapses when there are more threads than cores and one is preempted.
 *
 * wfcqueue (liburcu, liburcu-dev): wait-free concurrent enqueue, dequeuers serialised by
 * the queue's own mutex (cds_wfcq_dequeue_blocking). It is an unbounded intrusive list,
 * so to compare it with bounded rings each push allocates a node (jemalloc, the allocator
 * the harness links) and an atomic count bounds the queue at `capacity`: a push beyond it
 * fails, exactly as a full ring drops. The allocation is part of what it costs to use it.
 */
#define _LGPL_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <ck_ring.h>
#include <urcu/wfcqueue.h>

#include "bench.h"

/* ---- ck_ring ---- */

CK_RING_PROTOTYPE(ttrec, ttlog_record)

struct ckq {
	struct ck_ring ring;
	struct ttlog_record *buf;
	size_t cap;
};

static int ckq_create(void **out, size_t capacity)
{
	struct ckq *q = aligned_alloc(64, sizeof *q);
	size_t cap = 2;

	while (cap < capacity + 1) /* ck_ring holds cap - 1 records */
		cap <<= 1;
	if (q == NULL)
		return -ENOMEM;
	q->cap = cap;
	q->buf = aligned_alloc(64, cap * sizeof *q->buf);
	if (q->buf == NULL) {
		free(q);
		return -ENOMEM;
	}
	memset(q->buf, 0, cap * sizeof *q->buf); /* pre-fault, as our rings do */
	ck_ring_init(&q->ring, (unsigned)cap);
	*out = q;
	return 0;
}

static void ckq_destroy(void *p)
{
	struct ckq *q = p;
	free(q->buf);
	free(q);
}

static int ckq_push(void *p, const struct ttlog_record *rec)
{
	struct ckq *q = p;
	return ck_ring_enqueue_mpmc_ttrec(&q->ring, q->buf, (struct ttlog_record *)rec) ? 0
										      : -ENOBUFS;
}

static int ckq_pop(void *p, struct ttlog_record *out)
{
	struct ckq *q = p;
	return ck_ring_dequeue_mpmc_ttrec(&q->ring, q->buf, out) ? 0 : -EAGAIN;
}

const struct qops bench_ck_qops = {ckq_create, ckq_destroy, ckq_push, ckq_pop};

/* ---- wfcqueue ---- */

struct wnode {
	struct cds_wfcq_node node;
	struct ttlog_record rec;
};

struct wfq {
	struct cds_wfcq_head head; /* written by dequeuers (under its mutex) */
	_Alignas(64) struct cds_wfcq_tail tail; /* written by enqueuers (xchg) */
	/* records in the queue: incremented by producers before they enqueue, decremented
	 * by consumers after they dequeue; relaxed RMW: it only bounds the size */
	_Alignas(64) _Atomic long count;
	long cap;
};

static int wfq_create(void **out, size_t capacity)
{
	struct wfq *q = aligned_alloc(64, sizeof *q);

	if (q == NULL)
		return -ENOMEM;
	cds_wfcq_init(&q->head, &q->tail);
	atomic_init(&q->count, 0);
	q->cap = (long)capacity;
	*out = q;
	return 0;
}

static void wfq_destroy(void *p)
{
	struct wfq *q = p;
	struct cds_wfcq_node *n;

	while ((n = cds_wfcq_dequeue_blocking(&q->head, &q->tail)) != NULL)
		free(caa_container_of(n, struct wnode, node));
	cds_wfcq_destroy(&q->head, &q->tail);
	free(q);
}

static int wfq_push(void *p, const struct ttlog_record *rec)
{
	struct wfq *q = p;
	struct wnode *n;

	if (atomic_fetch_add_explicit(&q->count, 1, memory_order_relaxed) >= q->cap) {
		atomic_fetch_sub_explicit(&q->count, 1, memory_order_relaxed);
		return -ENOBUFS;
	}
	n = malloc(sizeof *n);
	if (n == NULL) {
		atomic_fetch_sub_explicit(&q->count, 1, memory_order_relaxed);
		return -ENOMEM;
	}
	cds_wfcq_node_init(&n->node);
	n->rec = *rec;
	cds_wfcq_enqueue(&q->head, &q->tail, &n->node);
	return 0;
}

static int wfq_pop(void *p, struct ttlog_record *out)
{
	struct wfq *q = p;
	struct cds_wfcq_node *node = cds_wfcq_dequeue_blocking(&q->head, &q->tail);
	struct wnode *n;

	if (node == NULL)
		return -EAGAIN;
	n = caa_container_of(node, struct wnode, node);
	*out = n->rec;
	free(n);
	atomic_fetch_sub_explicit(&q->count, 1, memory_order_relaxed);
	return 0;
}

const struct qops bench_wfcq_qops = {wfq_create, wfq_destroy, wfq_push, wfq_pop};
