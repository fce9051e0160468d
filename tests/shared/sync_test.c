/* sync_test.c - the spinlock, the rwlock and the guards on one CPU (both builds). */
#include "../ktest/ktest.h"
#include <arch/cpu.h>
#include <sync/sync.h>

static DEFINE_SPINLOCK(test_lock);
static DEFINE_RWLOCK(test_rw);

static void sync_test_spinlock_lock_trylock_unlock(struct ktest *t)
{
    spinlock_t l;
    spin_lock_init(&l);
    KEXPECT_FALSE(t, spin_is_locked(&l));
    spin_lock(&l);
    KEXPECT_TRUE(t, spin_is_locked(&l));
    KEXPECT_FALSE(t, spin_trylock(&l)); /* held: refused at once */
    KEXPECT_TRUE(t, spin_valid(&l));
    spin_unlock(&l);
    KEXPECT_TRUE(t, spin_trylock(&l));
    spin_unlock(&l);
    KEXPECT_FALSE(t, spin_is_locked(&l));
    /* Tickets keep counting through wrap-around. */
    l.next = l.owner = UINT32_MAX;
    spin_lock(&l);
    spin_unlock(&l);
    KEXPECT_EQ(t, l.owner, 0u);
    KEXPECT_TRUE(t, spin_valid(&l));
    l.next = l.owner + 1000; /* more holders and waiters than CPUs */
    KEXPECT_FALSE(t, spin_valid(&l));
}

static void sync_test_irqsave_restores_the_previous_state(struct ktest *t)
{
    bool before = arch_irqs_enabled();
    arch_irqflags_t f = spin_lock_irqsave(&test_lock);
    KEXPECT_FALSE(t, arch_irqs_enabled());
    spin_unlock_irqrestore(&test_lock, f);
    KEXPECT_EQ(t, arch_irqs_enabled(), before);
    f = write_lock_irqsave(&test_rw);
    KEXPECT_FALSE(t, arch_irqs_enabled());
    KEXPECT_TRUE(t, rwlock_writer_held(&test_rw));
    write_unlock_irqrestore(&test_rw, f);
    f = read_lock_irqsave(&test_rw);
    KEXPECT_EQ(t, rwlock_readers(&test_rw), 1u);
    read_unlock_irqrestore(&test_rw, f);
    KEXPECT_EQ(t, arch_irqs_enabled(), before);
    KEXPECT_FALSE(t, spin_is_locked(&test_lock));
}

static int after_calls;
static bool lock_was_free;

static void after_unlock(void *arg)
{
    after_calls++;
    lock_was_free = !spin_is_locked(arg);
}

static void sync_test_guards_release_then_run_the_callback(struct ktest *t)
{
    after_calls = 0;
    {
        LOCK_GUARD(g, guard_spin(&test_lock));
        KEXPECT_TRUE(t, spin_is_locked(&test_lock));
        guard_defer(&g, after_unlock, &test_lock);
        KEXPECT_EQ(t, after_calls, 0); /* not yet */
    }
    KEXPECT_EQ(t, after_calls, 1);
    KEXPECT_TRUE(t, lock_was_free); /* the callback ran after the unlock */
    struct lock_guard g = guard_spin_irqsave(&test_lock);
    guard_release(&g);
    guard_release(&g); /* twice: harmless */
    KEXPECT_FALSE(t, spin_is_locked(&test_lock));
    {
        LOCK_GUARD(r1, guard_read(&test_rw));
        LOCK_GUARD(r2, guard_read(&test_rw));
        KEXPECT_EQ(t, rwlock_readers(&test_rw), 2u);
    }
    {
        LOCK_GUARD(w, guard_write(&test_rw));
        KEXPECT_TRUE(t, rwlock_writer_held(&test_rw));
    }
    KEXPECT_FALSE(t, rwlock_writer_held(&test_rw));
    KEXPECT_EQ(t, rwlock_readers(&test_rw), 0u);
}

static void sync_test_rwlock_readers_share_writers_exclude(struct ktest *t)
{
    rwlock_t l;
    rwlock_init_reader_pref(&l);
    read_lock(&l);
    KEXPECT_TRUE(t, read_trylock(&l));
    KEXPECT_EQ(t, rwlock_readers(&l), 2u);
    KEXPECT_FALSE(t, write_trylock(&l)); /* readers in: no writer */
    read_unlock(&l);
    read_unlock(&l);
    KEXPECT_TRUE(t, write_trylock(&l));
    KEXPECT_FALSE(t, read_trylock(&l)); /* writer in: no reader */
    KEXPECT_FALSE(t, write_trylock(&l));
    KEXPECT_TRUE(t, rwlock_valid(&l));
    write_unlock(&l);
    write_lock(&l);
    write_unlock(&l);
    KEXPECT_EQ(t, rwlock_writers_waiting(&l), 0u);
    KEXPECT_TRUE(t, rwlock_valid(&l));
    l.writer = 2; /* not a flag */
    KEXPECT_FALSE(t, rwlock_valid(&l));
    l.writer = 0;
    l.slot[0].readers = 1000; /* more readers than CPUs */
    KEXPECT_FALSE(t, rwlock_valid(&l));
}

static void sync_test_writer_preference_holds_readers_back(struct ktest *t)
{
    rwlock_t l;
    rwlock_init(&l); /* prefers writers by default */
    KEXPECT_TRUE(t, read_trylock(&l));
    read_unlock(&l);
    l.writers_waiting = 1; /* as while another CPU's write_lock waits */
    KEXPECT_FALSE(t, read_trylock(&l));
    l.writers_waiting = 0;
    rwlock_t r;
    rwlock_init_reader_pref(&r); /* a waiting writer does not stop readers */
    r.writers_waiting = 1;
    KEXPECT_TRUE(t, read_trylock(&r));
    read_unlock(&r);
}

KTEST_SUITE(sync, KTEST_CASE(sync_test_spinlock_lock_trylock_unlock),
            KTEST_CASE(sync_test_irqsave_restores_the_previous_state),
            KTEST_CASE(sync_test_guards_release_then_run_the_callback),
            KTEST_CASE(sync_test_rwlock_readers_share_writers_exclude),
            KTEST_CASE(sync_test_writer_preference_holds_readers_back));
