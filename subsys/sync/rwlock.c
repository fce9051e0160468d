/* rwlock.c - the reader-writer spinlock with per-CPU reader counts.
 *
 * A reader adds itself to its CPU's slot, then looks at the writer flag; a writer
 * raises the flag, then adds up the slots. Both steps are sequentially consistent,
 * so at least one of the two sees the other (the store-then-load pattern of Dekker's
 * algorithm): a reader that sees the flag takes itself out again and waits; a writer
 * that sees readers either waits for them with the flag up (writer preference: no new
 * reader gets in) or lowers it and tries again later (reader preference). */
#include "sync.h"
#include <arch/atomic.h>
#include <arch/panic.h>

void rwlock_init_class(rwlock_t *l, const char *name, struct arch_lock_class *cls,
                       bool prefer_writers)
{
    *l = (rwlock_t)RWLOCK_INIT_CLASS(name, cls, prefer_writers);
}

static uint32_t *my_slot(rwlock_t *l)
{
    return &l->slot[arch_cpu_id() % RW_SLOTS].readers;
}

/* Slots in use: CPU i counts in slot i % RW_SLOTS. */
static unsigned slots(void)
{
    return arch_cpu_count() < RW_SLOTS ? arch_cpu_count() : RW_SLOTS;
}

static uint32_t readers(rwlock_t *l)
{
    uint32_t n = 0;
    for (unsigned i = 0, k = slots(); i < k; i++)
        /* seq_cst: the writer's half of the Dekker handshake (flag up, then count);
         * its acquire half pairs with read_unlock's release */
        n += arch_atomic_load(&l->slot[i].readers, ARCH_SEQ_CST);
    return n;
}

/* One attempt: in (true), or out again with nothing changed (false). */
static bool read_try_once(rwlock_t *l, uint32_t *slot)
{
    if (l->prefer_writers && arch_atomic_load(&l->writers_waiting, ARCH_RELAXED))
        return false;
    /* seq_cst, both: the reader's half of the Dekker handshake (count, then look at
     * the flag). The load's acquire half pairs with write_unlock's release, so the
     * last writer's critical section happens before ours */
    arch_atomic_fetch_add(slot, 1, ARCH_SEQ_CST);
    if (!arch_atomic_load(&l->writer, ARCH_SEQ_CST))
        return true;
    arch_atomic_fetch_sub(slot, 1, ARCH_RELAXED);
    return false;
}

void read_lock(rwlock_t *l)
{
    uint32_t *slot = my_slot(l);
    arch_lock_event(ARCH_LOCK_ACQUIRE, l, &l->dep, ARCH_LOCK_SHARED);
    while (!read_try_once(l, slot)) {
        while (arch_atomic_load(&l->writer, ARCH_RELAXED) ||
               (l->prefer_writers && arch_atomic_load(&l->writers_waiting, ARCH_RELAXED)))
            arch_cpu_relax();
    }
    arch_lock_event(ARCH_LOCK_ACQUIRED, l, &l->dep, ARCH_LOCK_SHARED);
}

bool read_trylock(rwlock_t *l)
{
    if (!read_try_once(l, my_slot(l)))
        return false;
    arch_lock_event(ARCH_LOCK_ACQUIRED, l, &l->dep, ARCH_LOCK_SHARED | ARCH_LOCK_TRY);
    return true;
}

void read_unlock(rwlock_t *l)
{
    uint32_t *slot = my_slot(l);
    arch_lock_event(ARCH_LOCK_RELEASED, l, &l->dep, ARCH_LOCK_SHARED);
    /* A reader on this CPU counts at least 1 here (others in the slot only add and take
     * back their own): 0 means this CPU holds no read lock, and the decrement would wrap
     * the count, so writers would wait for a reader forever. */
    if (__builtin_expect(!__atomic_load_n(slot, __ATOMIC_RELAXED), 0))
        arch_panic("read_unlock: '%s' has no reader on cpu %u", l->dep.name ? l->dep.name : "?",
                   arch_cpu_id());
    /* release: the read-side critical section is done before a writer whose count
     * of the slots (acquire) sees this decrement */
    arch_atomic_fetch_sub(slot, 1, ARCH_RELEASE);
}

/* Raise the flag (false if another writer has it); then, with readers in, either keep
 * it up and wait for them (writer preference) or lower it and report failure. */
static bool write_try_once(rwlock_t *l, bool wait_for_readers)
{
    uint32_t zero = 0;
    /* seq_cst: the writer's half of the Dekker handshake (with readers()); its
     * acquire half pairs with the last write_unlock's release */
    if (!arch_atomic_cmpxchg(&l->writer, &zero, 1, ARCH_SEQ_CST, ARCH_RELAXED))
        return false;
    if (!readers(l))
        return true;
    if (wait_for_readers) {
        while (readers(l))
            arch_cpu_relax();
        return true;
    }
    arch_atomic_store(&l->writer, 0, ARCH_RELEASE); /* release: we wrote nothing; as unlock */
    return false;
}

void write_lock(rwlock_t *l)
{
    arch_lock_event(ARCH_LOCK_ACQUIRE, l, &l->dep, 0);
    if (write_try_once(l, l->prefer_writers)) { /* uncontended: nobody needs to know */
        arch_lock_event(ARCH_LOCK_ACQUIRED, l, &l->dep, 0);
        return;
    }
    arch_atomic_fetch_add(&l->writers_waiting, 1, ARCH_RELAXED);
    while (!write_try_once(l, l->prefer_writers)) {
        while (arch_atomic_load(&l->writer, ARCH_RELAXED) || (!l->prefer_writers && readers(l)))
            arch_cpu_relax();
    }
    arch_atomic_fetch_sub(&l->writers_waiting, 1, ARCH_RELAXED);
    arch_lock_event(ARCH_LOCK_ACQUIRED, l, &l->dep, 0);
}

bool write_trylock(rwlock_t *l)
{
    if (!write_try_once(l, false))
        return false;
    arch_lock_event(ARCH_LOCK_ACQUIRED, l, &l->dep, ARCH_LOCK_TRY);
    return true;
}

void write_unlock(rwlock_t *l)
{
    arch_lock_event(ARCH_LOCK_RELEASED, l, &l->dep, 0);
    /* The flag is up while a writer holds the lock (or checks for readers): down, no
     * writer holds it. Not a scheduling point, as in spin_unlock. */
    if (__builtin_expect(!__atomic_load_n(&l->writer, __ATOMIC_RELAXED), 0))
        arch_panic("write_unlock: '%s' is not write-locked", l->dep.name ? l->dep.name : "?");
    /* release: the critical section is done before the next reader's or writer's
     * acquiring read of the flag sees it down */
    arch_atomic_store(&l->writer, 0, ARCH_RELEASE);
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
    uint32_t n = 0;
    for (unsigned i = 0; i < RW_SLOTS; i++)
        n += __atomic_load_n(&l->slot[i].readers, __ATOMIC_RELAXED);
    return n;
}

bool rwlock_writer_held(rwlock_t *l)
{
    return __atomic_load_n(&l->writer, __ATOMIC_RELAXED);
}

unsigned rwlock_writers_waiting(rwlock_t *l)
{
    return __atomic_load_n(&l->writers_waiting, __ATOMIC_RELAXED);
}

bool rwlock_valid(rwlock_t *l)
{
    unsigned cpus = arch_cpu_count();
    return __atomic_load_n(&l->writer, __ATOMIC_RELAXED) <= 1 && rwlock_readers(l) <= cpus &&
           __atomic_load_n(&l->writers_waiting, __ATOMIC_RELAXED) <= cpus;
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
