/*
 * test_metrics.c - ttlog_metrics_text and TTLOG_METRICS_FILE: the Prometheus text
 * exposition format (every sample preceded by its HELP and TYPE, labels escaped), values
 * equal to ttlog_get_stats, the file replaced atomically by the writer thread, bad
 * configuration refused.
 */
#include <fcntl.h>
#include <regex.h>

#include "testutil.h"

/* The value of metric `name` (the whole name, as in the sample line) in text, or -1. */
static double value_of(const char *text, const char *name)
{
	size_t n = strlen(name);

	for (const char *p = text; p != NULL && *p != '\0'; p = strchr(p, '\n'), p = p ? p + 1 : p)
		if (strncmp(p, name, n) == 0 && p[n] == '{') {
			const char *v = strstr(p, "} ");
			return v != NULL ? strtod(v + 2, NULL) : -1;
		}
	return -1;
}

/* Every line is a HELP, a TYPE (counter, gauge or summary) or a sample of the metric the
 * preceding TYPE names, with the service and variant labels; the text ends in a newline. */
static void assert_exposition(const char *text, const char *service_escaped)
{
	regex_t help, type, sample;
	char line[1024], typed[128] = "", want_labels[256];
	const char *p = text;
	int samples = 0;

	assert_int_equal(regcomp(&help, "^# HELP ttlog_[a-z_]+ [^\n]+$", REG_EXTENDED), 0);
	assert_int_equal(
		regcomp(&type, "^# TYPE (ttlog_[a-z_]+) (counter|gauge|summary)$", REG_EXTENDED),
		0);
	assert_int_equal(
		regcomp(&sample, "^(ttlog_[a-z_]+)\\{(.*)\\} [0-9]+(\\.[0-9]+)?$", REG_EXTENDED),
		0);
	snprintf(want_labels, sizeof want_labels, "service=\"%s\",variant=\"%s\"", service_escaped,
		 ttlog_variant()[0] != '\0' ? ttlog_variant() : TTLOG_TEST_VARIANT);
	assert_true(text[0] != '\0' && text[strlen(text) - 1] == '\n');
	while (*p != '\0') {
		const char *nl = strchr(p, '\n');
		regmatch_t m[4];
		size_t l = (size_t)(nl - p);
		assert_true(l < sizeof line);
		memcpy(line, p, l);
		line[l] = '\0';
		if (regexec(&type, line, 3, m, 0) == 0) {
			snprintf(typed, sizeof typed, "%.*s", (int)(m[1].rm_eo - m[1].rm_so),
				 line + m[1].rm_so);
		} else if (regexec(&sample, line, 4, m, 0) == 0) {
			char name[128], labels[512];
			snprintf(name, sizeof name, "%.*s", (int)(m[1].rm_eo - m[1].rm_so),
				 line + m[1].rm_so);
			snprintf(labels, sizeof labels, "%.*s", (int)(m[2].rm_eo - m[2].rm_so),
				 line + m[2].rm_so);
			/* a summary's samples are name_sum and name_count */
			if (strcmp(name, typed) != 0 &&
			    !(strncmp(name, typed, strlen(typed)) == 0 &&
			      (strcmp(name + strlen(typed), "_sum") == 0 ||
			       strcmp(name + strlen(typed), "_count") == 0)))
				fail_msg("sample '%s' not under its TYPE (last TYPE: %s)", line,
					 typed);
			if (strcmp(labels, want_labels) != 0)
				fail_msg("labels '%s', want '%s'", labels, want_labels);
			samples++;
		} else if (regexec(&help, line, 0, NULL, 0) != 0) {
			fail_msg("not exposition format: '%s'", line);
		}
		p = nl + 1;
	}
	assert_true(samples >= 12);
	regfree(&help);
	regfree(&type);
	regfree(&sample);
}

static void test_text_before_init_and_bad_buffers(void **state)
{
	char buf[4096], small[64];

	(void)state;
	assert_int_equal(ttlog_metrics_text(NULL, 10), -EINVAL);
	assert_int_equal(ttlog_metrics_text(buf, 0), -EINVAL);
	int n = ttlog_metrics_text(buf, sizeof buf);
	assert_true(n > 0 && (size_t)n == strlen(buf));
	assert_true(value_of(buf, "ttlog_events_logged_total") == 0);
	memset(small, 'x', sizeof small);
	assert_int_equal(ttlog_metrics_text(small, sizeof small), -ENOBUFS);
	assert_string_equal(small, "");
	/* one byte short of the whole text (its NUL) is too small too */
	assert_int_equal(ttlog_metrics_text(buf, (size_t)n), -ENOBUFS);
}

/* Values equal ttlog_get_stats after overwriting and a snapshot; a service name with a
 * quote, a backslash and a newline is escaped in the label. */
static void test_values_and_escaping(void **state)
{
	ttlog_config cfg;
	ttlog_stats st;
	char buf[4096];
	ttlog_snapshot_file *s;

	(void)state;
	assert_int_equal(ttlog_config_default(&cfg), 0);
	cfg.snapshot_dir = tu_dir;
	cfg.capacity = 16;
	cfg.service = "we\"b\\x\ny";
	cfg.quiet = true;
	assert_int_equal(ttlog_init(&cfg), 0);
	for (uint64_t i = 0; i < 1000; i++)
		TTLOG_INFO("metrics", "event {}", TTLOG_U64("i", i));
	s = tu_snapshot("metrics");
	ttlog_snapshot_close(s);
	ttlog_get_stats(&st);
	assert_true(ttlog_metrics_text(buf, sizeof buf) > 0);
	assert_exposition(buf, "we\\\"b\\\\x\\ny");
	assert_true(value_of(buf, "ttlog_events_logged_total") == 1000);
	assert_true(value_of(buf, "ttlog_events_logged_total") == (double)st.logged);
	assert_true(value_of(buf, "ttlog_events_kept") == (double)st.kept);
	assert_true(value_of(buf, "ttlog_events_overwritten_total") == (double)st.overwritten);
	assert_true(st.kept + st.overwritten + st.dropped == 1000);
	assert_true(value_of(buf, "ttlog_events_dropped_total") == (double)st.dropped);
	assert_true(value_of(buf, "ttlog_snapshots_written_total") == 1);
	assert_true(value_of(buf, "ttlog_snapshot_duration_seconds_count") == 1);
	assert_true(value_of(buf, "ttlog_snapshot_duration_seconds_sum") > 0);
	assert_true(value_of(buf, "ttlog_snapshot_last_duration_seconds") > 0);
	assert_true(value_of(buf, "ttlog_ring_capacity_events") >= 16);
	double fill = value_of(buf, "ttlog_ring_fill_ratio");
	assert_true(fill > 0 && fill <= 1);
}

static int file_logged(const char *path, double want)
{
	char buf[4096];
	int fd = open(path, O_RDONLY);
	ssize_t n;

	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	return value_of(buf, "ttlog_events_logged_total") == want;
}

/* The file exists when ttlog_init returns, is 0644 whatever the umask, follows the
 * counters every interval, and no temporary file is left beside it. */
static void test_file_rewritten_by_writer(void **state)
{
	ttlog_config cfg;
	char path[4200];
	struct stat sb;
	mode_t old = umask(077);

	(void)state;
	snprintf(path, sizeof path, "%s/ttlog.prom", tu_dir);
	assert_int_equal(ttlog_config_default(&cfg), 0);
	cfg.snapshot_dir = tu_dir;
	cfg.quiet = true;
	cfg.metrics_file = path;
	cfg.metrics_interval_s = 1;
	assert_int_equal(ttlog_init(&cfg), 0);
	umask(old);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 07777, 0644);
	assert_true(file_logged(path, 0));
	for (uint64_t i = 0; i < 5; i++)
		TTLOG_INFO("metrics", "event {}", TTLOG_U64("i", i));
	tu_wait_for(file_logged(path, 5), "the metrics file showing 5 events");
	/* a real parser of the format: prometheus_client (python3-prometheus-client); the
	 * tests run from the top of the tree */
	char cmd[8600];
	snprintf(cmd, sizeof cmd, "/usr/bin/python3 tests/check_prom.py '%s' 5", path);
	assert_int_equal(system(cmd), 0);
	ttlog_shutdown();
	assert_int_equal(tu_count(tu_dir, ".ttlog-metrics-", ""), 0);
}

static void test_bad_configuration(void **state)
{
	ttlog_config cfg;
	char path[4200];

	(void)state;
	snprintf(path, sizeof path, "%s/no-such-dir/ttlog.prom", tu_dir);
	assert_int_equal(ttlog_config_default(&cfg), 0);
	cfg.snapshot_dir = tu_dir;
	cfg.quiet = true;
	cfg.metrics_file = path;
	assert_int_equal(ttlog_init(&cfg), -ENOENT);
	assert_non_null(strstr(ttlog_errmsg(), "metrics file"));
	cfg.metrics_file = "";
	assert_int_equal(ttlog_init(&cfg), -EINVAL);
	cfg.metrics_file = NULL;
	cfg.metrics_interval_s = 86401;
	assert_int_equal(ttlog_init(&cfg), -EINVAL);

	const char *bad[] = {"0", "86401", "x", "-1", ""};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		setenv("TTLOG_METRICS_INTERVAL", bad[i], 1);
		assert_int_equal(ttlog_config_default(&cfg), -EINVAL);
		assert_non_null(strstr(cfg.env_errmsg, "TTLOG_METRICS_INTERVAL"));
	}
	unsetenv("TTLOG_METRICS_INTERVAL");
	setenv("TTLOG_METRICS_FILE", "", 1);
	assert_int_equal(ttlog_config_default(&cfg), -EINVAL);
	assert_non_null(strstr(cfg.env_errmsg, "TTLOG_METRICS_FILE"));
	setenv("TTLOG_METRICS_FILE", path, 1);
	setenv("TTLOG_METRICS_INTERVAL", "30", 1);
	assert_int_equal(ttlog_config_default(&cfg), 0);
	assert_string_equal(cfg.metrics_file, path);
	assert_int_equal(cfg.metrics_interval_s, 30);
	unsetenv("TTLOG_METRICS_FILE");
	unsetenv("TTLOG_METRICS_INTERVAL");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_text_before_init_and_bad_buffers),
		cmocka_unit_test_setup_teardown(test_values_and_escaping, tu_setup, tu_teardown),
		cmocka_unit_test_setup_teardown(test_file_rewritten_by_writer, tu_setup,
						tu_teardown),
		cmocka_unit_test_setup_teardown(test_bad_configuration, tu_setup, tu_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
