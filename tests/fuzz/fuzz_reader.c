/*
 * fuzz_reader.c - libFuzzer target for the snapshot reader (core/reader.c), built with
 * clang -fsanitize=fuzzer,address,undefined (examples/examples.mk: make fuzz, make
 * fuzz-quick).
 *
 * An input that starts with the LZ4 frame magic is handed to ttlog_snapshot_open_mem()
 * as a file. Any other input is taken as the CBOR inside: it is wrapped into an LZ4 frame
 * here first, so that the fuzzer's mutations reach the CBOR parser instead of dying on
 * the frame's checksums. A file that opens is then read the way ttlog-view reads it:
 * every accessor, every event, rendered.
 *
 * Beyond the sanitizers it checks the reader's memory contract: what open() allocates
 * while it runs (the peak of live bytes, through the sanitizer allocator's hooks) stays
 * within a constant times the decompressed size, which is itself bounded by the file
 * size (reader.h: 255 times it plus 64 KiB).
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lz4frame.h>
#include <sanitizer/allocator_interface.h>

#include <ttlog/reader.h>

/* Peak live bytes allocated inside the measured window (the calling thread only). */
static _Thread_local int measuring;
static _Thread_local int64_t live, peak;

static void on_malloc(const volatile void *p, size_t n)
{
	(void)p;
	if (measuring && (live += (int64_t)n) > peak)
		peak = live;
}

static void on_free(const volatile void *p)
{
	if (measuring && p != NULL)
		live -= (int64_t)__sanitizer_get_allocated_size((const void *)p);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	__sanitizer_install_malloc_and_free_hooks(on_malloc, on_free);
	return 0;
}

static void consume(ttlog_snapshot_file *s)
{
	ttlog_snapshot_counters c;
	ttlog_event ev;
	char text[256];
	size_t n = 0, sum = 0;

	sum += strlen(ttlog_snapshot_service(s)) + strlen(ttlog_snapshot_hostname(s)) +
	       strlen(ttlog_snapshot_reason(s)) + strlen(ttlog_snapshot_variant(s));
	sum += (size_t)(ttlog_snapshot_pid(s) + ttlog_snapshot_created_ns(s) +
			ttlog_snapshot_capacity(s));
	ttlog_snapshot_get_counters(s, &c);
	while (ttlog_snapshot_next(s, &ev) == 1) {
		n++;
		sum += ttlog_event_render(&ev, text, sizeof text);
		sum += strlen(ev.target) + strlen(ev.file) + strlen(ttlog_level_name(ev.level));
		if (ev.nfields > TTLOG_MAX_FIELDS)
			__builtin_trap();
		for (size_t i = 0; i < ev.nfields; i++) {
			const ttlog_field *f = &ev.fields[i];
			sum += strlen(f->name) + strlen(ttlog_type_name(f->type));
			if (f->type == TTLOG_TYPE_STR && f->v.str.len > 0)
				sum += (unsigned char)f->v.str.ptr[f->v.str.len - 1];
		}
	}
	/* the count open() reports is what iteration yields */
	if (n != ttlog_snapshot_event_count(s))
		__builtin_trap();
	ttlog_snapshot_rewind(s);
	if (n > 0 && ttlog_snapshot_next(s, &ev) != 1)
		__builtin_trap();
	/* gap records: read lazily from the file, each within the events */
	size_t ng = ttlog_snapshot_gap_count(s);
	for (size_t i = 0; i < ng && i < 64; i++) {
		ttlog_gap g;
		if (ttlog_snapshot_gap(s, i, &g) == 0) {
			if (g.index > n)
				__builtin_trap();
			sum += strlen(g.kind) + (size_t)g.count;
		}
	}
	__asm__ volatile("" : : "r"(sum));
}

static int open_measured(const void *p, size_t n, size_t cbor_len)
{
	ttlog_snapshot_file *s = NULL;
	int64_t bound;
	int err;

	live = peak = 0;
	measuring = 1;
	err = ttlog_snapshot_open_mem(p, n, &s);
	measuring = 0;
	/* the decompressed size: known for wrapped CBOR, else the reader's own cap */
	bound = (int64_t)(cbor_len ? cbor_len : 255 * (uint64_t)n + (64 << 10));
	bound = 16 * bound + (16 << 20); /* + LZ4F buffers (4 MiB blocks) */
	if (peak > bound) {
		fprintf(stderr, "fuzz_reader: open of %zu bytes (cbor %zu) allocated %lld bytes at "
			"peak, over the bound %lld\n", n, cbor_len, (long long)peak,
			(long long)bound);
		__builtin_trap();
	}
	if (err == 0) {
		if (s == NULL)
			__builtin_trap();
		consume(s);
		ttlog_snapshot_close(s);
	} else {
		if (s != NULL || err >= 0 || ttlog_reader_errmsg()[0] == '\0')
			__builtin_trap(); /* a failure is a negative errno with a message */
	}
	return err;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t magic[4] = {0x04, 0x22, 0x4d, 0x18};
	LZ4F_preferences_t prefs;
	size_t cap, n;
	void *frame;

	if (size >= 4 && memcmp(data, magic, 4) == 0) {
		open_measured(data, size, 0);
		return 0;
	}
	memset(&prefs, 0, sizeof prefs);
	prefs.frameInfo.contentSize = size;
	prefs.frameInfo.contentChecksumFlag = LZ4F_contentChecksumEnabled;
	cap = LZ4F_compressFrameBound(size, &prefs);
	if ((frame = malloc(cap)) == NULL)
		return 0;
	n = LZ4F_compressFrame(frame, cap, data, size, &prefs);
	if (!LZ4F_isError(n))
		open_measured(frame, n, size > 0 ? size : 1);
	free(frame);
	return 0;
}
