// bl_spdlog.cpp - the spdlog baseline behind a C interface (bench.h: spd_*).
//
// spdlog's async logger as its documentation sets it up for a flight-recorder-like use:
// a thread pool with one worker, the overrun_oldest policy (a full queue evicts its
// oldest message instead of blocking the caller) and a null sink, so what is measured is
// the log call (format the message into a buffer, enqueue it) and the queue, not I/O.
// The caller formats "{}" placeholders in spdlog (fmt); ttlog defers that to the viewer.
#include <spdlog/async.h>
#include <spdlog/sinks/null_sink.h>
#include <spdlog/spdlog.h>

#include <cstdint>
#include <memory>

// the C side's declarations (bench.h is C11 only: ttlog.h uses _Static_assert)
extern "C" {
int spd_init(size_t queue_size);
void spd_log(uint64_t user_id, const char *action, bool success);
uint64_t spd_overrun(void);
void spd_shutdown(void);
}

static std::shared_ptr<spdlog::details::thread_pool> pool;
static std::shared_ptr<spdlog::async_logger> logger;

extern "C" int spd_init(size_t queue_size)
{
	try {
		pool = std::make_shared<spdlog::details::thread_pool>(queue_size, 1);
		auto sink = std::make_shared<spdlog::sinks::null_sink_mt>();
		logger = std::make_shared<spdlog::async_logger>(
			"bench", sink, pool, spdlog::async_overflow_policy::overrun_oldest);
		logger->set_level(spdlog::level::info);
	} catch (...) {
		logger.reset();
		pool.reset();
		return -1;
	}
	return 0;
}

extern "C" void spd_log(uint64_t user_id, const char *action, bool success)
{
	logger->info("User {} did {} ok={}", user_id, action, success);
}

extern "C" uint64_t spd_overrun(void)
{
	return pool ? (uint64_t)pool->overrun_counter() : 0;
}

extern "C" void spd_shutdown(void)
{
	logger.reset();
	pool.reset(); // joins the worker after it drains the queue
}
