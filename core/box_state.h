/*
 * box_state.h - the process's black box as box.c (open, carve, describe, close) and
 * box_fork.c (a forked child's own box) share it. Internal to those two files.
 */
#ifndef TTLOG_CORE_BOX_STATE_H
#define TTLOG_CORE_BOX_STATE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "box.h"

/* base..base+size is the mapping; written by open/close/fork settling (one thread), read
 * by everyone while ttlog runs. */
struct ttlog__box_state {
	unsigned char *base;
	size_t size;
	struct ttlog__box_hdr *hdr;
	int fd, dirfd;
	bool detached; /* a forked child that could not make its own box: private memory */
	char name[96];
	/* bytes of the ring region handed out: CAS by allocating threads (relaxed: disjoint
	 * ranges only; what is written there is published by the rings themselves) */
	_Atomic uint64_t ring_top;
};
extern struct ttlog__box_state ttlog__box __attribute__((visibility("hidden")));

/* Create ttlog__box.name in ttlog__box.dirfd for this process
 * (ttlog-{pid}-{start}[-n].box, O_EXCL, 0600): the descriptor or -errno. */
int ttlog__box_create_file(uint64_t start);
/* Hold the live process's OFD read lock on its box (a recoverer's write lock fails). */
void ttlog__box_lock(int fd);

#endif /* TTLOG_CORE_BOX_STATE_H */
