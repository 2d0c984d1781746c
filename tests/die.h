/*
 * die.h - ways for a test process to die by a signal, shared by tests/test_crash.c and
 * stress/crash_matrix.c. Each fault is a real one, not undefined behaviour the compiler
 * could remove: a store to a PROT_NONE page, a read past the end of an empty mapped file,
 * a trap instruction, an idivl by zero in assembly, abort(), and unbounded recursion.
 */
#ifndef TTLOG_TESTS_DIE_H
#define TTLOG_TESTS_DIE_H

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

static volatile int ttlog_die_zero = 0;
/* recursion the compiler cannot see the end of: the limit is never reached */
static volatile int ttlog_die_depth_limit = 1 << 30;

static inline int ttlog_die_overflow(int depth)
{
	volatile char pad[1024];
	pad[0] = (char)depth;
	if (depth > ttlog_die_depth_limit)
		return pad[0];
	return ttlog_die_overflow(depth + 1) + pad[0];
}

/* Die by signal sig (SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT), or 0: a stack overflow
 * (SIGSEGV with no stack left). SIGBUS creates "empty-file" in dir. Exits 99 if the
 * process survives. */
__attribute__((noreturn)) static inline void ttlog_die(int sig, const char *dir)
{
	switch (sig) {
	case SIGSEGV: {
		/* a valid pointer to a page we may not touch: a fault, not undefined behaviour */
		volatile int *p = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		*p = 1;
		break;
	}
	case SIGBUS: {
		char p[4200];
		snprintf(p, sizeof p, "%s/empty-file", dir);
		int fd = open(p, O_RDWR | O_CREAT, 0600);
		volatile char *m = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0);
		(void)m[0]; /* past the end of an empty file */
		break;
	}
	case SIGILL:
		__builtin_trap();
		break;
	case SIGFPE: {
		/* the division in assembly: in C it would be undefined behaviour */
		int a = 1, b = ttlog_die_zero;
		__asm__ volatile("cltd; idivl %1" : "+a"(a) : "r"(b) : "edx");
		break;
	}
	case SIGABRT:
		abort();
	case 0:
		ttlog_die_overflow(0);
		break;
	}
	_exit(99); /* did not die */
}

#endif /* TTLOG_TESTS_DIE_H */
