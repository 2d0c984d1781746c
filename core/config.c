/*
 * config.c - defaults and the TTLOG_* environment. A bad value is kept in the config
 * with a message naming the variable, so ttlog_init() can refuse it: never a silent
 * default.
 */
#include <errno.h>
#include <stddef.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "internal.h"

/* The bytes of ttlog_config this version knows: up to the end of its last field. A field
 * added to the struct moves this to the new last field. */
#define TTLOG__CONFIG_LAST trigger_pre
#define TTLOG__CONFIG_USED \
	(offsetof(ttlog_config, TTLOG__CONFIG_LAST) + sizeof(((ttlog_config *)0)->TTLOG__CONFIG_LAST))

int ttlog__config_reserved_ok(const ttlog_config *cfg)
{
	for (size_t i = TTLOG__CONFIG_USED; i < sizeof *cfg; i++)
		if (cfg->ttlog__reserved[i] != 0)
			return 0;
	return 1;
}

static const char *const level_names[] = {"trace", "debug", "info", "warn",
					  "error", "fatal", "off"};

int ttlog__parse_level(const char *s, int *out)
{
	for (int i = 0; i <= TTLOG_LEVEL_OFF; i++) {
		if (strcasecmp(s, level_names[i]) == 0) {
			*out = i;
			return 0;
		}
	}
	if (s[0] >= '0' && s[0] <= '6' && s[1] == '\0') {
		*out = s[0] - '0';
		return 0;
	}
	if (strcasecmp(s, "warning") == 0) {
		*out = TTLOG_LEVEL_WARN;
		return 0;
	}
	return -EINVAL;
}

static const struct {
	int sig;
	const char *name;
} signals[] = {
	{SIGSEGV, "SIGSEGV"}, {SIGBUS, "SIGBUS"},   {SIGILL, "SIGILL"},   {SIGFPE, "SIGFPE"},
	{SIGABRT, "SIGABRT"}, {SIGUSR1, "SIGUSR1"}, {SIGUSR2, "SIGUSR2"}, {SIGHUP, "SIGHUP"},
	{SIGTERM, "SIGTERM"}, {SIGINT, "SIGINT"},   {SIGQUIT, "SIGQUIT"}, {SIGTRAP, "SIGTRAP"},
	{SIGSYS, "SIGSYS"},   {SIGPWR, "SIGPWR"},   {SIGURG, "SIGURG"},   {SIGWINCH, "SIGWINCH"},
};

const char *ttlog__signal_name(int sig)
{
	for (size_t i = 0; i < sizeof signals / sizeof signals[0]; i++)
		if (signals[i].sig == sig)
			return signals[i].name;
	return NULL;
}

/* Signals an operator may use to ask for a snapshot: not the crash signals, not ones
 * that cannot be caught. */
int ttlog__signal_usable(int sig)
{
	return sig == SIGUSR1 || sig == SIGUSR2 || sig == SIGHUP || sig == SIGPWR ||
	       sig == SIGURG || sig == SIGWINCH || (sig >= SIGRTMIN && sig <= SIGRTMAX);
}

int ttlog__parse_signal(const char *s, int *out)
{
	char *end;
	long v;

	if (s[0] >= '0' && s[0] <= '9') {
		errno = 0;
		v = strtol(s, &end, 10);
		if (errno != 0 || *end != '\0' || (v != 0 && !ttlog__signal_usable((int)v)))
			return -EINVAL;
		*out = (int)v;
		return 0;
	}
	for (size_t i = 0; i < sizeof signals / sizeof signals[0]; i++) {
		const char *n = signals[i].name;
		if ((strcasecmp(s, n) == 0 || strcasecmp(s, n + 3) == 0) &&
		    ttlog__signal_usable(signals[i].sig)) {
			*out = signals[i].sig;
			return 0;
		}
	}
	return -EINVAL;
}

/* An unsigned decimal in [min, max]; no sign, no suffix, no garbage. */
static int parse_uint(const char *s, unsigned long long min, unsigned long long max,
		      unsigned long long *out)
{
	char *end;
	unsigned long long v;

	if (s[0] < '0' || s[0] > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

int ttlog__check_mode(unsigned mode)
{
	if (mode == 0)
		return 0;
	return (mode & 0600u) == 0600u && (mode & ~0644u) == 0 ? 0 : -EINVAL;
}

/* An octal mode, digits only ("0640", "640"), that ttlog__check_mode() accepts; 0 is not
 * one (the variable is unset to get the default). */
static int parse_mode(const char *s, unsigned *out)
{
	unsigned long v = 0;
	size_t i;

	for (i = 0; s[i] != '\0'; i++) {
		if (s[i] < '0' || s[i] > '7' || v > 07777)
			return -EINVAL;
		v = v * 8 + (unsigned long)(s[i] - '0');
	}
	if (i == 0 || v == 0 || ttlog__check_mode((unsigned)v) < 0)
		return -EINVAL;
	*out = (unsigned)v;
	return 0;
}

static int env_fail(ttlog_config *cfg, const char *var, const char *val, const char *want)
{
	cfg->env_error = -EINVAL;
	snprintf(cfg->env_errmsg, sizeof cfg->env_errmsg, "%s='%.40s': %s", var, val, want);
	return -EINVAL;
}

int ttlog_config_default(ttlog_config *cfg)
{
	const char *v;
	unsigned long long n;

	if (cfg == NULL)
		return -EINVAL;
	memset(cfg, 0, sizeof *cfg);
	cfg->capacity = TTLOG_DEFAULT_CAPACITY;
	cfg->snapshot_dir = "/tmp";
	cfg->service = program_invocation_short_name;
	cfg->level = TTLOG_LEVEL_TRACE;
	cfg->policy = TTLOG_POLICY_OVERWRITE;
	cfg->interner_bytes = 1u << 20;

	if ((v = getenv("TTLOG_SNAPSHOT_DIR")) != NULL) {
		if (v[0] == '\0' || strlen(v) > TTLOG_DIR_MAX)
			return env_fail(cfg, "TTLOG_SNAPSHOT_DIR", v, "empty or too long");
		cfg->snapshot_dir = v;
	}
	if ((v = getenv("TTLOG_SERVICE_NAME")) != NULL) {
		if (v[0] == '\0' || strlen(v) >= TTLOG_SERVICE_MAX)
			return env_fail(cfg, "TTLOG_SERVICE_NAME", v, "want 1..63 bytes");
		cfg->service = v;
	}
	if ((v = getenv("TTLOG_CAPACITY")) != NULL) {
		if (parse_uint(v, 16, 1ull << 30, &n) < 0)
			return env_fail(cfg, "TTLOG_CAPACITY", v, "want an integer in 16..2^30");
		cfg->capacity = (size_t)n;
	}
	if ((v = getenv("TTLOG_LEVEL")) != NULL) {
		if (ttlog__parse_level(v, &cfg->level) < 0)
			return env_fail(cfg, "TTLOG_LEVEL", v,
					"want trace|debug|info|warn|error|fatal|off or 0..6");
	}
	if ((v = getenv("TTLOG_SNAPSHOT_INTERVAL")) != NULL) {
		if (parse_uint(v, 0, 86400 * 365, &n) < 0)
			return env_fail(cfg, "TTLOG_SNAPSHOT_INTERVAL", v,
					"want seconds, 0 (off) to 31536000");
		cfg->snapshot_interval_s = (unsigned)n;
	}
	if ((v = getenv("TTLOG_SNAPSHOT_KEEP")) != NULL) {
		if (parse_uint(v, 0, 1000000, &n) < 0)
			return env_fail(cfg, "TTLOG_SNAPSHOT_KEEP", v,
					"want a file count, 0 (keep all) to 1000000");
		cfg->snapshot_keep = (unsigned)n;
	}
	if ((v = getenv("TTLOG_SNAPSHOT_SIGNAL")) != NULL) {
		if (ttlog__parse_signal(v, &cfg->snapshot_signal) < 0)
			return env_fail(cfg, "TTLOG_SNAPSHOT_SIGNAL", v,
					"want 0, USR1, USR2, HUP, PWR, URG, WINCH or a "
					"real-time signal number");
	}
	if ((v = getenv("TTLOG_POLICY")) != NULL) {
		if (strcmp(v, "overwrite") == 0)
			cfg->policy = TTLOG_POLICY_OVERWRITE;
		else if (strcmp(v, "drop") == 0)
			cfg->policy = TTLOG_POLICY_DROP;
		else
			return env_fail(cfg, "TTLOG_POLICY", v, "want overwrite or drop");
	}
	if ((v = getenv("TTLOG_SNAPSHOT_MODE")) != NULL) {
		if (parse_mode(v, &cfg->snapshot_mode) < 0)
			return env_fail(cfg, "TTLOG_SNAPSHOT_MODE", v,
					"want an octal file mode 0600, 0640, 0604 or 0644");
	}
	if ((v = getenv("TTLOG_BLACKBOX")) != NULL) {
		if (strcmp(v, "0") != 0 && strcmp(v, "1") != 0)
			return env_fail(cfg, "TTLOG_BLACKBOX", v, "want 1 (on) or 0 (off)");
		cfg->blackbox = v[0] == '1' ? 1 : -1;
	}
	if ((v = getenv("TTLOG_BLACKBOX_DIR")) != NULL) {
		if (v[0] == '\0' || strlen(v) > TTLOG_DIR_MAX)
			return env_fail(cfg, "TTLOG_BLACKBOX_DIR", v, "empty or too long");
		cfg->blackbox_dir = v;
	}
	if ((v = getenv("TTLOG_METRICS_FILE")) != NULL) {
		if (v[0] == '\0' || strlen(v) > TTLOG_DIR_MAX)
			return env_fail(cfg, "TTLOG_METRICS_FILE", v, "empty or too long");
		cfg->metrics_file = v;
	}
	if ((v = getenv("TTLOG_METRICS_INTERVAL")) != NULL) {
		if (parse_uint(v, 1, 86400, &n) < 0)
			return env_fail(cfg, "TTLOG_METRICS_INTERVAL", v,
					"want seconds, 1 to 86400");
		cfg->metrics_interval_s = (unsigned)n;
	}
	if ((v = getenv("TTLOG_TRIGGER_LEVEL")) != NULL) {
		int level;
		if (ttlog__parse_level(v, &level) < 0)
			return env_fail(cfg, "TTLOG_TRIGGER_LEVEL", v,
					"want trace|debug|info|warn|error|fatal|off");
		cfg->trigger_level = v;
	}
	if ((v = getenv("TTLOG_TRIGGER_PRE")) != NULL) {
		if (parse_uint(v, 1, 1u << 20, &n) < 0)
			return env_fail(cfg, "TTLOG_TRIGGER_PRE", v, "want events, 1 to 2^20");
		cfg->trigger_pre = (unsigned)n;
	}
	if ((v = getenv("TTLOG_TRIGGER_POST_MS")) != NULL) {
		if (parse_uint(v, 1, 3600000, &n) < 0)
			return env_fail(cfg, "TTLOG_TRIGGER_POST_MS", v, "want ms, 1 to 3600000");
		cfg->trigger_post_ms = (unsigned)n;
	}
	if ((v = getenv("TTLOG_TRIGGER_MIN_INTERVAL_S")) != NULL) {
		if (parse_uint(v, 1, 86400, &n) < 0)
			return env_fail(cfg, "TTLOG_TRIGGER_MIN_INTERVAL_S", v,
					"want seconds, 1 to 86400");
		cfg->trigger_min_interval_s = (unsigned)n;
	}
	if ((v = getenv("TTLOG_TRIGGER_LOSS")) != NULL) {
		if (parse_uint(v, 0, 1u << 30, &n) < 0)
			return env_fail(cfg, "TTLOG_TRIGGER_LOSS", v,
					"want an event count, 0 (off) to 2^30");
		cfg->trigger_loss_events = (unsigned)n;
	}
	if ((v = getenv("TTLOG_TRIGGER_LOSS_MS")) != NULL) {
		if (parse_uint(v, 1, 3600000, &n) < 0)
			return env_fail(cfg, "TTLOG_TRIGGER_LOSS_MS", v, "want ms, 1 to 3600000");
		cfg->trigger_loss_ms = (unsigned)n;
	}
	if ((v = getenv("TTLOG_SNAPSHOT_CLIP")) != NULL) {
		if (strcmp(v, "0") != 0 && strcmp(v, "1") != 0)
			return env_fail(cfg, "TTLOG_SNAPSHOT_CLIP", v, "want 0 or 1");
		cfg->snapshot_clip = v[0] == '1';
	}
	return 0;
}
