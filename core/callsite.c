/*
 * callsite.c - the process-wide table of callsites. An id is the table index + 1.
 *
 * A call site's static struct ttlog_callsite and its strings (target, message, file,
 * field names) live in the program or in a plugin; a plugin may be dlclose'd while its
 * events are still in the ring. So the table never points at them: registration copies
 * the fixed part and every string into an arena of ttlog's own (static storage, never
 * freed, kept across ttlog_shutdown/ttlog_init like the table) and the table points at
 * the copy. Callsites that ttlog made itself (the interner's) are already in memory that
 * lives for the process and are registered as they are.
 *
 * Registration runs on a thread's first event of a call site, possibly in a signal
 * handler: it is lock-free, async-signal-safe and allocates nothing. Copy into the arena
 * (a bump pointer moved by CAS), claim an index, publish the copy, then try to make the
 * index the callsite's id. Two threads racing on the same callsite each publish a copy;
 * one id wins and the other entry is an unused duplicate, harmless in the snapshot
 * dictionary. The duplicates are bounded: a thread that lost the race returns the
 * winner's id, and after that the callsite's id is set, so no thread registers it again;
 * a callsite costs at most one copy per thread that raced on its first event. A full
 * arena or table drops the event (counted by the caller), never records it.
 */
#include <errno.h>
#include <stdatomic.h>
#include <string.h>

#include "internal.h"

static _Atomic(const struct ttlog_callsite *) table[TTLOG_MAX_CALLSITES];
/* written by registering threads (fetch_add), read by snapshots */
static _Atomic uint32_t used;

/* The copies. A copy is [struct ttlog_callsite][names[nfields]][strings], 8-aligned. */
static _Alignas(64) unsigned char arena[TTLOG_CALLSITE_ARENA_BYTES];
/* bytes of arena handed out; moved by CAS by registering threads only */
static _Atomic size_t arena_top;

/* n bytes of the arena, or NULL when they do not fit. */
static unsigned char *arena_take(size_t n)
{
	/* relaxed: the CAS only hands out disjoint ranges; what is written into a range is
	 * published by R1 in ttlog__register() */
	size_t top = atomic_load_explicit(&arena_top, memory_order_relaxed);

	do {
		if (n > sizeof arena - top)
			return NULL;
	} while (!atomic_compare_exchange_weak_explicit(&arena_top, &top, top + n,
						       memory_order_relaxed, memory_order_relaxed));
	return arena + top;
}

/* Give back the n bytes at p if nothing was taken after them (a copy never published). */
static void arena_untake(unsigned char *p, size_t n)
{
	size_t end = (size_t)(p - arena) + n;

	/* relaxed: the range was never published, nobody reads it */
	atomic_compare_exchange_strong_explicit(&arena_top, &end, end - n, memory_order_relaxed,
						memory_order_relaxed);
}

static size_t str_size(const char *s)
{
	return s != NULL ? strlen(s) + 1 : 1;
}

static char *put_str(char **at, const char *s)
{
	char *dst = *at;
	size_t n = str_size(s);

	if (s != NULL)
		memcpy(dst, s, n);
	else
		dst[0] = '\0';
	*at += n;
	return dst;
}

/* A callsite that a snapshot can describe and the reader accepts. */
static bool callsite_valid(const struct ttlog_callsite *cs)
{
	if (cs->level > TTLOG_LEVEL_FATAL || cs->nfields > TTLOG_MAX_FIELDS)
		return false;
	if (cs->nfields > 0 && cs->names == NULL)
		return false;
	for (unsigned i = 0; i < cs->nfields; i++)
		if (cs->types[i] < TTLOG_TYPE_U64 || cs->types[i] > TTLOG_TYPE_STR)
			return false;
	return true;
}

/* Copy cs and its strings into the arena; NULL when it is full. *size: the bytes taken. */
static struct ttlog_callsite *copy_callsite(const struct ttlog_callsite *cs, size_t *size)
{
	size_t n = sizeof(struct ttlog_callsite) + cs->nfields * sizeof(const char *);
	struct ttlog_callsite *c;
	const char **names;
	char *s;

	n += str_size(cs->target) + str_size(cs->message) + str_size(cs->file);
	for (unsigned i = 0; i < cs->nfields; i++)
		n += str_size(cs->names[i]);
	n = (n + 7) & ~(size_t)7;
	if ((c = (struct ttlog_callsite *)arena_take(n)) == NULL)
		return NULL;
	*size = n;
	names = (const char **)(c + 1);
	s = (char *)(names + cs->nfields);
	c->id = 0;
	c->level = cs->level;
	c->nfields = cs->nfields;
	memcpy(c->types, cs->types, sizeof c->types);
	c->target = put_str(&s, cs->target);
	c->message = put_str(&s, cs->message);
	c->file = put_str(&s, cs->file);
	c->line = cs->line;
	for (unsigned i = 0; i < cs->nfields; i++)
		names[i] = put_str(&s, cs->names[i]);
	c->names = names;
	return c;
}

int ttlog__register(struct ttlog_callsite *cs, bool copy)
{
	_Atomic uint32_t *idp = (_Atomic uint32_t *)&cs->id;
	struct ttlog_callsite *entry = cs;
	uint32_t id, expect = 0, idx;
	size_t size = 0;

	/* A1: acquire, pairs with R2: another thread registered it */
	id = atomic_load_explicit(idp, memory_order_acquire);
	if (id != 0)
		return (int)id;
	if (!callsite_valid(cs))
		return -EINVAL;
	if (copy && (entry = copy_callsite(cs, &size)) == NULL)
		return -ENOSPC;
	/* relaxed: the index is ours alone; publication is ordered by R1 */
	idx = atomic_fetch_add_explicit(&used, 1, memory_order_relaxed);
	if (idx >= TTLOG_MAX_CALLSITES) {
		atomic_fetch_sub_explicit(&used, 1, memory_order_relaxed);
		if (copy)
			arena_untake((unsigned char *)entry, size);
		return -ENOSPC;
	}
	if (copy)
		entry->id = idx + 1; /* the copy's own id: the builder's commit reads it */
	/* in the black box before the id is published: a record that names this id in the
	 * box was pushed after its dictionary entry was committed */
	ttlog__box_callsite(idx + 1, entry);
	/* R1: release, pairs with A2 in ttlog__callsite(): the entry's fields are set */
	atomic_store_explicit(&table[idx], entry, memory_order_release);
	/* R2: release (acq_rel on failure read), pairs with A1 */
	if (atomic_compare_exchange_strong_explicit(idp, &expect, idx + 1, memory_order_acq_rel,
						    memory_order_acquire))
		return (int)(idx + 1);
	return (int)expect;
}

const struct ttlog_callsite *ttlog__callsite(uint32_t id)
{
	if (id == 0 || id > TTLOG_MAX_CALLSITES)
		return NULL;
	/* A2: acquire, pairs with R1 */
	return atomic_load_explicit(&table[id - 1], memory_order_acquire);
}

uint32_t ttlog__callsite_count(void)
{
	/* relaxed: entries are read with acquire one by one */
	uint32_t n = atomic_load_explicit(&used, memory_order_relaxed);
	return n > TTLOG_MAX_CALLSITES ? TTLOG_MAX_CALLSITES : n;
}

size_t ttlog__callsite_arena_used(void)
{
	/* relaxed: a statistic */
	return atomic_load_explicit(&arena_top, memory_order_relaxed);
}
