/*
 * interner.c - runtime-built events (ttlog_builder). An event shape (level, target,
 * message, field names and types) is interned once: its strings are copied into an
 * arena and a callsite is made for it, so the record written is the same as a macro's.
 * Lookups are lock-free (a published entry never changes); inserts take a mutex.
 * Collisions are resolved by comparing the whole shape, not assumed away. The arena and
 * the table live for the process (callsite ids must stay valid across re-inits); a full
 * arena or table is -ENOSPC, and the event is counted as dropped.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define TABLE_SIZE 4096 /* shapes; power of two */

struct shape {
	struct ttlog_callsite cs;
	uint64_t hash;
	const char *names[TTLOG_MAX_FIELDS];
};

static struct {
	pthread_mutex_t lock;
	char *arena; /* written under lock, append-only */
	size_t used, size;
	/* published under lock with release, read without it with acquire */
	_Atomic(struct shape *) table[TABLE_SIZE];
} in = {.lock = PTHREAD_MUTEX_INITIALIZER};

int ttlog__interner_init(size_t bytes)
{
	int err = 0;

	pthread_mutex_lock(&in.lock);
	if (in.arena == NULL) {
		in.arena = malloc(bytes);
		in.size = in.arena ? bytes : 0;
		err = in.arena ? 0 : -ENOMEM;
	}
	pthread_mutex_unlock(&in.lock);
	return err;
}

void ttlog__interner_fork_lock(void)
{
	pthread_mutex_lock(&in.lock);
}

void ttlog__interner_fork_unlock(void)
{
	pthread_mutex_unlock(&in.lock);
}

static uint64_t mix(uint64_t h, const char *s)
{
	/* FNV-1a, with the terminator so that ("ab","c") and ("a","bc") differ */
	do {
		h ^= (unsigned char)*s;
		h *= 0x100000001b3ull;
	} while (*s++ != '\0');
	return h;
}

static uint64_t shape_hash(const ttlog_builder *b)
{
	uint64_t h = 0xcbf29ce484222325ull ^ (uint64_t)b->level;
	h = mix(mix(h, b->target), b->message);
	for (int i = 0; i < b->nfields; i++)
		h = mix(h ^ b->types[i], b->names[i]);
	return h;
}

static bool same(const struct shape *s, const ttlog_builder *b, uint64_t h)
{
	if (s->hash != h || s->cs.level != b->level || s->cs.nfields != b->nfields ||
	    strcmp(s->cs.target, b->target) != 0 || strcmp(s->cs.message, b->message) != 0)
		return false;
	for (int i = 0; i < b->nfields; i++)
		if (s->cs.types[i] != b->types[i] || strcmp(s->names[i], b->names[i]) != 0)
			return false;
	return true;
}

/* Copy into the arena; NULL when full. Under lock. */
static void *arena_take(const void *p, size_t n, size_t align)
{
	size_t at = (in.used + align - 1) & ~(align - 1);
	if (at > in.size || in.size - at < n)
		return NULL;
	in.used = at + n;
	if (p != NULL)
		memcpy(in.arena + at, p, n);
	return in.arena + at;
}

static const char *arena_str(const char *s)
{
	return arena_take(s, strlen(s) + 1, 1);
}

int ttlog__interner_callsite(const ttlog_builder *b, uint32_t *id)
{
	uint64_t h = shape_hash(b);
	size_t i, slot = h & (TABLE_SIZE - 1);
	struct shape *s;
	int err = -ENOSPC;

	for (i = 0; i < TABLE_SIZE; i++) {
		/* A1: acquire, pairs with R1: the shape is complete */
		s = atomic_load_explicit(&in.table[(slot + i) & (TABLE_SIZE - 1)],
					 memory_order_acquire);
		if (s == NULL)
			break;
		if (same(s, b, h))
			goto found;
	}
	pthread_mutex_lock(&in.lock);
	for (i = 0; i < TABLE_SIZE; i++) {
		size_t k = (slot + i) & (TABLE_SIZE - 1);
		s = atomic_load_explicit(&in.table[k], memory_order_relaxed);
		if (s != NULL) {
			if (same(s, b, h))
				break; /* inserted while we waited for the lock */
			continue;
		}
		size_t mark = in.used;
		s = arena_take(NULL, sizeof *s, _Alignof(struct shape));
		if (s == NULL)
			break;
		memset(s, 0, sizeof *s);
		s->hash = h;
		s->cs.level = (uint8_t)b->level;
		s->cs.nfields = b->nfields;
		s->cs.target = arena_str(b->target);
		s->cs.message = arena_str(b->message);
		s->cs.file = "";
		s->cs.names = s->names;
		bool ok = s->cs.target != NULL && s->cs.message != NULL;
		for (int f = 0; ok && f < b->nfields; f++) {
			s->cs.types[f] = b->types[f];
			ok = (s->names[f] = arena_str(b->names[f])) != NULL;
		}
		if (!ok) {
			in.used = mark;
			s = NULL;
			break;
		}
		/* R1: release, pairs with A1 */
		atomic_store_explicit(&in.table[k], s, memory_order_release);
		break;
	}
	pthread_mutex_unlock(&in.lock);
	if (s == NULL || i == TABLE_SIZE)
		return err;
found:
	/* the shape lives in the interner's arena for the process: no copy needed */
	err = ttlog__register(&s->cs, false);
	if (err < 0)
		return err;
	*id = (uint32_t)err;
	return 0;
}

/* ---- the builder API ---- */

TTLOG_API void ttlog_builder_begin(ttlog_builder *b, int level, const char *target,
				   const char *message)
{
	memset(b, 0, sizeof *b);
	b->level = level;
	b->target = target;
	b->message = message;
	if (target == NULL || message == NULL || level < 0 || level > TTLOG_LEVEL_FATAL)
		b->error = -EINVAL;
}

static void add(ttlog_builder *b, const char *name, int type, uint64_t num, const char *s)
{
	if (b->error != 0)
		return;
	if (name == NULL) {
		b->error = -EINVAL;
		return;
	}
	if (b->nfields >= TTLOG_MAX_FIELDS) {
		b->error = -E2BIG;
		return;
	}
	b->names[b->nfields] = name;
	b->types[b->nfields] = (uint8_t)type;
	b->nums[b->nfields] = num;
	b->strs[b->nfields] = s;
	b->nfields++;
}

TTLOG_API void ttlog_builder_u64(ttlog_builder *b, const char *name, uint64_t v)
{
	add(b, name, TTLOG_TYPE_U64, v, NULL);
}

TTLOG_API void ttlog_builder_i64(ttlog_builder *b, const char *name, int64_t v)
{
	add(b, name, TTLOG_TYPE_I64, (uint64_t)v, NULL);
}

TTLOG_API void ttlog_builder_f64(ttlog_builder *b, const char *name, double v)
{
	uint64_t u;
	memcpy(&u, &v, sizeof u);
	add(b, name, TTLOG_TYPE_F64, u, NULL);
}

TTLOG_API void ttlog_builder_bool(ttlog_builder *b, const char *name, bool v)
{
	add(b, name, TTLOG_TYPE_BOOL, v, NULL);
}

TTLOG_API void ttlog_builder_str(ttlog_builder *b, const char *name, const char *s)
{
	add(b, name, TTLOG_TYPE_STR, 0, s);
}

TTLOG_API int ttlog_builder_commit(ttlog_builder *b)
{
	struct ttlog_record r;
	unsigned char *p = r.data;
	size_t fixed = 0, avail;
	uint32_t id;
	int err;

	if (b->error != 0)
		return b->error;
	/* begin() checked the level, but the builder is a public struct: a level set after
	 * it (OFF or above) must not reach a snapshot, whose reader refuses it */
	if (b->level < TTLOG_LEVEL_TRACE || b->level > TTLOG_LEVEL_FATAL)
		return -EINVAL;
	if (atomic_load_explicit(&ttlog__g.ring, memory_order_acquire) == NULL)
		return -ESRCH;
	if (b->level < __atomic_load_n(&ttlog__runtime_level, __ATOMIC_RELAXED))
		return 1;
	for (int i = 0; i < b->nfields; i++)
		fixed += b->types[i] == TTLOG_TYPE_U64 || b->types[i] == TTLOG_TYPE_I64 ||
				 b->types[i] == TTLOG_TYPE_F64
			 ? 8
			 : 1;
	if (fixed > TTLOG_PAYLOAD_SIZE)
		return -E2BIG;
	if ((err = ttlog__interner_callsite(b, &id)) < 0) {
		/* full: dropped (relaxed: a counter); -EINVAL is not an event */
		if (err == -ENOSPC) {
			atomic_fetch_add_explicit(&ttlog__g.dropped_extra, 1,
						  memory_order_relaxed);
			ttlog__box_count(0);
		}
		return err;
	}
	avail = TTLOG_PAYLOAD_SIZE - fixed;
	r.callsite = 0;
	for (int i = 0; i < b->nfields; i++) {
		switch (b->types[i]) {
		case TTLOG_TYPE_BOOL: *p++ = b->nums[i] ? 1 : 0; break;
		case TTLOG_TYPE_STR: p = ttlog__put_str(p, b->strs[i], &avail, &r.callsite); break;
		default: p = ttlog__put8(p, &b->nums[i]); break;
		}
	}
	/* the shape's callsite is registered: the commit finds its id set */
	TTLOG__COMMIT((struct ttlog_callsite *)ttlog__callsite(id), &r);
	return 0;
}
