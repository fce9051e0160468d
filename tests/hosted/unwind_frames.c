/* unwind_frames.c - a deep stack of varied frames for the unwinder to walk, built with
 * -O2 -fomit-frame-pointer (see cmake/hosted.cmake): recursion, alloca, variadic
 * calls, a large frame, and optionally a signal frame at the bottom. */
#include <alloca.h>
#include <signal.h>
#include <stdarg.h>
#include <string.h>

typedef void (*leaf_fn)(void);

static volatile int sink;
static leaf_fn the_leaf;

__attribute__((noinline)) static int frame(int depth);

__attribute__((noinline)) static int with_alloca(int depth)
{
    char *p = alloca((size_t)(depth * 16 + 32));
    memset(p, depth, (size_t)(depth * 16 + 32));
    int r = frame(depth - 1);
    return r + p[depth];
}

__attribute__((noinline)) static int variadic(int depth, ...)
{
    va_list ap;
    va_start(ap, depth);
    int extra = va_arg(ap, int) + va_arg(ap, int);
    va_end(ap);
    return frame(depth - 1) + extra;
}

__attribute__((noinline)) static int big_frame(int depth)
{
    volatile char buf[4096];
    buf[depth] = (char)depth;
    return frame(depth - 1) + buf[depth];
}

__attribute__((noinline)) static int frame(int depth)
{
    if (depth <= 0) {
        the_leaf();
        return sink;
    }
    switch (depth % 4) {
    case 0:
        return with_alloca(depth) + 1;
    case 1:
        return variadic(depth, 1, 2) + 1;
    case 2:
        return big_frame(depth) + 1;
    default:
        return frame(depth - 1) + 1; /* plain recursion */
    }
}

int unwind_frames_run(int depth, leaf_fn leaf)
{
    the_leaf = leaf;
    return frame(depth);
}

static leaf_fn signal_leaf;

static void on_signal(int sig)
{
    (void)sig;
    signal_leaf();
}

static void raise_it(void)
{
    raise(SIGUSR1);
}

/* The leaf runs inside a SIGUSR1 handler at the bottom of the stack. */
int unwind_frames_run_signal(int depth, leaf_fn leaf)
{
    struct sigaction sa, old;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGUSR1, &sa, &old);
    signal_leaf = leaf;
    int r = unwind_frames_run(depth, raise_it);
    sigaction(SIGUSR1, &old, NULL);
    return r;
}
