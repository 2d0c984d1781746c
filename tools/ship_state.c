/*
 * ship_state.c - ttlog-ship's state file: which snapshot went to which destination.
 *
 * Text, one line per delivered file and destination after a version line:
 *   # ttlog-ship state 1
 *   DEST HOST PID CREATED_NS INODE SIZE PATH
 * DEST, HOST and PATH with %XX for '%' and every byte outside 33..126 ("%-": empty), so a
 * line is always seven words. The file is replaced whole (temporary file, fsync, rename, fsync of
 * the directory), mode 0600: a crash leaves the old state or the new one, never a mix. A
 * file that does not parse is an error, not an empty state: starting over would ship
 * everything again.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ship.h"

#define STATE_MAGIC "# ttlog-ship state 1"

static void id_free(struct ship_id *id)
{
	free(id->host);
	id->host = NULL;
}

static void entry_free(struct ship_entry *e)
{
	free(e->dest);
	free(e->path);
	id_free(&e->id);
}

static bool id_equal(const struct ship_id *a, const struct ship_id *b)
{
	return a->pid == b->pid && a->created_ns == b->created_ns && strcmp(a->host, b->host) == 0;
}

struct ship_entry *ship_state_find_file(struct ship_state *st, const char *dest, const char *path,
					uint64_t ino, uint64_t size)
{
	for (size_t i = 0; i < st->n; i++) {
		struct ship_entry *e = &st->v[i];
		if (e->ino == ino && e->size == size && strcmp(e->dest, dest) == 0 &&
		    strcmp(e->path, path) == 0)
			return e;
	}
	return NULL;
}

struct ship_entry *ship_state_any_file(struct ship_state *st, const char *path, uint64_t ino,
				       uint64_t size)
{
	for (size_t i = 0; i < st->n; i++) {
		struct ship_entry *e = &st->v[i];
		if (e->ino == ino && e->size == size && strcmp(e->path, path) == 0)
			return e;
	}
	return NULL;
}

struct ship_entry *ship_state_find_id(struct ship_state *st, const char *dest,
				      const struct ship_id *id)
{
	for (size_t i = 0; i < st->n; i++) {
		struct ship_entry *e = &st->v[i];
		if (id_equal(&e->id, id) && strcmp(e->dest, dest) == 0)
			return e;
	}
	return NULL;
}

int ship_state_add(struct ship_state *st, const char *dest, const struct ship_id *id,
		   const char *path, uint64_t ino, uint64_t size)
{
	struct ship_entry *e;

	if (st->n == st->cap) {
		size_t cap = st->cap ? st->cap * 2 : 64;
		struct ship_entry *v = realloc(st->v, cap * sizeof *v);
		if (v == NULL)
			return -ENOMEM;
		st->v = v;
		st->cap = cap;
	}
	e = &st->v[st->n];
	memset(e, 0, sizeof *e);
	e->dest = strdup(dest);
	e->path = strdup(path);
	e->id.host = strdup(id->host);
	if (e->dest == NULL || e->path == NULL || e->id.host == NULL) {
		entry_free(e);
		return -ENOMEM;
	}
	e->id.pid = id->pid;
	e->id.created_ns = id->created_ns;
	e->ino = ino;
	e->size = size;
	e->seen = true;
	st->n++;
	return 0;
}

size_t ship_state_prune(struct ship_state *st)
{
	size_t i, j = 0, dropped = 0;

	for (i = 0; i < st->n; i++) {
		if (st->v[i].seen) {
			st->v[j++] = st->v[i];
		} else {
			entry_free(&st->v[i]);
			dropped++;
		}
	}
	st->n = j;
	return dropped;
}

/* ---- text ------------------------------------------------------------------------- */

static void put_word(FILE *f, const char *s)
{
	if (*s == '\0')
		fputs("%-", f);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p < 33 || *p > 126 || *p == '%')
			fprintf(f, "%%%02X", *p);
		else
			putc(*p, f);
	}
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Decode the word at *p (up to a space or the end) into a new string; NULL if malformed
 * (an empty word, a bad escape, a %00). */
static char *get_word(char **p)
{
	char *s = *p, *end = strchr(s, ' '), *out, *o;
	size_t n = end ? (size_t)(end - s) : strlen(s);

	if (n == 0 || (out = malloc(n + 1)) == NULL)
		return NULL;
	if (n == 2 && s[0] == '%' && s[1] == '-') { /* the empty string */
		out[0] = '\0';
		*p += n + (end ? 1 : 0);
		return out;
	}
	for (o = out; s < *p + n; s++) {
		if (*s == '%') {
			int h, l;
			if (s + 2 >= *p + n || (h = hexval(s[1])) < 0 || (l = hexval(s[2])) < 0 ||
			    (h == 0 && l == 0)) {
				free(out);
				return NULL;
			}
			*o++ = (char)(h << 4 | l);
			s += 2;
		} else if ((unsigned char)*s < 33 || (unsigned char)*s > 126) {
			free(out);
			return NULL;
		} else {
			*o++ = *s;
		}
	}
	*o = '\0';
	*p += n + (end ? 1 : 0);
	return out;
}

static int get_u64(char **p, uint64_t *v)
{
	char *end;

	if (**p < '0' || **p > '9')
		return -1;
	errno = 0;
	*v = strtoull(*p, &end, 10);
	if (errno != 0 || (*end != ' ' && *end != '\0'))
		return -1;
	*p = *end ? end + 1 : end;
	return 0;
}

static int parse_line(char *line, struct ship_entry *e)
{
	char *p = line;

	memset(e, 0, sizeof *e);
	if (*line == '\0' || line[strlen(line) - 1] == ' ')
		return -1;
	if ((e->dest = get_word(&p)) == NULL || (e->id.host = get_word(&p)) == NULL ||
	    get_u64(&p, &e->id.pid) < 0 || get_u64(&p, &e->id.created_ns) < 0 ||
	    get_u64(&p, &e->ino) < 0 || get_u64(&p, &e->size) < 0 ||
	    (e->path = get_word(&p)) == NULL || *p != '\0') {
		entry_free(e);
		return -1;
	}
	return 0;
}

/* ---- open, load, save -------------------------------------------------------------- */

int ship_state_open(struct ship_state *st, const char *path, char *err, size_t errlen)
{
	char lock[4096], *line = NULL;
	size_t cap = 0, lineno = 0;
	ssize_t len;
	FILE *f;
	int rc;

	memset(st, 0, sizeof *st);
	st->lockfd = -1;
	if ((st->path = strdup(path)) == NULL)
		return -ENOMEM;
	if ((size_t)snprintf(lock, sizeof lock, "%s.lock", path) >= sizeof lock) {
		snprintf(err, errlen, "%s: name too long", path);
		rc = -ENAMETOOLONG;
		goto fail;
	}
	st->lockfd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (st->lockfd < 0) {
		rc = -errno;
		snprintf(err, errlen, "%s: %s", lock, strerror(errno));
		goto fail;
	}
	if (flock(st->lockfd, LOCK_EX | LOCK_NB) < 0) {
		rc = -errno;
		snprintf(err, errlen, "%s: %s", lock,
			 errno == EWOULDBLOCK ? "another ttlog-ship uses this state file"
					      : strerror(errno));
		goto fail;
	}
	if ((f = fopen(path, "re")) == NULL) {
		if (errno == ENOENT)
			return 0;
		rc = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		goto fail;
	}
	rc = 0;
	while ((len = getline(&line, &cap, f)) >= 0) {
		struct ship_entry e;

		lineno++;
		if (len > 0 && line[len - 1] == '\n')
			line[--len] = '\0';
		if (lineno == 1) {
			if (strcmp(line, STATE_MAGIC) != 0) {
				snprintf(err, errlen, "%s: not a ttlog-ship state file", path);
				rc = -EINVAL;
				break;
			}
			continue;
		}
		if (parse_line(line, &e) < 0) {
			snprintf(err, errlen, "%s:%zu: malformed line", path, lineno);
			rc = -EINVAL;
			break;
		}
		if ((rc = ship_state_add(st, e.dest, &e.id, e.path, e.ino, e.size)) < 0)
			snprintf(err, errlen, "%s: %s", path, strerror(-rc));
		entry_free(&e);
		if (rc < 0)
			break;
		st->v[st->n - 1].seen = false;
	}
	if (rc == 0 && ferror(f)) {
		rc = -EIO;
		snprintf(err, errlen, "%s: read error", path);
	}
	if (rc == 0 && lineno == 0) {
		rc = -EINVAL;
		snprintf(err, errlen, "%s: empty, not a ttlog-ship state file", path);
	}
	free(line);
	fclose(f);
	if (rc == 0)
		return 0;
fail:
	ship_state_close(st);
	return rc;
}

void ship_state_close(struct ship_state *st)
{
	for (size_t i = 0; i < st->n; i++)
		entry_free(&st->v[i]);
	free(st->v);
	free(st->path);
	if (st->lockfd >= 0)
		close(st->lockfd);
	memset(st, 0, sizeof *st);
	st->lockfd = -1;
}

int ship_state_save(struct ship_state *st, char *err, size_t errlen)
{
	char tmp[4096], dir[4096];
	FILE *f = NULL;
	int fd, dfd, rc = 0;

	if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp.XXXXXX", st->path) >= sizeof tmp) {
		snprintf(err, errlen, "%s: name too long", st->path);
		return -ENAMETOOLONG;
	}
	/* a new name each time (mkostemp: O_EXCL, 0600) */
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0 || (f = fdopen(fd, "w")) == NULL) {
		rc = -errno;
		snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
		if (fd >= 0) {
			close(fd);
			unlink(tmp);
		}
		return rc;
	}
	fputs(STATE_MAGIC "\n", f);
	for (size_t i = 0; i < st->n; i++) {
		const struct ship_entry *e = &st->v[i];
		put_word(f, e->dest);
		putc(' ', f);
		put_word(f, e->id.host);
		fprintf(f, " %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 " ", e->id.pid,
			e->id.created_ns, e->ino, e->size);
		put_word(f, e->path);
		putc('\n', f);
	}
	if (fflush(f) != 0 || fsync(fileno(f)) != 0) {
		rc = -errno;
		snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
	}
	if (fclose(f) != 0 && rc == 0) {
		rc = -errno;
		snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
	}
	if (rc == 0 && rename(tmp, st->path) < 0) {
		rc = -errno;
		snprintf(err, errlen, "%s: %s", st->path, strerror(errno));
	}
	if (rc == 0) {
		snprintf(dir, sizeof dir, "%s", st->path);
		dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd >= 0) {
			fsync(dfd);
			close(dfd);
		}
	}
	if (rc < 0)
		unlink(tmp);
	return rc;
}
