/*
 * fmt.c - the little formatting the crash path needs, without stdio (snprintf and
 * gmtime_r are not async-signal-safe).
 */
#include <string.h>
#include <unistd.h>

#include "internal.h"

void ttlog__fmt_str(char *buf, size_t len, size_t *pos, const char *s)
{
	while (*s != '\0' && *pos + 1 < len)
		buf[(*pos)++] = *s++;
	if (len > 0)
		buf[*pos < len ? *pos : len - 1] = '\0';
}

void ttlog__fmt_u64(char *buf, size_t len, size_t *pos, uint64_t v)
{
	char tmp[21];
	size_t n = sizeof tmp - 1;

	tmp[n] = '\0';
	do {
		tmp[--n] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	ttlog__fmt_str(buf, len, pos, tmp + n);
}

static void fmt_2(char *buf, size_t len, size_t *pos, unsigned v)
{
	char tmp[3] = {(char)('0' + v / 10 % 10), (char)('0' + v % 10), '\0'};
	ttlog__fmt_str(buf, len, pos, tmp);
}

/* days since 1970-01-01 to civil date (H. Hinnant's algorithm) */
static void civil(int64_t z, int *y, unsigned *m, unsigned *d)
{
	z += 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	unsigned doe = (unsigned)(z - era * 146097);
	unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	unsigned mp = (5 * doy + 2) / 153;
	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = (int)(yoe + era * 400 + (*m <= 2));
}

void ttlog__fmt_stamp(char *buf, size_t len, size_t *pos, uint64_t ns)
{
	uint64_t s = ns / 1000000000u;
	unsigned m, d, sod = (unsigned)(s % 86400);
	int y;

	civil((int64_t)(s / 86400), &y, &m, &d);
	ttlog__fmt_u64(buf, len, pos, (uint64_t)y);
	fmt_2(buf, len, pos, m);
	fmt_2(buf, len, pos, d);
	fmt_2(buf, len, pos, sod / 3600);
	fmt_2(buf, len, pos, sod / 60 % 60);
	fmt_2(buf, len, pos, sod % 60);
}

void ttlog__report(const char *a, const char *b)
{
	char line[512];
	size_t pos = 0;
	ssize_t rc;

	if (ttlog__g.quiet)
		return;
	ttlog__fmt_str(line, sizeof line, &pos, "ttlog: ");
	ttlog__fmt_str(line, sizeof line, &pos, a);
	ttlog__fmt_str(line, sizeof line, &pos, b);
	ttlog__fmt_str(line, sizeof line, &pos, "\n");
	rc = write(STDERR_FILENO, line, pos);
	(void)rc; /* nothing better to do if stderr is gone */
}
