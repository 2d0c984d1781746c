/*
 * plugin_callsites.c - a plugin for tests/test_callsites.c, built as
 * $(B)/tests/plugin_callsites.so. It logs through the libttlog of the program that loads
 * it (the test is linked with -rdynamic), so its callsite and every string of it live in
 * the plugin's own memory, which dlclose() unmaps.
 */
#include <ttlog/ttlog.h>

/* A string of the plugin's .rodata: the test checks that its page is gone after dlclose. */
const char plugin_rodata[] = "plugin read-only data";

void plugin_log(uint64_t v)
{
	TTLOG_WARN("plugin.target", "plugin says {} and {}", TTLOG_U64("plugin_u64", v),
		   TTLOG_STR("plugin_str", "from the plugin"));
}
