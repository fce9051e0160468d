/* sync/sync.h - the kernel's spinlock and rwlock, and guards for both.
 *
 * spinlock_t is a ticket lock: FIFO-fair, one fetch-add to take it, one store to let
 * go. rwlock_t counts readers per CPU (a read-side section writes only its CPU's
 * cache line) and has one writer flag. It prefers writers: a waiting writer holds new
 * readers back, so a stream of readers cannot starve it. rwlock_init_reader_pref
 * makes one that prefers readers (a writer gets in only when none are in), for read
 * sides that must never wait on a writer that has not yet got the lock. Both tell the machine what
 * they do (arch/lockdep.h), so the sim can name the holder in a deadlock report and check the order
 * of lock classes.
 *
 * Each definition site is a lock class:
 *     static DEFINE_SPINLOCK(dev_lock);
 *     spin_lock_init(&dev->lock);          // class "&dev->lock", one per call site
 *
 * Guards release at scope exit and may run a callback once the lock is dropped:
 *     LOCK_GUARD(g, guard_spin_irqsave(&dev->lock));
 *     ...
 *     guard_defer(&g, wake_waiters, dev);  // runs after the unlock
 */
#ifndef SYNC_SYNC_H
#define SYNC_SYNC_H

#include <arch/cpu.h>
#include <arch/lockdep.h>
#include <arch/types.h>

typedef struct spinlock {
    uint32_t next;  /* next ticket to hand out */
    uint32_t owner; /* ticket being served */
    struct arch_lockdep_map dep;
} spinlock_t;

#define SPINLOCK_INIT_CLASS(lockname, cls)                                                         \
    {                                                                                              \
        0, 0,                                                                                      \
        {                                                                                          \
            lockname, cls                                                                          \
        }                                                                                          \
    }
/* At file scope (the class is a compound literal with static storage). */
#define DEFINE_SPINLOCK(x)                                                                         \
    spinlock_t x = SPINLOCK_INIT_CLASS(#x, &(struct arch_lock_class){.name = #x})
#define spin_lock_init(l)                                                                          \
    do {                                                                                           \
        static struct arch_lock_class cls_ = {#l, 0};                                              \
        spin_lock_init_class((l), #l, &cls_);                                                      \
    } while (0)

/* Before any CPU uses the lock; `name` and `cls` (static storage) name its class. */
void spin_lock_init_class(spinlock_t *l, const char *name, struct arch_lock_class *cls);
/* Any CPU, any context; returns with the lock held, after every earlier holder's
 * critical section (acquire). Waits its turn (FIFO) by spinning; taking it again on
 * the CPU that holds it never returns (lockdep reports it in the sim). It does not
 * disable preemption or interrupts: a lock an interrupt handler also takes wants
 * spin_lock_irqsave. */
void spin_lock(spinlock_t *l);
/* Only by the CPU that holds it (release: its critical section is done before the
 * next holder's). Unlocking a lock nobody holds panics, naming it. */
void spin_unlock(spinlock_t *l);
/* true and held (as spin_lock), or false at once if another CPU holds it or waits for
 * it. Never waits. */
bool spin_trylock(spinlock_t *l);
/* Disable interrupts, then lock; returns the interrupt state to pass to the unlock,
 * which restores it. */
arch_irqflags_t spin_lock_irqsave(spinlock_t *l);
void spin_unlock_irqrestore(spinlock_t *l, arch_irqflags_t flags);
/* A snapshot: someone held it when it was read. For assertions, not decisions. */
bool spin_is_locked(spinlock_t *l);
/* Consistent: holders plus waiters (next - owner) at most the number of CPUs. */
bool spin_valid(spinlock_t *l);

/* Readers count themselves in a per-CPU slot (CPU id modulo RW_SLOTS), so read-side
 * sections on different CPUs write no shared cache line; a writer raises `writer` and
 * waits for every slot to drain. */
#define RW_SLOTS 16

typedef struct rwlock {
    uint32_t writer;          /* 1 while a writer holds the lock or is checking for readers */
    uint32_t writers_waiting; /* writers between rwlock_write_lock's start and getting in */
    bool prefer_writers;
    struct arch_lockdep_map dep;
    struct {
        uint32_t readers;
    } __attribute__((aligned(64))) slot[RW_SLOTS];
} rwlock_t;

#define RWLOCK_INIT_CLASS(lockname, cls, pref)                                                     \
    {                                                                                              \
        0, 0, pref, {lockname, cls},                                                               \
        {                                                                                          \
            {                                                                                      \
                0                                                                                  \
            }                                                                                      \
        }                                                                                          \
    }
#define DEFINE_RWLOCK(x)                                                                           \
    rwlock_t x = RWLOCK_INIT_CLASS(#x, &(struct arch_lock_class){.name = #x}, true)
#define rwlock_init(l)                                                                             \
    do {                                                                                           \
        static struct arch_lock_class cls_ = {#l, 0};                                              \
        rwlock_init_class((l), #l, &cls_, true);                                                   \
    } while (0)
#define rwlock_init_reader_pref(l)                                                                 \
    do {                                                                                           \
        static struct arch_lock_class cls_ = {#l, 0};                                              \
        rwlock_init_class((l), #l, &cls_, false);                                                  \
    } while (0)

/* Before any CPU uses the lock; `name` and `cls` (static storage) name its class. */
void rwlock_init_class(rwlock_t *l, const char *name, struct arch_lock_class *cls,
                       bool prefer_writers);
/* Any CPU; returns with a read hold, after the last writer's critical section
 * (acquire), sharing the lock with other readers. Waits while a writer holds it (and,
 * preferring writers, while one waits). A CPU may not take a read hold it cannot give
 * back on the same CPU: read_unlock counts on the CPU's own slot. */
void read_lock(rwlock_t *l);
/* On the CPU that took the read hold. Panics if that CPU counts no reader. */
void read_unlock(rwlock_t *l);
/* Any CPU; returns alone in the lock, after every earlier reader's and writer's
 * critical section (acquire). Never while holding it for reading (it would wait for
 * itself). */
void write_lock(rwlock_t *l);
/* By the writer. Panics if the lock is not write-locked. */
void write_unlock(rwlock_t *l);
/* As read_lock and write_lock, or false at once (nothing changed) if they would wait. */
bool read_trylock(rwlock_t *l);
bool write_trylock(rwlock_t *l);
/* The same with interrupts disabled first; the unlock restores the state returned. */
arch_irqflags_t read_lock_irqsave(rwlock_t *l);
void read_unlock_irqrestore(rwlock_t *l, arch_irqflags_t flags);
arch_irqflags_t write_lock_irqsave(rwlock_t *l);
void write_unlock_irqrestore(rwlock_t *l, arch_irqflags_t flags);
/* Snapshots (exact when nobody is changing the lock). */
unsigned rwlock_readers(rwlock_t *l);
bool rwlock_writer_held(rwlock_t *l);
unsigned rwlock_writers_waiting(rwlock_t *l);
/* Consistent: the writer flag is 0 or 1 and the counts are within the number of CPUs
 * (with the lock quiescent: no readers while a writer holds it). */
bool rwlock_valid(rwlock_t *l);

/* A held lock that knows how to let go, and what to run afterwards. */
struct lock_guard {
    void (*unlock)(struct lock_guard *g);
    void *lock;
    arch_irqflags_t flags;
    void (*after)(void *arg);
    void *arg;
};

/* Take the lock as spin_lock, read_lock, write_lock or their irqsave forms (same
 * callers, same waits) and return a guard holding it, for LOCK_GUARD. */
struct lock_guard guard_spin(spinlock_t *l);
struct lock_guard guard_spin_irqsave(spinlock_t *l);
struct lock_guard guard_read(rwlock_t *l);
struct lock_guard guard_write(rwlock_t *l);
struct lock_guard guard_write_irqsave(rwlock_t *l);
/* Run fn(arg) once the lock is dropped (one callback per guard; a second replaces it). */
void guard_defer(struct lock_guard *g, void (*fn)(void *), void *arg);
/* Drop the lock (restoring interrupts for the irqsave forms), then run the deferred
 * callback. On the CPU that took it. Releasing twice, or a zeroed guard, is harmless. */
void guard_release(struct lock_guard *g);

/* A guard released when the variable goes out of scope. */
#define LOCK_GUARD(name, init)                                                                     \
    struct lock_guard name __attribute__((cleanup(guard_release), unused)) = init

#endif
