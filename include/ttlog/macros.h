/*
 * macros.h - the machinery behind TTLOG_INFO() and friends. Included by ttlog.h.
 *
 * A field is a tuple (TYPE, name, value). For each call site the macros build a static
 * callsite (names and types, registered once) and, per call, pack the values into a
 * record on the stack and hand it to ttlog__commit_<size>(): one direct call, no
 * formatting. The fixed-size part of the values is checked against the record at
 * compile time.
 */
#ifndef TTLOG_MACROS_H
#define TTLOG_MACROS_H

extern TTLOG_API int ttlog__runtime_level; /* written by ttlog_set_level/init/shutdown */

#define TTLOG__CAT_(a, b) a##b
#define TTLOG__CAT(a, b) TTLOG__CAT_(a, b)
#define TTLOG__COMMIT TTLOG__CAT(ttlog__commit_, TTLOG_RECORD_SIZE)
TTLOG_API void TTLOG__COMMIT(struct ttlog_callsite *cs, struct ttlog_record *r);

/* per-type pieces: fixed size in the record, type code, packing statement */
#define TTLOG__SIZE_U64 8
#define TTLOG__SIZE_I64 8
#define TTLOG__SIZE_F64 8
#define TTLOG__SIZE_BOOL 1
#define TTLOG__SIZE_STR 1
#define TTLOG__PUT_U64(v) { uint64_t ttlog__v = (uint64_t)(v); ttlog__p = ttlog__put8(ttlog__p, &ttlog__v); }
#define TTLOG__PUT_I64(v) { int64_t ttlog__v = (int64_t)(v); ttlog__p = ttlog__put8(ttlog__p, &ttlog__v); }
#define TTLOG__PUT_F64(v) { double ttlog__v = (double)(v); ttlog__p = ttlog__put8(ttlog__p, &ttlog__v); }
#define TTLOG__PUT_BOOL(v) { *ttlog__p++ = (unsigned char)((v) ? 1 : 0); }
#define TTLOG__PUT_STR(v) { ttlog__p = ttlog__put_str(ttlog__p, (v), &ttlog__avail, &ttlog__r.callsite); }

#define TTLOG__F_SIZE_(t, n, v) + TTLOG__SIZE_##t
#define TTLOG__F_TYPE_(t, n, v) TTLOG_TYPE_##t,
#define TTLOG__F_NAME_(t, n, v) n,
#define TTLOG__F_PUT_(t, n, v) TTLOG__PUT_##t(v)
#define TTLOG__F_SIZE(f) TTLOG__F_SIZE_ f
#define TTLOG__F_TYPE(f) TTLOG__F_TYPE_ f
#define TTLOG__F_NAME(f) TTLOG__F_NAME_ f
#define TTLOG__F_PUT(f) TTLOG__F_PUT_ f

#define TTLOG__NARG_(_1, _2, _3, _4, _5, _6, _7, _8, _9, n, ...) n
#define TTLOG__NARG(...) TTLOG__NARG_(__VA_ARGS__, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0)

/* TTLOG__MAP(m, fields...): m(f) for each field */
#define TTLOG__MAP_1(m, f) m(f)
#define TTLOG__MAP_2(m, f, ...) m(f) TTLOG__MAP_1(m, __VA_ARGS__)
#define TTLOG__MAP_3(m, f, ...) m(f) TTLOG__MAP_2(m, __VA_ARGS__)
#define TTLOG__MAP_4(m, f, ...) m(f) TTLOG__MAP_3(m, __VA_ARGS__)
#define TTLOG__MAP_5(m, f, ...) m(f) TTLOG__MAP_4(m, __VA_ARGS__)
#define TTLOG__MAP_6(m, f, ...) m(f) TTLOG__MAP_5(m, __VA_ARGS__)
#define TTLOG__MAP_7(m, f, ...) m(f) TTLOG__MAP_6(m, __VA_ARGS__)
#define TTLOG__MAP_8(m, f, ...) m(f) TTLOG__MAP_7(m, __VA_ARGS__)

#define TTLOG__LOG(lvl, target, ...) \
	TTLOG__CAT(TTLOG__LOG_, TTLOG__NARG(__VA_ARGS__))(lvl, target, __VA_ARGS__)
#define TTLOG__LOG_1(lvl, target, msg) TTLOG__EMIT(lvl, target, msg, 0, 0, (const char *)0, 0, )
#define TTLOG__LOG_2(lvl, target, msg, ...) \
	TTLOG__EMIT(lvl, target, msg, 1, TTLOG__MAP_1(TTLOG__F_TYPE, __VA_ARGS__), \
		    TTLOG__MAP_1(TTLOG__F_NAME, __VA_ARGS__), \
		    (0 TTLOG__MAP_1(TTLOG__F_SIZE, __VA_ARGS__)), \
		    TTLOG__MAP_1(TTLOG__F_PUT, __VA_ARGS__))
#define TTLOG__LOG_3(lvl, target, msg, ...) \
	TTLOG__EMIT(lvl, target, msg, 2, TTLOG__MAP_2(TTLOG__F_TYPE, __VA_ARGS__), \
		    TTLOG__MAP_2(TTLOG__F_NAME, __VA_ARGS__), \
		    (0 TTLOG__MAP_2(TTLOG__F_SIZE, __VA_ARGS__)), \
		    TTLOG__MAP_2(TTLOG__F_PUT, __VA_ARGS__))
#define TTLOG__LOG_4(lvl, target, msg, ...) \
	TTLOG__EMIT(lvl, target, msg, 3, TTLOG__MAP_3(TTLOG__F_TYPE, __VA_ARGS__), \
		    TTLOG__MAP_3(TTLOG__F_NAME, __VA_ARGS__), \
		    (0 TTLOG__MAP_3(TTLOG__F_SIZE, __VA_ARGS__)), \
		    TTLOG__MAP_3(TTLOG__F_PUT, __VA_ARGS__))
#define TTLOG__LOG_5(lvl, target, msg, ...) \
	TTLOG__EMIT(lvl, target, msg, 4, TTLOG__MAP_4(TTLOG__F_TYPE, __VA_ARGS__), \
		    TTLOG__MAP_4(TTLOG__F_NAME, __VA_ARGS__), \
		    (0 TTLOG__MAP_4(TTLOG__F_SIZE, __VA_ARGS__)), \
		    TTLOG__MAP_4(TTLOG__F_PUT, __VA_ARGS__))
#define TTLOG__LOG_6(lvl, target, msg, ...) \
	TTLOG__EMIT(lvl, target, msg, 5, TTLOG__MAP_5(TTLOG__F_TYPE, __VA_ARGS__), \
		    TTLOG__MAP_5(TTLOG__F_NAME, __VA_ARGS__), \
		    (0 TTLOG__MAP_5(TTLOG__F_SIZE, __VA_ARGS__)), \
		    TTLOG__MAP_5(TTLOG__F_PUT, __VA_ARGS__))
#define TTLOG__LOG_7(lvl, target, msg, ...) \
	TTLOG__EMIT(lvl, target, msg, 6, TTLOG__MAP_6(TTLOG__F_TYPE, __VA_ARGS__), \
		    TTLOG__MAP_6(TTLOG__F_NAME, __VA_ARGS__), \
		    (0 TTLOG__MAP_6(TTLOG__F_SIZE, __VA_ARGS__)), \
		    TTLOG__MAP_6(TTLOG__F_PUT, __VA_ARGS__))
#define TTLOG__LOG_8(lvl, target, msg, ...) \
	TTLOG__EMIT(lvl, target, msg, 7, TTLOG__MAP_7(TTLOG__F_TYPE, __VA_ARGS__), \
		    TTLOG__MAP_7(TTLOG__F_NAME, __VA_ARGS__), \
		    (0 TTLOG__MAP_7(TTLOG__F_SIZE, __VA_ARGS__)), \
		    TTLOG__MAP_7(TTLOG__F_PUT, __VA_ARGS__))
#define TTLOG__LOG_9(lvl, target, msg, ...) \
	TTLOG__EMIT(lvl, target, msg, 8, TTLOG__MAP_8(TTLOG__F_TYPE, __VA_ARGS__), \
		    TTLOG__MAP_8(TTLOG__F_NAME, __VA_ARGS__), \
		    (0 TTLOG__MAP_8(TTLOG__F_SIZE, __VA_ARGS__)), \
		    TTLOG__MAP_8(TTLOG__F_PUT, __VA_ARGS__))

/* The call: compile-time level, then runtime level (a relaxed load: a level change may
 * take effect a few events late), then pack and commit. The level initialises a static
 * object, so it is always a constant expression: a level outside TRACE..FATAL (OFF is
 * only a runtime threshold) is refused at compile time, in C and in C++. It is compared
 * as an int, so that a constant of the program's own enum is no -Wenum-compare error. */
#define TTLOG__EMIT(lvl, target, msg, n, types, names, fixed, puts) \
	do { \
		if ((int)(lvl) >= (int)TTLOG_MIN_LEVEL && \
		    (int)(lvl) >= __atomic_load_n(&ttlog__runtime_level, __ATOMIC_RELAXED)) { \
			static const char *const ttlog__names[] = {names}; \
			static struct ttlog_callsite ttlog__cs = { \
				0, (uint8_t)(lvl), (uint8_t)(n), {types}, (target), (msg), \
				__FILE__, __LINE__, ttlog__names}; \
			struct ttlog_record ttlog__r; \
			unsigned char *ttlog__p = ttlog__r.data; \
			size_t ttlog__avail = TTLOG_PAYLOAD_SIZE - (fixed); \
			TTLOG__STATIC_ASSERT((fixed) <= TTLOG_PAYLOAD_SIZE, \
				       "ttlog: the fields of this event do not fit TTLOG_RECORD_SIZE"); \
			TTLOG__STATIC_ASSERT((int)(lvl) >= (int)TTLOG_LEVEL_TRACE && \
					     (int)(lvl) <= (int)TTLOG_LEVEL_FATAL, \
				"ttlog: an event's level is TTLOG_LEVEL_TRACE..FATAL " \
				"(OFF is a runtime threshold, not a level of an event)"); \
			(void)ttlog__p; \
			(void)ttlog__avail; \
			ttlog__r.callsite = 0; \
			puts \
			TTLOG__COMMIT(&ttlog__cs, &ttlog__r); \
		} \
	} while (0)

#endif /* TTLOG_MACROS_H */
