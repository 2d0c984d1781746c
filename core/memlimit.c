/*
 * memlimit.c - refuse, before touching a page, a configuration whose memory the memory
 * cgroup does not allow. ttlog_init() pre-faults everything it reserves, so in a cgroup
 * too small for it the process would be OOM-killed inside ttlog_init(); it gets -ENOMEM
 * and a message saying how much is needed and how much the cgroup allows instead.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"
#include "memlimit.h"

/* Defined by variants/numa.c, which is linked whenever the variant is numa (the only time
 * it is called); weak so that a library built for another variant links without it, and
 * hidden so that such a libttlog.so never binds it to a program's symbol of that name. */
extern unsigned numa_nodes(void) __attribute__((weak, visibility("hidden")));
/* Likewise from variants/percpu.c, linked when the variant is percpu or spsc (its shared
 * ring is a percpu ring). */
extern unsigned percpu_rings(void) __attribute__((weak, visibility("hidden")));

/* The first line of a small file, NUL-terminated, or -1. */
static int read_line(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -1;
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	return 0;
}

/* A byte count from a cgroup file; UINT64_MAX for "max", a missing file or no number. */
static uint64_t read_bytes(const char *dir, const char *name)
{
	char path[1024], buf[64], *end;
	unsigned long long v;

	if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, name) >= sizeof path)
		return UINT64_MAX;
	if (read_line(path, buf, sizeof buf) < 0 || strcmp(buf, "max") == 0)
		return UINT64_MAX;
	errno = 0;
	v = strtoull(buf, &end, 10);
	if (errno != 0 || end == buf)
		return UINT64_MAX;
	return v;
}

/* Walk from <base><path> up to <base>, keeping the tightest (limit - usage) in *m. */
static void walk(struct ttlog__memcg *m, int version, const char *base, const char *path,
		 const char *limit_file, const char *usage_file)
{
	char rel[sizeof m->path], dir[1024];
	size_t n;

	if (strlen(path) >= sizeof rel || path[0] != '/')
		return;
	strcpy(rel, path);
	for (;;) {
		n = strlen(rel);
		while (n > 1 && rel[n - 1] == '/')
			rel[--n] = '\0';
		if ((size_t)snprintf(dir, sizeof dir, "%s%s", base, n > 1 ? rel : "") <
		    sizeof dir) {
			uint64_t limit = read_bytes(dir, limit_file);
			/* cgroup v1 spells "no limit" as the largest page multiple of LONG_MAX */
			if (limit < (UINT64_C(1) << 62)) {
				uint64_t usage = read_bytes(dir, usage_file);
				uint64_t avail;
				if (usage == UINT64_MAX)
					usage = 0;
				avail = limit > usage ? limit - usage : 0;
				if (avail < m->avail) {
					m->avail = avail;
					m->limit = limit;
					m->usage = usage;
					m->version = version;
					strcpy(m->path, n > 1 ? rel : "/");
				}
			}
		}
		if (n <= 1)
			break;
		*strrchr(rel, '/') = '\0';
		if (rel[0] == '\0')
			strcpy(rel, "/");
	}
}

/* Does the comma-separated controller list hold "memory"? */
static bool has_memory(const char *list, size_t len)
{
	while (len > 0) {
		size_t k = 0;
		while (k < len && list[k] != ',')
			k++;
		if (k == 6 && memcmp(list, "memory", 6) == 0)
			return true;
		list += k < len ? k + 1 : k;
		len -= k < len ? k + 1 : k;
	}
	return false;
}

int ttlog__memcg_read(const char *proc_root, const char *sys_root, struct ttlog__memcg *m)
{
	char path[1024], base[1024], line[1024];
	FILE *f;

	memset(m, 0, sizeof *m);
	m->avail = UINT64_MAX;
	snprintf(path, sizeof path, "%s/self/cgroup", proc_root);
	if ((f = fopen(path, "re")) == NULL)
		return 0;
	/* "hierarchy-id:controllers:path", one per hierarchy; v2's is "0::path" */
	while (fgets(line, sizeof line, f) != NULL) {
		char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
		if (c2 == NULL)
			continue;
		c2[1 + strcspn(c2 + 1, "\n")] = '\0';
		if (c1 - line == 1 && line[0] == '0' && c2 == c1 + 1) {
			snprintf(base, sizeof base, "%s/fs/cgroup", sys_root);
			walk(m, 2, base, c2 + 1, "memory.max", "memory.current");
		} else if (has_memory(c1 + 1, (size_t)(c2 - c1 - 1))) {
			snprintf(base, sizeof base, "%s/fs/cgroup/memory", sys_root);
			walk(m, 1, base, c2 + 1, "memory.limit_in_bytes", "memory.usage_in_bytes");
		}
	}
	fclose(f);
	return 0;
}

uint64_t ttlog__init_bytes(const char *variant, size_t capacity, size_t interner_bytes,
			   unsigned nodes)
{
	uint64_t c = 16, slot = TTLOG_RECORD_SIZE, rec = sizeof(struct ttlog_record), ring;

	while (c < capacity)
		c <<= 1;
	/* The ring at the variant's worst case, as variants/ring.h bounds it: */
	if (strcmp(variant, "spsc") == 0)
		/* (S + P) C slots: every per-thread shard claimed (pre-faulted as it is made,
		 * on a thread's first event) and the shared percpu ring, C per CPU */
		ring = (SPSC_DEFAULT_SHARDS + (uint64_t)(nodes ? nodes : 1)) * c * slot;
	else if (strcmp(variant, "percpu") == 0)
		/* P C slots, one ring per possible CPU */
		ring = (uint64_t)(nodes ? nodes : 1) * c * slot;
	else if (strcmp(variant, "numa") == 0)
		/* N C slots, one ring per node; with several nodes a merge scratch of N C
		 * records */
		ring = (uint64_t)(nodes ? nodes : 1) * c * (slot + (nodes > 1 ? rec : 0));
	else
		/* mpmc (and a variant this file does not know): one ring of C slots */
		ring = c * slot;
	return ring + ttlog__snapres_bytes(c) + interner_bytes;
}

static void human(char *buf, size_t len, uint64_t b)
{
	if (b >= (UINT64_C(1) << 30))
		snprintf(buf, len, "%.1f GiB", (double)b / (double)(UINT64_C(1) << 30));
	else
		snprintf(buf, len, "%.1f MiB", (double)b / (double)(UINT64_C(1) << 20));
}

int ttlog__mem_check(const char *variant, size_t capacity, size_t interner_bytes, char *msg,
		     size_t len)
{
	struct ttlog__memcg m;
	uint64_t need;
	char hn[32], ha[32], hl[32];
	unsigned rings = 1;

	if (strcmp(variant, "numa") == 0 && numa_nodes)
		rings = numa_nodes();
	else if ((strcmp(variant, "spsc") == 0 || strcmp(variant, "percpu") == 0) && percpu_rings)
		rings = percpu_rings();
	need = ttlog__init_bytes(variant, capacity, interner_bytes, rings);
	ttlog__memcg_read("/proc", "/sys", &m);
	if (need <= m.avail)
		return 0;
	human(hn, sizeof hn, need);
	human(ha, sizeof ha, m.avail);
	human(hl, sizeof hl, m.limit);
	snprintf(msg, len,
		 "capacity %zu (%s) needs %s (%" PRIu64 " bytes) but memory cgroup v%d "
		 "%.60s allows %s (%" PRIu64 " bytes: limit %s, in use %" PRIu64 " bytes)",
		 capacity, variant, hn, need, m.version, m.path, ha, m.avail, hl, m.usage);
	return -ENOMEM;
}
