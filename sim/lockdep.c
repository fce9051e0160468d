/* lockdep.c - which CPU holds and waits for which lock, and the order of lock classes.
 *
 * A release of a lock the releasing CPU does not hold (a double unlock, an unlock on the
 * wrong CPU, a write unlock of a read hold) is reported at the release, before the lock
 * is corrupted: in a deterministic run it fails the schedule, outside one it panics.
 *
 * Locks report through arch_lock_event (arch/lockdep.h). Each CPU keeps a stack of
 * the locks it holds, with the backtrace of each acquisition. Taking a lock of class
 * B while holding one of class A adds the edge A -> B to a graph of classes; if B
 * already reaches A, the two orders can deadlock, and the first time that is seen an
 * inversion report gives the acquisition backtraces of both orders, whether or not
 * this run deadlocked. In a deterministic run the report fails the schedule. */
#define _GNU_SOURCE
#include "sim_internal.h"
#include "runfail.h"
#include "san.h"
#include <arch/console.h>
#include <arch/cpu.h>
#include <arch/lockdep.h>
#include <arch/panic.h>
#include <pthread.h>
#include <sim/lockdep.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* The kernel's lock operations reach lock_event through this (ARCH_LOCK_HOOK); NULL
 * while lockdep is off. */
void (*volatile sim_lock_hook)(int ev, const void *lock, const struct arch_lockdep_map *map,
                               unsigned flags);

/* ThreadSanitizer must not see the tracker (san_hide): its mutex would order CPUs
 * that the locks themselves do not, hiding races. */

#define MAX_CLASSES  128
#define MAX_HELD     16
#define MAX_CPUS     64
#define MAX_RELEASES 32 /* recent releases remembered, to say where a lock was let go */

struct held {
    const void *lock;
    const struct arch_lockdep_map *map;
    unsigned cls;
    uint32_t stack;
    unsigned flags;
    unsigned irq; /* the CPU's handler depth when it took it: 0 outside handlers */
};

#define MAX_NEST 8 /* handler nesting whose interrupted waits are remembered */

/* How a class has been taken, for the interrupt rules: in a handler (irq-safe) and with
 * interrupts enabled (irq-unsafe), each with where it was first seen so. A write hold in
 * one and any hold in the other can deadlock; two read holds cannot. */
struct usage {
    uint32_t irq_stack, on_stack;
    uint8_t irq_cpu, on_cpu;
    uint8_t irq_mode, on_mode; /* USE_W and USE_R seen */
    bool reported;             /* one interrupt report per class */
};
#define USE_W 1u
#define USE_R 2u

struct edge {
    uint32_t from_stack, to_stack; /* where the held lock and the new one were taken */
    uint8_t cpu;
    bool set;
};

static struct {
    bool no_order;
    unsigned depth; /* frames kept of each acquisition and release, 0 for all */
    pthread_mutex_t mu;
    struct arch_lock_class *classes[MAX_CLASSES + 1];
    unsigned nclasses;
    struct edge edge[MAX_CLASSES + 1][MAX_CLASSES + 1];
    bool reported[MAX_CLASSES + 1][MAX_CLASSES + 1];
    struct {
        struct held held[MAX_HELD];
        const void *wait_lock;
        const struct arch_lockdep_map *wait_map;
        unsigned n;
        uint32_t wait_stack;
        unsigned untracked; /* acquisitions not recorded (held[] was full) */
        unsigned irq;       /* handlers running on it, nested */
        struct {            /* what each interrupted context waited for */
            const void *lock;
            const struct arch_lockdep_map *map;
            uint32_t stack;
        } outer[MAX_NEST];
    } cpu[MAX_CPUS];
    struct usage use[MAX_CLASSES + 1];
    uint8_t used[MAX_CLASSES]; /* classes with a usage since the last reset */
    unsigned nused;
    /* Tracking was off since the last reset: a lock may be held without a record, so a
     * release without one proves nothing. */
    bool partial;
    struct {
        const void *lock;
        uint32_t stack;
        uint8_t cpu;
    } released[MAX_RELEASES];
    unsigned nreleased;
    /* Edges set since the last reset, so a reset clears only those (one per schedule). */
    uint16_t touched[512][2];
    unsigned ntouched;
    bool touched_lost;
    char last[16384];
    size_t len;
} L = {.mu = PTHREAD_MUTEX_INITIALIZER};

static void out(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void out(const char *fmt, ...)
{
    if (L.len + 1 >= sizeof(L.last))
        return;
    va_list ap;
    va_start(ap, fmt);
    int w = vsnprintf(L.last + L.len, sizeof(L.last) - L.len, fmt, ap);
    va_end(ap);
    if (w > 0)
        L.len += (size_t)w < sizeof(L.last) - L.len ? (size_t)w : sizeof(L.last) - L.len - 1;
}

static void out_stack(uint32_t id, const char *indent)
{
    L.len += sim_stack_format(id, indent, L.last + L.len, sizeof(L.last) - L.len);
}

static unsigned class_id(const struct arch_lockdep_map *map)
{
    struct arch_lock_class *c = map ? map->cls : NULL;
    if (!c)
        return 0;
    if (!c->id && L.nclasses < MAX_CLASSES) {
        c->id = ++L.nclasses;
        L.classes[c->id] = c;
    }
    return c->id;
}

static const char *cname(unsigned id)
{
    return id && L.classes[id] && L.classes[id]->name ? L.classes[id]->name : "?";
}

/* A path from `from` to `to` in the class graph: path[0..len) with path[0] = from. */
static unsigned find_path(unsigned from, unsigned to, unsigned *path)
{
    unsigned prev[MAX_CLASSES + 1], queue[MAX_CLASSES + 1], head = 0, tail = 0;
    bool seen[MAX_CLASSES + 1] = {false};
    seen[from] = true, queue[tail++] = from;
    while (head < tail) {
        unsigned u = queue[head++];
        if (u == to) {
            unsigned n = 0, rev[MAX_CLASSES + 1];
            for (unsigned v = to; v != from; v = prev[v])
                rev[n++] = v;
            rev[n++] = from;
            for (unsigned i = 0; i < n; i++)
                path[i] = rev[n - 1 - i];
            return n;
        }
        for (unsigned v = 1; v <= L.nclasses; v++) {
            if (L.edge[u][v].set && !seen[v]) {
                seen[v] = true, prev[v] = u, queue[tail++] = v;
            }
        }
    }
    return 0;
}

/* `now` is where the reporting CPU is: the lock call's caller. */
static void finish_report(uint32_t now)
{
    if (sim_run_active()) {
        pthread_mutex_unlock(&L.mu);
        san_hide(false);
        sim_run_fail(L.last, now); /* does not return */
        san_hide(true);
        pthread_mutex_lock(&L.mu);
    }
    fputs(L.last, stderr);
}

/* A report that must stop the CPU: fail the schedule, or panic outside a run (the lock
 * would be corrupted if the release went on). Called with L.mu held; does not return. */
static __attribute__((noreturn)) void fatal_report(uint32_t now, const char *what)
{
    pthread_mutex_unlock(&L.mu);
    san_hide(false);
    sim_run_fail(L.last, now); /* returns only outside a run */
    fputs(L.last, stderr);
    arch_panic("kernsim lockdep: %s", what);
}

/* `cpu` releases `lock` (flags: ARCH_LOCK_SHARED for a read unlock) but holds no such
 * hold; `mode` is its hold of the lock in the other mode, if any. */
static void bad_release(unsigned cpu, const void *lock, const struct arch_lockdep_map *map,
                        unsigned c, unsigned flags, const struct held *mode, uint32_t now)
{
    const char *name = map && map->name ? map->name : "?";
    bool shared = flags & ARCH_LOCK_SHARED;
    char what[160];
    L.len = 0;
    if (mode)
        ksnprintf(what, sizeof(what), "cpu %u %s '%s' (class %s), which it holds for %s", cpu,
                  shared ? "read-unlocks" : "write-unlocks", name, cname(c),
                  shared ? "writing" : "reading");
    else
        ksnprintf(what, sizeof(what), "cpu %u releases '%s' (class %s)%s, which it does not hold",
                  cpu, name, cname(c), shared ? " as a reader" : "");
    out("kernsim lockdep: bad unlock: %s\n", what);
    out("    released at:\n");
    out_stack(now, "      ");
    if (mode) {
        out("    taken at:\n");
        out_stack(mode->stack, "      ");
    }
    bool held = false;
    for (unsigned o = 0; o < MAX_CPUS; o++) {
        for (unsigned i = 0; i < L.cpu[o].n; i++) {
            const struct held *h = &L.cpu[o].held[i];
            if (h->lock != lock || o == cpu)
                continue;
            out("    cpu %u holds it%s, taken at:\n", o,
                h->flags & ARCH_LOCK_SHARED ? " for reading" : "");
            out_stack(h->stack, "      ");
            held = true;
        }
    }
    for (unsigned k = 0; !mode && k < MAX_RELEASES && k < L.nreleased; k++) {
        unsigned j = (L.nreleased - 1 - k) % MAX_RELEASES;
        if (L.released[j].lock != lock)
            continue;
        out("    %scpu %u last released it at:\n", held ? "" : "no CPU holds it; ",
            L.released[j].cpu);
        out_stack(L.released[j].stack, "      ");
        break;
    }
    fatal_report(now, what);
}

static void check_irq_chain(unsigned safe, unsigned unsafe, uint32_t now);

/* cpu, holding h, is about to take `lock` of class c (stack `now`). */
static void check_order(unsigned cpu, const struct held *h, const struct arch_lockdep_map *map,
                        unsigned c, uint32_t now)
{
    unsigned a = h->cls;
    if (L.no_order || !a || !c || L.edge[a][c].set)
        return;
    unsigned path[MAX_CLASSES + 1], n = a == c ? 0 : find_path(c, a, path);
    if (n && !L.reported[a < c ? a : c][a < c ? c : a]) {
        L.reported[a < c ? a : c][a < c ? c : a] = true;
        L.len = 0;
        out("kernsim lockdep: lock-order inversion between '%s' and '%s'\n", cname(a), cname(c));
        out("  cpu %u takes '%s' (class %s) while holding '%s' (class %s)\n", cpu,
            map->name ? map->name : "?", cname(c), h->map && h->map->name ? h->map->name : "?",
            cname(a));
        out("    '%s' was taken at:\n", cname(a));
        out_stack(h->stack, "      ");
        out("    '%s' is being taken at:\n", cname(c));
        out_stack(now, "      ");
        out("  but the opposite order was seen before:\n");
        for (unsigned i = 0; i + 1 < n; i++) {
            const struct edge *e = &L.edge[path[i]][path[i + 1]];
            out("  cpu %u took '%s' while holding '%s'\n", e->cpu, cname(path[i + 1]),
                cname(path[i]));
            out("    '%s' was taken at:\n", cname(path[i]));
            out_stack(e->from_stack, "      ");
            out("    '%s' was taken at:\n", cname(path[i + 1]));
            out_stack(e->to_stack, "      ");
        }
        finish_report(now);
    }
    L.edge[a][c] = (struct edge){h->stack, now, (uint8_t)cpu, true};
    if (L.use[a].irq_mode & USE_W && L.use[c].on_mode)
        check_irq_chain(a, c, now);
    if (L.ntouched < sizeof(L.touched) / sizeof(L.touched[0]))
        L.touched[L.ntouched][0] = (uint16_t)a, L.touched[L.ntouched++][1] = (uint16_t)c;
    else
        L.touched_lost = true;
}

/* ---- interrupt contexts ---- */

static const char *mode_name(uint8_t m)
{
    return m & USE_W ? "W" : "R";
}

/* Class `safe` is taken in handlers (for writing) and reaches class `unsafe`, taken with
 * interrupts enabled, through held-while-taking edges: a CPU holding `unsafe` with
 * interrupts on, interrupted by a handler that waits for `safe` while another CPU holds
 * `safe` and waits for `unsafe`, deadlocks. Reported once per safe class. */
static void check_irq_chain(unsigned safe, unsigned unsafe, uint32_t now)
{
    unsigned path[MAX_CLASSES + 1], n = find_path(safe, unsafe, path);
    if (!n || L.use[safe].reported)
        return;
    const struct usage *s = &L.use[safe], *u = &L.use[unsafe];
    L.use[safe].reported = true;
    L.len = 0;
    out("kernsim lockdep: irq-safe -> irq-unsafe lock order: '%s' {IN-HARDIRQ-%s} is held while "
        "'%s' {HARDIRQ-ON-%s} is taken\n",
        cname(safe), mode_name(s->irq_mode), cname(unsafe), mode_name(u->on_mode));
    out("  cpu %u took '%s' in an interrupt handler at:\n", s->irq_cpu, cname(safe));
    out_stack(s->irq_stack, "      ");
    for (unsigned i = 0; i + 1 < n; i++) {
        const struct edge *e = &L.edge[path[i]][path[i + 1]];
        out("  cpu %u took '%s' while holding '%s', at:\n", e->cpu, cname(path[i + 1]),
            cname(path[i]));
        out_stack(e->to_stack, "      ");
    }
    out("  cpu %u took '%s' with interrupts enabled at:\n", u->on_cpu, cname(unsafe));
    out_stack(u->on_stack, "      ");
    out("  a CPU holding '%s' with interrupts on can be interrupted by a handler waiting for "
        "'%s', held by a CPU that waits for '%s'\n",
        cname(unsafe), cname(safe), cname(unsafe));
    finish_report(now);
}

/* Class c is taken in a handler and with interrupts enabled: an interrupt that arrives
 * while the CPU holds it waits for itself. */
static void inconsistent(unsigned c, uint32_t now)
{
    const struct usage *u = &L.use[c];
    L.use[c].reported = true;
    L.len = 0;
    out("kernsim lockdep: inconsistent lock state: '%s' {IN-HARDIRQ-%s} -> {HARDIRQ-ON-%s} usage\n",
        cname(c), mode_name(u->irq_mode), mode_name(u->on_mode));
    out("  cpu %u took it in an interrupt handler at:\n", u->irq_cpu);
    out_stack(u->irq_stack, "      ");
    out("  cpu %u took it with interrupts enabled at:\n", u->on_cpu);
    out_stack(u->on_stack, "      ");
    out("  an interrupt on a CPU that holds it with interrupts enabled would wait for itself: "
        "take it with interrupts disabled (spin_lock_irqsave) outside the handler\n");
    finish_report(now);
}

/* Class c was just taken (or held when interrupts went on) by cpu in mode m: in a
 * handler (irq) or with interrupts enabled (on), at `stack`. */
static void note_usage(unsigned cpu, unsigned c, bool irq, bool on, uint8_t m, uint32_t stack)
{
    struct usage *u = &L.use[c];
    bool new_irq = irq && !(u->irq_mode & m), new_on = on && !(u->on_mode & m);
    if (!c || L.no_order || (!new_irq && !new_on))
        return;
    if (!u->irq_mode && !u->on_mode && L.nused < MAX_CLASSES)
        L.used[L.nused++] = (uint8_t)c;
    if (new_irq && !u->irq_mode)
        u->irq_stack = stack, u->irq_cpu = (uint8_t)cpu;
    if (new_on && !u->on_mode)
        u->on_stack = stack, u->on_cpu = (uint8_t)cpu;
    u->irq_mode |= irq ? m : 0;
    u->on_mode |= on ? m : 0;
    if (!u->reported &&
        ((u->irq_mode & USE_W && u->on_mode) || (u->irq_mode && u->on_mode & USE_W)))
        inconsistent(c, stack);
    for (unsigned o = 1; o <= L.nclasses; o++) {
        if (o == c)
            continue;
        if (new_irq && u->irq_mode & USE_W && L.use[o].on_mode)
            check_irq_chain(c, o, stack);
        if (new_on && L.use[o].irq_mode & USE_W)
            check_irq_chain(o, c, stack);
    }
}

void sim_lockdep_irq_enter(unsigned cpu)
{
    if (cpu >= MAX_CPUS)
        return;
    san_hide(true);
    pthread_mutex_lock(&L.mu);
    typeof(L.cpu[0]) *me = &L.cpu[cpu];
    if (me->irq < MAX_NEST) {
        me->outer[me->irq].lock = me->wait_lock;
        me->outer[me->irq].map = me->wait_map;
        me->outer[me->irq].stack = me->wait_stack;
    }
    me->irq++;
    me->wait_lock = NULL, me->wait_map = NULL;
    pthread_mutex_unlock(&L.mu);
    san_hide(false);
}

void sim_lockdep_irq_exit(unsigned cpu)
{
    if (cpu >= MAX_CPUS)
        return;
    san_hide(true);
    pthread_mutex_lock(&L.mu);
    typeof(L.cpu[0]) *me = &L.cpu[cpu];
    if (me->irq && --me->irq < MAX_NEST) {
        me->wait_lock = me->outer[me->irq].lock;
        me->wait_map = me->outer[me->irq].map;
        me->wait_stack = me->outer[me->irq].stack;
    }
    pthread_mutex_unlock(&L.mu);
    san_hide(false);
}

void sim_lockdep_irqs_on(unsigned cpu)
{
    if (cpu >= MAX_CPUS || !sim_lock_hook || !L.cpu[cpu].n)
        return;
    san_hide(true);
    pthread_mutex_lock(&L.mu);
    typeof(L.cpu[0]) *me = &L.cpu[cpu];
    uint32_t now = 0;
    for (unsigned i = 0; i < me->n; i++) {
        const struct held *h = &me->held[i];
        uint8_t m = h->flags & ARCH_LOCK_SHARED ? USE_R : USE_W;
        if (!h->cls || L.use[h->cls].on_mode & m)
            continue;
        if (!now) /* sim_lockdep_irqs_on, the seam's irq enable */
            now = sim_stack_capture_depth(2, L.depth);
        note_usage(cpu, h->cls, false, true, m, now);
    }
    pthread_mutex_unlock(&L.mu);
    san_hide(false);
}

static void lock_event(int ev, const void *lock, const struct arch_lockdep_map *map, unsigned flags)
{
    unsigned cpu = arch_cpu_id();
    if (cpu >= MAX_CPUS)
        return;
    san_hide(true);
    pthread_mutex_lock(&L.mu);
    typeof(L.cpu[0]) *me = &L.cpu[cpu];
    unsigned c = class_id(map);
    switch (ev) {
    case ARCH_LOCK_ACQUIRE: {
        /* lock_event, the lock (arch_lock_event is inlined) */
        uint32_t now = sim_stack_capture_depth(2, L.depth);
        me->wait_lock = lock, me->wait_map = map, me->wait_stack = now;
        /* A handler waiting for a lock that the code it interrupted was still taking
         * (it had its ticket, say) waits behind it, for ever. */
        for (unsigned k = 0; k < me->irq && k < MAX_NEST; k++) {
            if (me->outer[k].lock != lock || (flags & ARCH_LOCK_SHARED))
                continue;
            L.len = 0;
            out("kernsim lockdep: cpu %u takes '%s' (class %s) in an interrupt handler while "
                "the code it interrupted is taking it: it waits for itself (that code should "
                "take it with interrupts disabled: spin_lock_irqsave)\n",
                cpu, map && map->name ? map->name : "?", cname(c));
            out("    the interrupted code is taking it at:\n");
            out_stack(me->outer[k].stack, "      ");
            out("    taken again at:\n");
            out_stack(now, "      ");
            finish_report(now);
        }
        for (unsigned i = 0; i < me->n; i++) {
            const struct held *h = &me->held[i];
            if (h->lock == lock && !(flags & h->flags & ARCH_LOCK_SHARED)) {
                L.len = 0;
                if (me->irq > h->irq)
                    out("kernsim lockdep: cpu %u takes '%s' (class %s) in an interrupt handler "
                        "while the code it interrupted holds it: it waits for itself (that code "
                        "should hold it with interrupts disabled: spin_lock_irqsave)\n",
                        cpu, map && map->name ? map->name : "?", cname(c));
                else
                    out("kernsim lockdep: cpu %u takes '%s' (class %s) again while holding it: "
                        "it waits for itself\n",
                        cpu, map && map->name ? map->name : "?", cname(c));
                out("    first taken at:\n");
                out_stack(h->stack, "      ");
                out("    taken again at:\n");
                out_stack(now, "      ");
                finish_report(now);
            }
            check_order(cpu, h, map, c, now);
        }
        break;
    }
    case ARCH_LOCK_ACQUIRED: {
        uint32_t st = me->wait_lock == lock ? me->wait_stack : sim_stack_capture_depth(2, L.depth);
        me->wait_lock = NULL, me->wait_map = NULL;
        if (me->n < MAX_HELD)
            me->held[me->n++] = (struct held){lock, map, c, st, flags, me->irq};
        else
            me->untracked++;
        note_usage(cpu, c, me->irq && !(flags & ARCH_LOCK_TRY), sim_cpu_irq_on[cpu],
                   flags & ARCH_LOCK_SHARED ? USE_R : USE_W, st);
        break;
    }
    case ARCH_LOCK_RELEASED: {
        /* lock_event, the unlock (arch_lock_event is inlined) */
        uint32_t now = sim_stack_capture_depth(2, L.depth);
        const struct held *mode = NULL;
        unsigned i = me->n;
        while (i-- > 0) {
            const struct held *h = &me->held[i];
            if (h->lock != lock)
                continue;
            if (!(h->flags & ARCH_LOCK_SHARED) == !(flags & ARCH_LOCK_SHARED))
                break;
            mode = h; /* held, but in the other mode */
        }
        if (i < me->n) {
            memmove(&me->held[i], &me->held[i + 1], (me->n - i - 1) * sizeof(struct held));
            me->n--;
        } else if (me->untracked && !mode) {
            me->untracked--; /* perhaps one it took with held[] full */
        } else if (!L.partial || mode) {
            bad_release(cpu, lock, map, c, flags, mode, now);
        }
        unsigned j = L.nreleased++ % MAX_RELEASES;
        L.released[j].lock = lock, L.released[j].stack = now, L.released[j].cpu = (uint8_t)cpu;
        break;
    }
    }
    pthread_mutex_unlock(&L.mu);
    san_hide(false);
}

void sim_lockdep_enable(bool on)
{
    if (on && !sim_lock_hook)
        L.partial = true; /* locks taken while it was off have no record, until a reset */
    sim_lock_hook = on ? lock_event : NULL;
}

/* A deterministic run's CPUs reuse the CPU numbers of the host threads around it: their
 * holds are set aside for the run and given back after it, with the caller's switches. */
static typeof(L.cpu) saved_cpu;
static bool saved_partial, saved_no_order;
static typeof(sim_lock_hook) saved_hook;

void sim_lockdep_run_begin(void)
{
    memcpy(saved_cpu, L.cpu, sizeof(L.cpu));
    saved_partial = L.partial;
    saved_no_order = L.no_order;
    saved_hook = sim_lock_hook;
}

void sim_lockdep_run_end(void)
{
    memcpy(L.cpu, saved_cpu, sizeof(L.cpu));
    L.partial = saved_partial;
    L.no_order = saved_no_order;
    sim_lock_hook = saved_hook;
}

void sim_lockdep_check_order(bool on)
{
    L.no_order = !on;
}

void sim_lockdep_stack_depth(unsigned frames)
{
    L.depth = frames;
}

void sim_lockdep_reset(void)
{
    if (L.touched_lost) {
        memset(L.edge, 0, sizeof(L.edge));
        memset(L.reported, 0, sizeof(L.reported));
    } else {
        for (unsigned i = 0; i < L.ntouched; i++) {
            unsigned a = L.touched[i][0], c = L.touched[i][1];
            L.edge[a][c].set = false;
            L.reported[a < c ? a : c][a < c ? c : a] = false;
        }
    }
    L.ntouched = 0;
    L.touched_lost = false;
    for (unsigned i = 0; i < L.nused; i++)
        memset(&L.use[L.used[i]], 0, sizeof(L.use[0]));
    L.nused = 0;
    for (unsigned i = 0; i < MAX_CPUS; i++)
        L.cpu[i].n = 0, L.cpu[i].wait_lock = NULL, L.cpu[i].wait_map = NULL, L.cpu[i].untracked = 0,
        L.cpu[i].irq = 0;
    L.partial = false;
    L.nreleased = 0;
}

bool sim_lockdep_describe_cpu(unsigned cpu, char *buf, size_t size)
{
    if (cpu >= MAX_CPUS || !size)
        return false;
    size_t len = 0;
    buf[0] = 0;
#define PUT(...)                                                                                   \
    do {                                                                                           \
        if (len + 1 < size) {                                                                      \
            int w_ = snprintf(buf + len, size - len, __VA_ARGS__);                                 \
            len += w_ > 0 ? ((size_t)w_ < size - len ? (size_t)w_ : size - len - 1) : 0;           \
        }                                                                                          \
    } while (0)
    const typeof(L.cpu[0]) *me = &L.cpu[cpu];
    if (me->wait_lock) {
        PUT("    waits for '%s' (class %s)",
            me->wait_map && me->wait_map->name ? me->wait_map->name : "?",
            cname(class_id(me->wait_map)));
        bool held = false;
        for (unsigned o = 0; o < MAX_CPUS; o++) {
            for (unsigned i = 0; i < L.cpu[o].n; i++) {
                const struct held *h = &L.cpu[o].held[i];
                if (h->lock != me->wait_lock)
                    continue;
                PUT("%s held by cpu %u, taken at:\n", held ? "\n     and" : ",", o);
                len += sim_stack_format(h->stack, "        ", buf + len, size - len);
                held = true;
            }
        }
        if (!held)
            PUT(", which no CPU holds\n");
    }
    for (unsigned i = 0; i < me->n; i++) {
        const struct held *h = &me->held[i];
        PUT("    holds '%s' (class %s)%s\n", h->map && h->map->name ? h->map->name : "?",
            cname(h->cls), h->flags & ARCH_LOCK_SHARED ? " for reading" : "");
    }
#undef PUT
    return len > 0;
}
