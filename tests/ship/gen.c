/*
 * gen.c - writes the snapshots that tests/ship/test_ship.sh ships: through libttlog itself
 * (ttlog_init, log calls, ttlog_snapshot), events of every level and field type with
 * hostile text in every place an escape rule applies.
 *
 * usage: gen DIR SERVICE EVENTS SNAPSHOTS [extra]
 * Logs EVENTS events, takes a snapshot, SNAPSHOTS times (each snapshot holds what the ring
 * holds, so later snapshots repeat earlier events: each is its own set of messages).
 * extra (tests/ship/test_pg.sh): every ninth event is followed by one with a string cut to
 * fit its record and non-finite floats.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ttlog/ttlog.h>

static int extra;

static void one(unsigned long i)
{
	ttlog_builder b;

	switch (i % 9) {
	case 0:
		TTLOG_INFO("svc.http", "request {} took {} ms", TTLOG_U64("id", i),
			   TTLOG_F64("ms", 0.1 * (double)i));
		break;
	case 1:
		TTLOG_WARN("db", "slow \"query\" [x] \\ {}", TTLOG_STR("q", "a\"b\\c]d"),
			   TTLOG_I64("neg", -(long long)i));
		break;
	case 2: TTLOG_ERROR("", "empty target {}", TTLOG_BOOL("flag", i % 2 == 0)); break;
	case 3:
		TTLOG_TRACE("t with space", "ctl {}",
			    TTLOG_STR("ctl", "a\nb\tc\x01"
					     "d\x7f"));
		break;
	case 4:
		TTLOG_DEBUG("a.very.long.target.name.that.exceeds.32", "{} {}", TTLOG_BOOL("ok", 1),
			    TTLOG_STR("bad utf8", "\xff\xfe ok \xc3\xa9"));
		break;
	case 5: TTLOG_FATAL("x=y]\"%", "fatal {} end\n", TTLOG_U64("k=v]\"%", 7)); break;
	case 6:
		ttlog_builder_begin(&b, TTLOG_LEVEL_INFO, "builder", "caf\xc3\xa9 {} {}");
		ttlog_builder_u64(&b, "a_field_name_longer_than_thirty_two_bytes", i);
		ttlog_builder_str(&b, "", "empty name");
		ttlog_builder_commit(&b);
		break;
	case 7:
		TTLOG_INFO("-", "no fields, target a dash");
		if (extra)
			TTLOG_WARN("cut", "long {}",
				   TTLOG_STR("s", "0123456789abcdefghijklmnopqrstuvwxyz"
						  "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
						  "0123456789abcdefghijklmnopqrstuvwxyz"),
				   TTLOG_F64("nan", NAN), TTLOG_F64("inf", -INFINITY));
		break;
	default:
		TTLOG_ERROR("db", "{} {} {}", TTLOG_F64("pi", 3.141592653589793),
			    TTLOG_I64("min", -9223372036854775807LL - 1),
			    TTLOG_U64("max", 18446744073709551615ULL));
		break;
	}
}

int main(int argc, char **argv)
{
	ttlog_config cfg;
	unsigned long events, snaps, n = 0;
	char path[4096];
	int rc;

	if (argc != 5 && !(argc == 6 && strcmp(argv[5], "extra") == 0)) {
		fprintf(stderr, "usage: gen DIR SERVICE EVENTS SNAPSHOTS [extra]\n");
		return 2;
	}
	extra = argc == 6;
	events = strtoul(argv[3], NULL, 10);
	snaps = strtoul(argv[4], NULL, 10);
	ttlog_config_default(&cfg);
	cfg.snapshot_dir = argv[1];
	cfg.service = argv[2];
	if (getenv("TTLOG_CAPACITY") == NULL) /* measure.sh: bigger snapshots */
		cfg.capacity = 1u << 16;
	cfg.level = TTLOG_LEVEL_TRACE;
	if ((rc = ttlog_init(&cfg)) != 0) {
		fprintf(stderr, "gen: ttlog_init: %s (%s)\n", ttlog_strerror(rc), ttlog_errmsg());
		return 1;
	}
	for (unsigned long s = 0; s < snaps; s++) {
		for (unsigned long i = 0; i < events; i++)
			one(n++);
		if ((rc = ttlog_snapshot("gen", path, sizeof path)) != 0) {
			fprintf(stderr, "gen: ttlog_snapshot: %s\n", ttlog_strerror(rc));
			return 1;
		}
	}
	ttlog_shutdown();
	return 0;
}
