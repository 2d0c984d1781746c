/*
 * ship.h - what the parts of ttlog-ship share: the snapshot identity, the state file
 * (ship_state.c), the destination interface that each kind of destination implements
 * (ship_syslog.c: syslog:// and syslog+tls://; ship_pg.c: postgresql:// and postgres://) and
 * the log lines. ttlog-ship.c is the program: options, the watched directories, the
 * per-destination backlog and backoff. One thread.
 */
#ifndef TTLOG_SHIP_H
#define TTLOG_SHIP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <ttlog/reader.h>

#define PROG "ttlog-ship"

/* One line on stderr, "ttlog-ship: ..." */
void ship_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- identity --------------------------------------------------------------------- */

/* What makes a snapshot the same snapshot wherever its file is: the process that wrote it
 * and when. Two files with the same identity (a copy) are shipped once per destination. */
struct ship_id {
	char *host; /* the snapshot's hostname */
	uint64_t pid, created_ns;
};

/* ---- state file (ship_state.c) --------------------------------------------------- */

/* One delivered snapshot file: to which destination, which snapshot, which file. */
struct ship_entry {
	char *dest; /* ship_dest_key() of the destination */
	struct ship_id id;
	char *path;         /* the file as found (DIR/name) */
	uint64_t ino, size; /* the file's inode and size when shipped */
	bool seen;          /* a file of this identity exists (pruning at start) */
};

struct ship_state {
	char *path;
	int lockfd; /* flock'd PATH.lock: one agent per state file */
	struct ship_entry *v;
	size_t n, cap;
};

/* Lock and load PATH (a missing file is an empty state). 0, or -errno with err filled. */
int ship_state_open(struct ship_state *st, const char *path, char *err, size_t errlen);
void ship_state_close(struct ship_state *st);
/* The entry of destination dest for this file (path, inode, size), or NULL. */
struct ship_entry *ship_state_find_file(struct ship_state *st, const char *dest, const char *path,
					uint64_t ino, uint64_t size);
/* Any entry with this file (any destination): its identity without opening the file. */
struct ship_entry *ship_state_any_file(struct ship_state *st, const char *path, uint64_t ino,
				       uint64_t size);
/* The entry of destination dest for this identity, or NULL. */
struct ship_entry *ship_state_find_id(struct ship_state *st, const char *dest,
				      const struct ship_id *id);
/* Record in memory that dest has this file's snapshot. 0 or -ENOMEM. */
int ship_state_add(struct ship_state *st, const char *dest, const struct ship_id *id,
		   const char *path, uint64_t ino, uint64_t size);
/* Drop the entries whose seen flag is clear (their snapshot is in no watched file). */
size_t ship_state_prune(struct ship_state *st);
/* Write the state: temporary file (0600), fsync, rename over PATH, fsync the directory.
 * 0, or -errno with err filled (PATH is then unchanged). */
int ship_state_save(struct ship_state *st, char *err, size_t errlen);

/* ---- destinations --------------------------------------------------------------- */

struct ship_opts {
	int facility;        /* syslog facility 0..23 */
	const char *ca_file; /* syslog+tls: CA certificates (PEM), NULL: the system's */
	int timeout_s;       /* connect, each write, and the wait for the peer's close */
	bool verbose;
};

/* A snapshot to deliver: opened and validated, iteration rewound. */
struct ship_snap {
	const char *path;
	ttlog_snapshot_file *snap;
};

/* What one delivery sent. */
struct ship_sent {
	uint64_t messages, bytes;
};

enum ship_result {
	SHIP_OK = 0,     /* the destination acknowledged the whole snapshot */
	SHIP_RETRY = -1, /* the destination failed (down, torn connection): try again later */
	SHIP_REJECT = -2 /* this snapshot cannot be delivered, ever (the others can) */
};

struct ship_dest_ops {
	/* URL scheme ("syslog", "syslog+tls", "postgresql", "postgres") */
	const char *scheme;
	/* Parse url (a URL of this scheme) into *ctx; nothing connects yet. 0, or -errno with
	 * err filled (a bad URL: a usage error). */
	int (*open)(const char *url, const struct ship_opts *o, void **ctx, char *err,
		    size_t errlen);
	/* Deliver the snapshot: SHIP_OK only when the destination has acknowledged all of it
	 * (the destination defines what that means: docs/ship.md). On failure err says why. */
	enum ship_result (*deliver)(void *ctx, const struct ship_snap *s, struct ship_sent *sent,
				    char *err, size_t errlen);
	void (*close)(void *ctx);
};

extern const struct ship_dest_ops ship_syslog_ops, ship_syslog_tls_ops;
extern const struct ship_dest_ops ship_pg_ops, ship_postgres_ops; /* ship_pg.c */

/* The ops of url's scheme, or NULL. */
const struct ship_dest_ops *ship_dest_lookup(const char *url);
/* The destination's name in the state file and in log lines: the URL without a password
 * ("scheme://user:pw@host" -> "scheme://user@host", and a "password=" query parameter
 * left out). Caller frees. NULL: no memory. */
char *ship_dest_key(const char *url);

#endif /* TTLOG_SHIP_H */
