// Boost.Context's raw switch (jump_fcontext), the baseline of switch-bench,
// in the two shapes of switch_bench.c's corio__ctx_switch rows:
//  - main <-> coroutine: one context bounces the CPU back to the caller
//    forever; a round trip is two switches;
//  - same site: two contexts run one loop and jump to each other from the
//    same call instruction.
#include <boost/context/detail/fcontext.hpp>

#include <chrono>
#include <cstdlib>

namespace bctx = boost::context::detail;

namespace {

constexpr std::size_t kStackBytes = 64 * 1024;

void bouncer(bctx::transfer_t t)
{
    for (;;)
        t = bctx::jump_fcontext(t.fctx, nullptr);
}

struct same_site {
    long iters;
    bool started;          // the first context has been entered
    bctx::fcontext_t peer; // the second context, before it first runs
};

// Both contexts run this. The first (entered from main) finishes first and
// jumps back to main; the other stays parked and is dropped.
void same_site_entry(bctx::transfer_t t)
{
    same_site *s = static_cast<same_site *>(t.data);
    bctx::fcontext_t back = nullptr, other;
    if (!s->started) {
        s->started = true;
        back = t.fctx;
        other = s->peer;
    } else {
        other = t.fctx; // entered by the first context
    }
    for (long i = 0; i < s->iters; i++) {
        t = bctx::jump_fcontext(other, s);
        other = t.fctx;
    }
    bctx::jump_fcontext(back, nullptr);
    std::abort();
}

double once_same_site(long iters)
{
    char *stack = static_cast<char *>(std::malloc(2 * kStackBytes));
    same_site st{iters, false, nullptr};
    if (!stack)
        std::abort();
    bctx::fcontext_t a = bctx::make_fcontext(stack + kStackBytes, kStackBytes, same_site_entry);
    st.peer = bctx::make_fcontext(stack + 2 * kStackBytes, kStackBytes, same_site_entry);
    auto t0 = std::chrono::steady_clock::now();
    bctx::jump_fcontext(a, &st);
    std::chrono::duration<double> dt = std::chrono::steady_clock::now() - t0;
    std::free(stack);
    return dt.count() * 1e9 / (2.0 * static_cast<double>(iters));
}

double once(long iters)
{
    char *stack = static_cast<char *>(std::malloc(kStackBytes));
    if (!stack)
        std::abort();
    // make_fcontext takes the top of the stack (it grows down).
    bctx::fcontext_t co = bctx::make_fcontext(stack + kStackBytes, kStackBytes, bouncer);
    co = bctx::jump_fcontext(co, nullptr).fctx; // first entry, not timed
    auto t0 = std::chrono::steady_clock::now();
    for (long i = 0; i < iters; i++)
        co = bctx::jump_fcontext(co, nullptr).fctx;
    std::chrono::duration<double> dt = std::chrono::steady_clock::now() - t0;
    std::free(stack); // the context is parked on it forever: just drop it
    return dt.count() * 1e9 / (2.0 * static_cast<double>(iters));
}

} // namespace

extern "C" double switch_boost_fcontext_ns(long iters, int same_site)
{
    return same_site ? once_same_site(iters) : once(iters);
}
