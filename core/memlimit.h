/*
 * memlimit.h - what the memory cgroup lets this process still use (core/memlimit.c).
 * A header of its own, with no other ttlog header, so that tests/test_memlimit.c can
 * feed the parser fixture trees.
 */
#ifndef TTLOG_CORE_MEMLIMIT_H
#define TTLOG_CORE_MEMLIMIT_H

#include <stddef.h>
#include <stdint.h>

struct ttlog__memcg {
	/* the least (limit - usage) over the process's memory cgroup and its ancestors, in
	 * bytes; UINT64_MAX when no limit applies (no cgroup, "max", missing files) */
	uint64_t avail;
	uint64_t limit, usage; /* of the cgroup that gives avail (0 when none) */
	int version;           /* 1 or 2: the hierarchy that gives avail; 0 when none */
	char path[256];        /* that cgroup, as in /proc/self/cgroup ("" when none) */
};

/*
 * Read the memory cgroup limits of the calling process. proc_root and sys_root are
 * normally "/proc" and "/sys": the files read are <proc_root>/self/cgroup; for cgroup v1
 * (the line whose controllers include "memory")
 * <sys_root>/fs/cgroup/memory/<path>/memory.limit_in_bytes and memory.usage_in_bytes,
 * for cgroup v2 (the line "0::<path>") <sys_root>/fs/cgroup/<path>/memory.max and
 * memory.current, at <path> and at every ancestor up to the root, the tightest one
 * winning. A missing or unreadable file means no limit there. Always returns 0.
 */
int ttlog__memcg_read(const char *proc_root, const char *sys_root, struct ttlog__memcg *m);

/*
 * Bytes ttlog_init() reserves and touches for a ring of the variant (by name) holding
 * capacity events, the snapshot buffers and interner_bytes of interner. nodes: the rings
 * the variant has per machine: NUMA nodes for "numa", possible CPUs for "percpu" and for
 * "spsc" (its shared ring); ignored otherwise.
 */
uint64_t ttlog__init_bytes(const char *variant, size_t capacity, size_t interner_bytes,
			   unsigned nodes);

#endif /* TTLOG_CORE_MEMLIMIT_H */
