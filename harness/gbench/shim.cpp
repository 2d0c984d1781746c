// shim.cpp - the C++ side of gb.h: Google Benchmark (libbenchmark-dev) driven from C.
#include <benchmark/benchmark.h>

#include <array>
#include <string>
#include <utility>

#include "gb.h"

struct gb_state {
	benchmark::State *s;
};

namespace {

struct entry {
	gb_fn fn;
	void *arg;
	void (*setup)(void *);
	void (*teardown)(void *);
};

constexpr int kMax = 128;
entry entries[kMax];
int nentries;

// Setup/Teardown take plain function pointers: one trampoline per registered benchmark.
template <int N> void setup_tramp(const benchmark::State &)
{
	if (entries[N].setup)
		entries[N].setup(entries[N].arg);
}
template <int N> void teardown_tramp(const benchmark::State &)
{
	if (entries[N].teardown)
		entries[N].teardown(entries[N].arg);
}

using tramp = void (*)(const benchmark::State &);
template <int... I> constexpr auto make_table(std::integer_sequence<int, I...>, bool up)
{
	return std::array<tramp, sizeof...(I)>{(up ? &setup_tramp<I> : &teardown_tramp<I>)...};
}

} // namespace

static const auto setups = make_table(std::make_integer_sequence<int, kMax>{}, true);
static const auto teardowns = make_table(std::make_integer_sequence<int, kMax>{}, false);

extern "C" int gb_register(const char *name, gb_fn fn, void *arg, const int *threads,
			   int nthreads, void (*setup)(void *), void (*teardown)(void *))
{
	if (nentries == kMax)
		return -1;
	int k = nentries++;
	entries[k] = entry{fn, arg, setup, teardown};
	auto *b = benchmark::RegisterBenchmark(name, [k](benchmark::State &s) {
		gb_state st{&s};
		entries[k].fn(&st, entries[k].arg);
	});
	for (int i = 0; i < nthreads; i++)
		b->Threads(threads[i]);
	b->UseRealTime();
	b->Setup(setups[k]);
	b->Teardown(teardowns[k]);
	return 0;
}

extern "C" int gb_keep_running_batch(gb_state *st, size_t n)
{
	return st->s->KeepRunningBatch(static_cast<benchmark::IterationCount>(n));
}

extern "C" int gb_thread_index(gb_state *st)
{
	return st->s->thread_index();
}

extern "C" int gb_threads(gb_state *st)
{
	return st->s->threads();
}

extern "C" void gb_set_items_processed(gb_state *st, int64_t items)
{
	st->s->SetItemsProcessed(items);
}

extern "C" void gb_set_label(gb_state *st, const char *label)
{
	st->s->SetLabel(label);
}

extern "C" void gb_skip_with_error(gb_state *st, const char *msg)
{
	st->s->SkipWithError(msg);
}

extern "C" int gb_main(int argc, char **argv)
{
	benchmark::Initialize(&argc, argv);
	if (benchmark::ReportUnrecognizedArguments(argc, argv))
		return 2;
	benchmark::RunSpecifiedBenchmarks();
	benchmark::Shutdown();
	return 0;
}
