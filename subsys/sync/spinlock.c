/* spinlock.c - the ticket spinlock and the lock guards. */
#include "sync.h"
#include <arch/atomic.h>
#include <arch/panic.h>

void spin_lock_init_class(spinlock_t *l, const char *name, struct arch_lock_class *cls)
{
    *l = (spinlock_t)SPINLOCK_INIT_CLASS(name, cls);
}

void spin_lock(spinlock_t *l)
{
    arch_lock_event(ARCH_LOCK_ACQUIRE, l, &l->dep, 0);
    uint32_t ticket = arch_atomic_fetch_add(&l->next, 1, ARCH_RELAXED);
    /* acquire: pairs with spin_unlock's release of owner = ticket, so the previous
     * holder's critical section happens before ours (the ticket's draw orders nothing) */
    while (arch_atomic_load(&l->owner, ARCH_ACQUIRE) != ticket)
        arch_cpu_relax();
    arch_lock_event(ARCH_LOCK_ACQUIRED, l, &l->dep, 0);
}

void spin_unlock(spinlock_t *l)
{
    arch_lock_event(ARCH_LOCK_RELEASED, l, &l->dep, 0);
    /* Only the holder writes owner: a plain read of it is exact. While anyone holds the
     * lock, next is ahead of owner; equal, nobody does, and one more owner step would
     * serve a ticket no CPU has drawn (the next to take the lock would wait forever).
     * Neither read is a scheduling point: they decide nothing but this check. */
    uint32_t owner = __atomic_load_n(&l->owner, __ATOMIC_RELAXED);
    if (__builtin_expect(__atomic_load_n(&l->next, __ATOMIC_RELAXED) == owner, 0))
        arch_panic("spin_unlock: '%s' is not locked (released twice, or never taken)",
                   l->dep.name ? l->dep.name : "?");
    /* release: the critical section is done before the next holder's acquire load of
     * owner sees its ticket served */
    arch_atomic_store(&l->owner, owner + 1, ARCH_RELEASE);
}

bool spin_trylock(spinlock_t *l)
{
    /* acquire: pairs with spin_unlock's release of owner, as in spin_lock. The
     * compare-exchange below is on next, which no unlock writes: this load is what
     * orders the previous holder's critical section before ours. */
    uint32_t owner = arch_atomic_load(&l->owner, ARCH_ACQUIRE);
    /* Free exactly when the next ticket is the one being served: take that ticket.
     * acquire: nothing of the critical section moves before the ticket is ours */
    if (!arch_atomic_cmpxchg(&l->next, &owner, owner + 1, ARCH_ACQUIRE, ARCH_RELAXED))
        return false;
    arch_lock_event(ARCH_LOCK_ACQUIRED, l, &l->dep, ARCH_LOCK_TRY);
    return true;
}

arch_irqflags_t spin_lock_irqsave(spinlock_t *l)
{
    arch_irqflags_t flags = arch_irq_save();
    spin_lock(l);
    return flags;
}

void spin_unlock_irqrestore(spinlock_t *l, arch_irqflags_t flags)
{
    spin_unlock(l);
    arch_irq_restore(flags);
}

bool spin_is_locked(spinlock_t *l)
{
    return arch_atomic_load(&l->next, ARCH_RELAXED) != arch_atomic_load(&l->owner, ARCH_RELAXED);
}

bool spin_valid(spinlock_t *l)
{
    uint32_t owner = __atomic_load_n(&l->owner, __ATOMIC_RELAXED);
    uint32_t next = __atomic_load_n(&l->next, __ATOMIC_RELAXED);
    return next - owner <= arch_cpu_count();
}

/* ---- guards ---- */

static void unlock_spin(struct lock_guard *g)
{
    spin_unlock(g->lock);
}

static void unlock_spin_irq(struct lock_guard *g)
{
    spin_unlock_irqrestore(g->lock, g->flags);
}

struct lock_guard guard_spin(spinlock_t *l)
{
    spin_lock(l);
    return (struct lock_guard){.unlock = unlock_spin, .lock = l};
}

struct lock_guard guard_spin_irqsave(spinlock_t *l)
{
    arch_irqflags_t f = spin_lock_irqsave(l);
    return (struct lock_guard){.unlock = unlock_spin_irq, .lock = l, .flags = f};
}

void guard_defer(struct lock_guard *g, void (*fn)(void *), void *arg)
{
    g->after = fn;
    g->arg = arg;
}

void guard_release(struct lock_guard *g)
{
    if (!g->unlock)
        return;
    void (*after)(void *) = g->after;
    void *arg = g->arg;
    g->unlock(g);
    *g = (struct lock_guard){0};
    if (after)
        after(arg);
}
