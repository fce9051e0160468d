/* rwlock.c - the reader-writer spinlock.
 *
 * One word: RW_WRITER while a writer holds the lock, plus RW_READER per reader. A
 * reader gets in with one compare-exchange when there is no writer (and, if the lock
 * prefers writers, none waiting); a writer gets in by swapping 0 for RW_WRITER. So the
 * word never shows a writer and readers together. */
#include "sync.h"
#include <arch/atomic.h>

void rwlock_init_class(rwlock_t *l, const char *name, struct arch_lock_class *cls,
                       bool prefer_writers)
{
    *l = (rwlock_t)RWLOCK_INIT_CLASS(name, cls, prefer_writers);
}

static bool read_try_once(rwlock_t *l)
{
    uint32_t w = arch_atomic_load(&l->word, ARCH_RELAXED);
    if (w & RW_WRITER)
        return false;
    if (l->prefer_writers && arch_atomic_load(&l->writers_waiting, ARCH_RELAXED))
        return false;
    return arch_atomic_cmpxchg(&l->word, &w, w + RW_READER, ARCH_ACQUIRE, ARCH_RELAXED);
}

void read_lock(rwlock_t *l)
{
    arch_lock_event(ARCH_LOCK_ACQUIRE, l, &l->dep, ARCH_LOCK_SHARED);
    while (!read_try_once(l))
        arch_cpu_relax();
    arch_lock_event(ARCH_LOCK_ACQUIRED, l, &l->dep, ARCH_LOCK_SHARED);
}

bool read_trylock(rwlock_t *l)
{
    /* A failed compare-exchange against another reader is not "held": retry that. */
    for (;;) {
        uint32_t w = arch_atomic_load(&l->word, ARCH_RELAXED);
        if (w & RW_WRITER || (l->prefer_writers && arch_atomic_load(&l->writers_waiting, ARCH_RELAXED)))
            return false;
        if (arch_atomic_cmpxchg(&l->word, &w, w + RW_READER, ARCH_ACQUIRE, ARCH_RELAXED))
            break;
    }
    arch_lock_event(ARCH_LOCK_ACQUIRED, l, &l->dep, ARCH_LOCK_SHARED | ARCH_LOCK_TRY);
    return true;
}

void read_unlock(rwlock_t *l)
{
    arch_lock_event(ARCH_LOCK_RELEASED, l, &l->dep, ARCH_LOCK_SHARED);
    arch_atomic_fetch_sub(&l->word, RW_READER, ARCH_RELEASE);
}

void write_lock(rwlock_t *l)
{
    arch_lock_event(ARCH_LOCK_ACQUIRE, l, &l->dep, 0);
    arch_atomic_fetch_add(&l->writers_waiting, 1, ARCH_RELAXED);
    for (;;) {
        uint32_t w = 0;
        if (arch_atomic_cmpxchg(&l->word, &w, RW_WRITER, ARCH_ACQUIRE, ARCH_RELAXED))
            break;
        arch_cpu_relax();
    }
    arch_atomic_fetch_sub(&l->writers_waiting, 1, ARCH_RELAXED);
    arch_lock_event(ARCH_LOCK_ACQUIRED, l, &l->dep, 0);
}

bool write_trylock(rwlock_t *l)
{
    uint32_t w = 0;
    if (!arch_atomic_cmpxchg(&l->word, &w, RW_WRITER, ARCH_ACQUIRE, ARCH_RELAXED))
        return false;
    arch_lock_event(ARCH_LOCK_ACQUIRED, l, &l->dep, ARCH_LOCK_TRY);
    return true;
}

void write_unlock(rwlock_t *l)
{
    arch_lock_event(ARCH_LOCK_RELEASED, l, &l->dep, 0);
    arch_atomic_fetch_sub(&l->word, RW_WRITER, ARCH_RELEASE);
}

arch_irqflags_t read_lock_irqsave(rwlock_t *l)
{
    arch_irqflags_t f = arch_irq_save();
    read_lock(l);
    return f;
}

void read_unlock_irqrestore(rwlock_t *l, arch_irqflags_t flags)
{
    read_unlock(l);
    arch_irq_restore(flags);
}

arch_irqflags_t write_lock_irqsave(rwlock_t *l)
{
    arch_irqflags_t f = arch_irq_save();
    write_lock(l);
    return f;
}

void write_unlock_irqrestore(rwlock_t *l, arch_irqflags_t flags)
{
    write_unlock(l);
    arch_irq_restore(flags);
}

unsigned rwlock_readers(rwlock_t *l)
{
    return __atomic_load_n(&l->word, __ATOMIC_RELAXED) / RW_READER;
}

bool rwlock_writer_held(rwlock_t *l)
{
    return __atomic_load_n(&l->word, __ATOMIC_RELAXED) & RW_WRITER;
}

unsigned rwlock_writers_waiting(rwlock_t *l)
{
    return __atomic_load_n(&l->writers_waiting, __ATOMIC_RELAXED);
}

bool rwlock_valid(rwlock_t *l)
{
    uint32_t w = __atomic_load_n(&l->word, __ATOMIC_RELAXED);
    unsigned cpus = arch_cpu_count();
    if ((w & RW_WRITER) && w != RW_WRITER)
        return false; /* a writer and readers at once */
    return w / RW_READER <= cpus && __atomic_load_n(&l->writers_waiting, __ATOMIC_RELAXED) <= cpus;
}

/* ---- guards ---- */

static void unlock_read(struct lock_guard *g)
{
    read_unlock(g->lock);
}

static void unlock_write(struct lock_guard *g)
{
    write_unlock(g->lock);
}

static void unlock_write_irq(struct lock_guard *g)
{
    write_unlock_irqrestore(g->lock, g->flags);
}

struct lock_guard guard_read(rwlock_t *l)
{
    read_lock(l);
    return (struct lock_guard){.unlock = unlock_read, .lock = l};
}

struct lock_guard guard_write(rwlock_t *l)
{
    write_lock(l);
    return (struct lock_guard){.unlock = unlock_write, .lock = l};
}

struct lock_guard guard_write_irqsave(rwlock_t *l)
{
    arch_irqflags_t f = write_lock_irqsave(l);
    return (struct lock_guard){.unlock = unlock_write_irq, .lock = l, .flags = f};
}
