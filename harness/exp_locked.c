/*
 * exp_locked.c - locked instructions per log call (issue 12, item 6), counted, not timed,
 * and counted dynamically: exactly what one call executes, whatever the machine (no
 * hardware counter is needed), instead of a static count of the push path's disassembly
 * (scripts/locked-insns.sh), which mixes the steady-state path with the drop paths, the
 * fallbacks and a thread's first push.
 *
 * Per variant (the variant loop of the harness) and per state: a child runs this very
 * binary again in a child mode (exp_locked_child: a fresh exec, so that an environment
 * such as GLIBC_TUNABLES=glibc.pthread.rseq=0 applies from the start, as glibc reads it
 * only then) under ptrace (PTRACE_TRACEME). The child initialises ttlog with that variant
 * (overwrite policy, LK_CAP records), pins itself to the CPU it runs on (percpu's ring of
 * that CPU stays the full one), fills the ring four times over through the standard event
 * (BENCH_LOG_STANDARD, called from one out-of-line function, lk_one), so that every
 * measured call evicts, and it is past its callsite's and thread's first event; then it
 * sends lk_one's address (and its rseq area's) and stops itself (SIGSTOP). From there the
 * parent single-steps it (PTRACE_SINGLESTEP) through N calls of lk_one: a call runs from
 * lk_one's first instruction until the return to its caller (the return address and stack
 * pointer seen at the entry); at each step the parent reads the instruction at RIP
 * (PTRACE_PEEKTEXT) and counts it, and counts it as locked when it carries a LOCK prefix
 * (0xF0 among the legacy prefixes) or is an XCHG with a memory operand (0x86/0x87, ModRM
 * mod != 3: locked implicitly). A rep-prefixed string instruction traps once per
 * iteration at the same RIP: it counts once. Per call: locked instructions (mean, max) and
 * instructions executed (mean, max), lk_one's prologue, call and ret included.
 *
 * States: one thread, ring full (overwrite: every push evicts); for a variant that reports
 * a push path (ttlog_ring_stats.push_path: percpu's rseq push and its sched_getcpu
 * fallback), the same again with GLIBC_TUNABLES=glibc.pthread.rseq=0 in the child's
 * environment. The path that ran is the child's ttlog_get_stats().push_path, read after
 * the calls, and goes into the config.
 *
 * rseq and single-stepping: each step stops the tracee, and a stopped task is scheduled
 * out; the kernel marks that as a preemption and, on the return to user space, moves a
 * task whose RIP is inside a registered critical section to its abort handler. A
 * single-stepped rseq push then restarts at every step, forever. A budget of
 * LK_CALL_BUDGET instructions per call detects that (method=singlestep fails with
 * budget-hit); the state is then counted again with the critical section hidden from the
 * kernel: at each stop whose RIP is inside the section that the thread's rseq area
 * (struct rseq.rseq_cs, whose address the child sent) points to, the parent clears
 * rseq_cs (PTRACE_POKEDATA), so the kernel finds no section to abort and the committed
 * path runs step by step, every instruction of it executed and counted as any other
 * (method=singlestep+hidden-rseq_cs). Clearing rseq_cs is what the kernel itself does on
 * the way out of a section, and the code sets it again before its next section. One
 * thread, pinned: nothing else can write that CPU's ring meanwhile, so the sequence
 * commits as it would unpreempted. The count of restarts in the measured calls
 * (percpu_thread_restarts) is reported: 0 when the committed path alone was counted.
 *
 * No ptrace (a container without CAP_SYS_PTRACE, yama ptrace_scope 3, a seccomp filter),
 * or not x86-64: each state records counted = 0 with the reason as its note, and a run
 * note; the run goes on.
 */
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>

#if defined(__x86_64__) && defined(__linux__)
#define LK_X86 1
#include <sys/ptrace.h>
#include <sys/user.h>
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 35))
#define LK_RSEQ 1
#include <sys/rseq.h>
#endif
#endif

#include "../variants/ring.h"
#include "bench.h"

#pragma weak percpu_thread_restarts

#define LK_CAP 1024u            /* records: small, so that the fill is quick */
#define LK_CALL_BUDGET 10000u   /* instructions in one call: beyond, it is looping */
#define LK_IDLE_BUDGET 10000u   /* instructions between two calls */
/* calls counted: a step is slow on a VM (each trap exits to the hypervisor), and a call
 * is a few hundred steps; mpmc's batched eviction comes every 8th call at LK_CAP */
#define LK_CALLS_QUICK 128u
#define LK_CALLS 2000u
#define LK_DIAG_STEPS 2000u
#define LK_DEADLINE_QUICK_S 60u /* one traced child, from fork to exit */
#define LK_DEADLINE_S 600u
#define LK_DCACHE 4096u         /* decoded instructions, by address */
#define LK_TUNABLE "glibc.pthread.rseq=0"

extern char **environ;

/* ---- the child: the real log call, out of line so that its bounds are visible ---- */

static __attribute__((noinline, noclone)) void lk_one(uint64_t i)
{
	BENCH_LOG_STANDARD(i);
	__asm__ __volatile__("" ::: "memory"); /* no tail call: the call returns here */
}

static uint64_t lk_restarts(void)
{
	return percpu_thread_restarts != NULL ? percpu_thread_restarts() : 0;
}

/* arg: "VARIANT:N:FD:SNAPDIR". Reports on FD: before the calls "entry=A rseq=R", after
 * them "path=P overwritten=O restarts=R"; "error=..." when it cannot. */
int exp_locked_child(const char *arg)
{
	static struct bench_ctx ctx;
	char variant[32];
	unsigned long long n;
	int fd, cpu, off = 0;
	uintptr_t rseq_area = 0;
	ttlog_stats s0, s1;
	cpu_set_t set;

	if (sscanf(arg, "%31[^:]:%llu:%d:%n", variant, &n, &fd, &off) != 3 || off == 0)
		return 2;
	ctx.snap_dir = arg + off;
	if ((cpu = sched_getcpu()) >= 0) {
		CPU_ZERO(&set);
		CPU_SET(cpu, &set);
		sched_setaffinity(0, sizeof set, &set); /* best effort: a figure either way */
	}
	if (bench_ttlog_init(&ctx, variant, LK_CAP, TTLOG_POLICY_OVERWRITE) < 0) {
		dprintf(fd, "error=ttlog_init(%s) failed: %s\n", variant, ttlog_errmsg());
		return 1;
	}
	for (uint64_t i = 0; i < 4 * LK_CAP; i++) /* full, evicting, past the first events */
		lk_one(i);
#ifdef LK_RSEQ
	if (__rseq_size > 0) {
		uintptr_t tp;
		__asm__("movq %%fs:0, %0" : "=r"(tp)); /* the TCB's self pointer */
		rseq_area = tp + (uintptr_t)__rseq_offset;
	}
#endif
	ttlog_get_stats(&s0);
	uint64_t r0 = lk_restarts();
	dprintf(fd, "entry=%#lx rseq=%#lx\n", (unsigned long)(uintptr_t)lk_one,
		(unsigned long)rseq_area);
	raise(SIGSTOP); /* the parent single-steps from here */
	for (uint64_t i = 0; i < n; i++)
		lk_one(i);
	uint64_t r1 = lk_restarts();
	ttlog_get_stats(&s1);
	dprintf(fd, "path=%s overwritten=%llu restarts=%llu\n",
		s1.push_path[0] != '\0' ? s1.push_path : "-",
		(unsigned long long)(s1.overwritten - s0.overwritten),
		(unsigned long long)(r1 - r0));
	ttlog_shutdown();
	return 0;
}

#ifdef LK_X86

/* ---- the parent: the tracer ---- */

static const char *const lk_state_env[] = {"default", LK_TUNABLE};

struct lk_count {
	uint64_t calls, insns, locked, insns_max, locked_max, hidden;
	uint64_t in_section; /* hidden: steps inside the rseq section */
	bool budget_hit;
	/* after a budget hit, over LK_DIAG_STEPS more steps: arrivals at the abort handler
	 * (any way out of the section rseq_cs named but its commit point), and commits */
	uint64_t diag_aborts, diag_commits;
};

/* The code does not change while it runs: each address is decoded once (a step costs a
 * trap, two context switches and a register read already). */
struct lk_dcache {
	uint64_t rip[LK_DCACHE];
	uint8_t flags[LK_DCACHE]; /* 1 locked, 2 rep string */
};

static bool lk_legacy_prefix(uint8_t b)
{
	return b == 0xf0 || b == 0xf2 || b == 0xf3 || b == 0x2e || b == 0x36 || b == 0x3e ||
	       b == 0x26 || b == 0x64 || b == 0x65 || b == 0x66 || b == 0x67;
}

static bool lk_string_op(uint8_t op)
{
	return (op >= 0xa4 && op <= 0xa7) || (op >= 0xaa && op <= 0xaf) ||
	       (op >= 0x6c && op <= 0x6f);
}

/* Decode enough of the instruction at rip: locked (LOCK prefix, or XCHG with a memory
 * operand) and rep string (traps once per iteration). 0, or -errno. */
static int lk_decode(pid_t pid, uint64_t rip, bool *locked, bool *rep_string,
		     struct lk_dcache *dc)
{
	uint8_t b[16];
	size_t i, words = 1, slot = (size_t)(rip ^ (rip >> 12)) % LK_DCACHE;
	bool lock = false, rep = false;

	if (dc->rip[slot] == rip) {
		*locked = dc->flags[slot] & 1;
		*rep_string = dc->flags[slot] & 2;
		return 0;
	}
	for (size_t w = 0; w < words; w++) {
		long v;
		errno = 0;
		v = ptrace(PTRACE_PEEKTEXT, pid, (void *)(rip + 8 * w), NULL);
		if (errno != 0)
			return -errno;
		memcpy(b + 8 * w, &v, 8);
		/* prefixes, REX, opcode and ModRM: in the first word unless the prefixes
		 * run past its fifth byte */
		for (i = 0; w == 0 && i < 8 && lk_legacy_prefix(b[i]); i++)
			;
		if (w == 0 && i > 4)
			words = 2;
	}
	for (i = 0; i < 13 && lk_legacy_prefix(b[i]); i++) {
		lock |= b[i] == 0xf0;
		rep |= b[i] == 0xf2 || b[i] == 0xf3;
	}
	if ((b[i] & 0xf0) == 0x40) /* REX */
		i++;
	*locked = lock || ((b[i] == 0x86 || b[i] == 0x87) && (b[i + 1] >> 6) != 3);
	*rep_string = rep && lk_string_op(b[i]);
	dc->rip[slot] = rip;
	dc->flags[slot] = (uint8_t)(*locked | *rep_string << 1);
	return 0;
}

/* Hide the rseq critical section RIP is in from the kernel (see the top). */
static int lk_hide(pid_t pid, uint64_t area, uint64_t rip, uint64_t *cs_at, uint64_t *start,
		   uint64_t *len, struct lk_count *k)
{
	long cs;

	errno = 0;
	cs = ptrace(PTRACE_PEEKDATA, pid, (void *)(area + 8), NULL); /* struct rseq.rseq_cs */
	if (errno != 0)
		return -errno;
	if (cs == 0)
		return 0;
	if ((uint64_t)cs != *cs_at) { /* struct rseq_cs: version, flags, start_ip, length */
		long s, l;
		errno = 0;
		s = ptrace(PTRACE_PEEKDATA, pid, (void *)((uint64_t)cs + 8), NULL);
		l = ptrace(PTRACE_PEEKDATA, pid, (void *)((uint64_t)cs + 16), NULL);
		if (errno != 0)
			return -errno;
		*cs_at = (uint64_t)cs;
		*start = (uint64_t)s;
		*len = (uint64_t)l;
	}
	if (rip >= *start && rip - *start < *len) {
		if (ptrace(PTRACE_POKEDATA, pid, (void *)(area + 8), NULL) < 0)
			return -errno;
		k->hidden++;
	}
	return 0;
}

/* A call ran over its budget: step LK_DIAG_STEPS more and see whether the thread keeps
 * landing in an rseq abort handler without passing the section's commit point. */
static void lk_diagnose(pid_t pid, uint64_t area, struct lk_count *k)
{
	struct user_regs_struct regs;
	uint64_t cs_at = 0, start = 0, len = 0, prev = 0;
	int st;

	for (unsigned i = 0; area != 0 && i < LK_DIAG_STEPS; i++) {
		long cs;
		if (ptrace(PTRACE_GETREGS, pid, NULL, &regs) < 0)
			return;
		errno = 0;
		cs = ptrace(PTRACE_PEEKDATA, pid, (void *)(area + 8), NULL);
		if (errno == 0 && cs != 0 && (uint64_t)cs != cs_at) {
			errno = 0;
			start = (uint64_t)ptrace(PTRACE_PEEKDATA, pid, (void *)(cs + 8), NULL);
			len = (uint64_t)ptrace(PTRACE_PEEKDATA, pid, (void *)(cs + 16), NULL);
			cs_at = errno == 0 ? (uint64_t)cs : 0;
		}
		/* the kernel moves an aborted thread to abort_ip after the stop and before
		 * the next instruction, so the step out of the section lands past the
		 * handler's jump: any way out but the commit point is an abort */
		if (cs_at != 0 && prev - start < len && regs.rip - start >= len)
			*(regs.rip == start + len ? &k->diag_commits : &k->diag_aborts) += 1;
		prev = regs.rip;
		if (ptrace(PTRACE_SINGLESTEP, pid, NULL, NULL) < 0 || waitpid(pid, &st, 0) < 0 ||
		    !WIFSTOPPED(st))
			return;
	}
}

/* The deadline of one traced child: SIGALRM, without SA_RESTART, interrupts the tracer's
 * blocking waitpid or read, which then fail. */
static volatile sig_atomic_t lk_timed_out;

static void lk_alarm(int sig)
{
	(void)sig;
	lk_timed_out = 1;
}

/* Read one line from the child's pipe (it writes each line with one write). */
static int lk_line(int fd, char *buf, size_t len)
{
	ssize_t r;

	do
		r = read(fd, buf, len - 1);
	while (r < 0 && errno == EINTR && !lk_timed_out);
	if (r <= 0) {
		buf[0] = '\0';
		return -1;
	}
	buf[r] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	return 0;
}

/* Trace pid (stopped after its exec) through ncalls calls of the function at the address
 * it sends. 0, or -1 with why filled. */
static int lk_trace(pid_t pid, int fd, uint64_t ncalls, bool hide, struct lk_count *k,
		    char *why, size_t wlen)
{
	static struct lk_dcache dc;
	struct user_regs_struct regs;
	unsigned long entry = 0, area = 0;
	uint64_t retaddr = 0, ret_rsp = 0, prev_rip = 0, cur = 0, curl = 0, idle = 0;
	uint64_t cs_at = 0, cs_start = 0, cs_len = 0;
	bool in = false, prev_rep = false;
	char line[256];
	int st, sig = 0;

	/* to the child's own stop: pass its signals through, ignore the exec stop's */
	ptrace(PTRACE_SETOPTIONS, pid, NULL, (void *)(long)PTRACE_O_EXITKILL);
	for (;;) {
		if (ptrace(PTRACE_CONT, pid, NULL, (void *)(long)sig) < 0 ||
		    waitpid(pid, &st, 0) < 0 || !WIFSTOPPED(st)) {
			if (lk_line(fd, line, sizeof line) == 0 && strncmp(line, "error=", 6) == 0)
				snprintf(why, wlen, "%s", line + 6);
			else
				snprintf(why, wlen, "the child ended before its calls");
			return -1;
		}
		if (WSTOPSIG(st) == SIGSTOP)
			break;
		if (lk_timed_out) {
			snprintf(why, wlen, "deadline");
			return -1;
		}
		sig = WSTOPSIG(st) == SIGTRAP ? 0 : WSTOPSIG(st);
	}
	if (lk_line(fd, line, sizeof line) < 0 ||
	    sscanf(line, "entry=%lx rseq=%lx", &entry, &area) != 2 || entry == 0) {
		snprintf(why, wlen, "bad start line from the child: '%.100s'", line);
		return -1;
	}
	memset(&dc, 0, sizeof dc);
	if (hide && area == 0) {
		snprintf(why, wlen, "no rseq area to hide a section from");
		return -1;
	}
	for (;;) {
		bool lock = false, rep = false;
		if (lk_timed_out) { /* the alarm came between two waits */
			snprintf(why, wlen, "deadline");
			return -1;
		}
		if (ptrace(PTRACE_GETREGS, pid, NULL, &regs) < 0) {
			snprintf(why, wlen, "PTRACE_GETREGS: %s", strerror(errno));
			return -1;
		}
		if (in && regs.rip == retaddr && regs.rsp == ret_rsp) { /* the call returned */
			k->calls++;
			k->insns += cur;
			k->locked += curl;
			if (cur > k->insns_max)
				k->insns_max = cur;
			if (curl > k->locked_max)
				k->locked_max = curl;
			in = false;
			idle = 0;
			if (k->calls == ncalls)
				return 0;
		}
		if (!in && regs.rip == entry) {
			errno = 0;
			retaddr = (uint64_t)ptrace(PTRACE_PEEKDATA, pid, (void *)regs.rsp, NULL);
			if (errno != 0) {
				snprintf(why, wlen, "PTRACE_PEEKDATA: %s", strerror(errno));
				return -1;
			}
			ret_rsp = regs.rsp + 8;
			in = true;
			cur = curl = 0;
			prev_rep = false;
		}
		if (hide && lk_hide(pid, area, regs.rip, &cs_at, &cs_start, &cs_len, k) < 0) {
			snprintf(why, wlen, "hiding the rseq section: %s", strerror(errno));
			return -1;
		}
		if (hide && in && cs_at != 0 && regs.rip - cs_start < cs_len)
			k->in_section++;
		if (in) {
			if (lk_decode(pid, regs.rip, &lock, &rep, &dc) < 0) {
				snprintf(why, wlen, "PTRACE_PEEKTEXT: %s", strerror(errno));
				return -1;
			}
			if (!(prev_rep && regs.rip == prev_rip)) { /* not a rep's next round */
				cur++;
				curl += lock;
			}
			prev_rep = rep;
			prev_rip = regs.rip;
			if (cur > LK_CALL_BUDGET) {
				k->budget_hit = true;
				lk_diagnose(pid, area, k);
				snprintf(why, wlen,
					 "call %llu ran over %u instructions; in %u more steps, "
					 "%llu rseq aborts and %llu commits",
					 (unsigned long long)k->calls + 1, LK_CALL_BUDGET,
					 LK_DIAG_STEPS, (unsigned long long)k->diag_aborts,
					 (unsigned long long)k->diag_commits);
				return -1;
			}
		} else if (++idle > LK_IDLE_BUDGET) {
			snprintf(why, wlen, "no call of the log function after %u instructions",
				 LK_IDLE_BUDGET);
			return -1;
		}
		if (ptrace(PTRACE_SINGLESTEP, pid, NULL, NULL) < 0 || waitpid(pid, &st, 0) < 0 ||
		    !WIFSTOPPED(st)) {
			snprintf(why, wlen, "the child ended while single-stepped");
			return -1;
		}
		if (WSTOPSIG(st) != SIGTRAP) {
			snprintf(why, wlen, "signal %d while single-stepping", WSTOPSIG(st));
			return -1;
		}
	}
}

/* The environment of the child for state cfg: ours, GLIBC_TUNABLES extended for 1. */
static char **lk_env(int cfg, char *tun, size_t tlen)
{
	size_t n = 0, j = 0;
	char **env;
	const char *old = getenv("GLIBC_TUNABLES");

	while (environ[n] != NULL)
		n++;
	if ((env = calloc(n + 2, sizeof *env)) == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++)
		if (cfg == 0 || strncmp(environ[i], "GLIBC_TUNABLES=", 15) != 0)
			env[j++] = environ[i];
	if (cfg == 1) {
		snprintf(tun, tlen, "GLIBC_TUNABLES=%s%s%s", old ? old : "", old ? ":" : "",
			 LK_TUNABLE);
		env[j++] = tun;
	}
	env[j] = NULL;
	return env;
}

/* One child, traced: 0 counted, -1 not (why says why). */
static int lk_run_child(struct bench_ctx *c, const struct task *t, uint64_t ncalls,
			bool hide, struct lk_count *k, char *tail, size_t tlen, char *why,
			size_t wlen)
{
	char arg[600], tun[512], line[256];
	char **env = lk_env(t->cfg, tun, sizeof tun);
	int fds[2], st, ret;
	pid_t pid;

	if (env == NULL || pipe(fds) < 0) {
		snprintf(why, wlen, "out of memory or file descriptors");
		free(env);
		return -1;
	}
	snprintf(arg, sizeof arg, "--locked-child=%s:%llu:%d:%s", t->impl->name,
		 (unsigned long long)ncalls, fds[1], c->snap_dir);
	fflush(NULL);
	if ((pid = fork()) < 0) {
		snprintf(why, wlen, "fork: %s", strerror(errno));
		close(fds[0]);
		close(fds[1]);
		free(env);
		return -1;
	}
	if (pid == 0) {
		char *argv[] = {"ttlog-bench", arg, NULL};
		close(fds[0]);
		if (ptrace(PTRACE_TRACEME, 0, NULL, NULL) < 0) {
			dprintf(fds[1], "error=ptrace(PTRACE_TRACEME) not permitted here: %s\n",
				strerror(errno));
			_exit(1);
		}
		execve("/proc/self/exe", argv, env);
		dprintf(fds[1], "error=cannot exec /proc/self/exe: %s\n", strerror(errno));
		_exit(1);
	}
	close(fds[1]);
	free(env);
	if (waitpid(pid, &st, 0) < 0 || !WIFSTOPPED(st)) { /* the exec stop, or no trace */
		if (lk_line(fds[0], line, sizeof line) == 0 && strncmp(line, "error=", 6) == 0)
			snprintf(why, wlen, "%s", line + 6);
		else
			snprintf(why, wlen, "the traced child did not start");
		close(fds[0]);
		return -1;
	}
	ret = lk_trace(pid, fds[0], ncalls, hide, k, why, wlen);
	if (ret < 0) {
		kill(pid, SIGKILL);
		waitpid(pid, &st, 0);
		close(fds[0]);
		return -1;
	}
	/* the rest untraced */
	ptrace(PTRACE_DETACH, pid, NULL, NULL);
	if (lk_line(fds[0], tail, tlen) < 0 || strncmp(tail, "path=", 5) != 0) {
		snprintf(why, wlen, "no result line from the child ('%.100s')", tail);
		ret = -1;
	}
	waitpid(pid, &st, 0);
	if (ret == 0 && !(WIFEXITED(st) && WEXITSTATUS(st) == 0)) {
		snprintf(why, wlen, "the child failed after its calls (status %#x)", st);
		ret = -1;
	}
	close(fds[0]);
	return ret;
}

/* lk_run_child with tracer and tracee on one CPU (the child inherits it and keeps it):
 * each step then hands the CPU from one to the other instead of waking the other on
 * another CPU, which is much faster. */
static int lk_run_one(struct bench_ctx *c, const struct task *t, uint64_t ncalls, bool hide,
		      struct lk_count *k, char *tail, size_t tlen, char *why, size_t wlen)
{
	cpu_set_t old, one;
	int cpu = sched_getcpu(), ret;
	bool pinned = false;
	struct sigaction sa, sa_old;
	unsigned deadline_s = c->quick ? LK_DEADLINE_QUICK_S : LK_DEADLINE_S;

	memset(k, 0, sizeof *k);
	tail[0] = '\0';
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = lk_alarm;
	sigemptyset(&sa.sa_mask);
	lk_timed_out = 0;
	sigaction(SIGALRM, &sa, &sa_old);
	alarm(deadline_s);
	if (cpu >= 0 && sched_getaffinity(0, sizeof old, &old) == 0) {
		CPU_ZERO(&one);
		CPU_SET(cpu, &one);
		pinned = sched_setaffinity(0, sizeof one, &one) == 0;
	}
	ret = lk_run_child(c, t, ncalls, hide, k, tail, tlen, why, wlen);
	alarm(0);
	sigaction(SIGALRM, &sa_old, NULL);
	if (pinned)
		sched_setaffinity(0, sizeof old, &old);
	if (ret < 0 && lk_timed_out) {
		snprintf(why, wlen, "not done within %u s (%s)", deadline_s, "killed");
		k->budget_hit = false;
	}
	return ret;
}

/* A note on this state's figures only (res_note would mark every state of the variant). */
static void lk_note(const char *impl, const char *cfg, const char *note)
{
	for (int i = 0; i < bench_nfigures; i++)
		if (strcmp(bench_figures[i].experiment, "locked") == 0 &&
		    strcmp(bench_figures[i].impl, impl) == 0 &&
		    strcmp(bench_figures[i].config, cfg) == 0)
			snprintf(bench_figures[i].note, sizeof bench_figures[i].note, "%s", note);
}

static void run(struct bench_ctx *c, const struct task *t)
{
	uint64_t ncalls = c->quick ? LK_CALLS_QUICK : LK_CALLS;
	struct lk_count k;
	char tail[256], why[200], path[24] = "?", cfg[160], note[200] = "";
	unsigned long long ow = 0, restarts = 0;
	const char *method = "singlestep";
	int err;

	err = lk_run_one(c, t, ncalls, false, &k, tail, sizeof tail, why, sizeof why);
	if (err < 0 && k.budget_hit) {
		snprintf(note, sizeof note, "plain single-step: %s", why);
		method = "singlestep+hidden-rseq_cs";
		err = lk_run_one(c, t, ncalls, true, &k, tail, sizeof tail, why, sizeof why);
	}
	if (err < 0) {
		snprintf(cfg, sizeof cfg,
			 "state=full;threads=1;policy=overwrite;capacity=%u;env=%s", LK_CAP,
			 lk_state_env[t->cfg]);
		res_add("locked", t->impl->name, t->impl->kind, cfg, 0, "counted", "", true, 0);
		lk_note(t->impl->name, cfg, why);
		run_note("locked %s (%s): not counted: %s", t->impl->name, lk_state_env[t->cfg],
			 why);
		return;
	}
	sscanf(tail, "path=%23s overwritten=%llu restarts=%llu", path, &ow, &restarts);
	snprintf(cfg, sizeof cfg,
		 "state=full;threads=1;policy=overwrite;capacity=%u;env=%s;path=%s;method=%s;"
		 "calls=%llu",
		 LK_CAP, lk_state_env[t->cfg], path, method, (unsigned long long)k.calls);
#define ADD(m, u, v) res_add("locked", t->impl->name, t->impl->kind, cfg, 0, m, u, false, v)
	ADD("locked_per_call", "insns", (double)k.locked / (double)k.calls);
	ADD("locked_max", "insns", (double)k.locked_max);
	ADD("insns_per_call", "insns", (double)k.insns / (double)k.calls);
	ADD("insns_max", "insns", (double)k.insns_max);
	ADD("evictions_per_call", "records", (double)ow / (double)k.calls);
	ADD("rseq_restarts", "restarts", (double)restarts);
	if (k.hidden > 0)
		ADD("rseq_section_insns", "insns", (double)k.in_section / (double)k.calls);
#undef ADD
	if (note[0] != '\0') {
		char full[200];
		snprintf(full, sizeof full, "%s; then counted with rseq_cs hidden in %llu steps",
			 note, (unsigned long long)k.hidden);
		lk_note(t->impl->name, cfg, full);
	}
}

/* A variant with two push paths says which one it runs (ttlog_ring_stats.push_path):
 * its fallback is counted too. */
static bool lk_two_paths(const struct impl *im)
{
	struct ttlog_ring_config rc = {.capacity = 16, .policy = TTLOG_POLICY_OVERWRITE};
	struct ttlog_ring_stats st;
	struct ttlog_ring *r;

	if (im->ring->create(&r, &rc) < 0)
		return false;
	memset(&st, 0, sizeof st);
	im->ring->stats(r, &st);
	im->ring->destroy(r);
	return st.push_path != NULL;
}

static void plan(struct bench_ctx *c, int rep)
{
	if (rep != 0) /* a count, not a timing: one repetition */
		return;
	for (int i = 0; i < c->nimpls; i++) {
		struct impl *im = &c->impls[i];
		if (!impl_is_variant(im))
			continue;
		task_add(c, &exp_locked, im, 0, rep, c->quick ? 1 : 15);
		if (lk_two_paths(im))
			task_add(c, &exp_locked, im, 1, rep, c->quick ? 1 : 15);
	}
}

#else /* not x86-64 Linux */

static void run(struct bench_ctx *c, const struct task *t)
{
	(void)c;
	res_add("locked", t->impl->name, t->impl->kind, "state=full", 0, "counted", "", true, 0);
	res_note("locked", t->impl->name, "not counted: the decoder is x86-64 only");
}

static void plan(struct bench_ctx *c, int rep)
{
	for (int i = 0; rep == 0 && i < c->nimpls; i++)
		if (impl_is_variant(&c->impls[i]))
			task_add(c, &exp_locked, &c->impls[i], 0, rep, 0);
}

#endif

/* not isolated: the runner would put one state's note on every state of the variant;
 * lk_run_one has its own deadline */
const struct experiment exp_locked = {
	"locked", "locked instructions per log call (single-stepped, counted)", plan, run, false};
