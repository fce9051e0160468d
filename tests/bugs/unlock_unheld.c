/* unlock_unheld.c - a double unlock outside the scheduler: lockdep reports it at the
 * second release and panics (run with KERNSIM_LOCKDEP=0, the lock's own check panics:
 * the same check the bare kernel has). Either way no later spin_lock waits forever. */
#include "machine.h"
#include <stdio.h>
#include <sync/sync.h>

static DEFINE_SPINLOCK(fw_lock);
static int fw_ready;

__attribute__((noinline)) static void fw_abort(void)
{
    spin_unlock(&fw_lock); /* the bug: fw_load unlocks too */
}

__attribute__((noinline)) static void fw_load(void)
{
    spin_lock(&fw_lock);
    if (!fw_ready)
        fw_abort();
    spin_unlock(&fw_lock);
}

int main(void)
{
    bug_boot();
    fw_load();
    spin_lock(&fw_lock); /* before the fix: waits forever (no other CPU will ever unlock) */
    spin_unlock(&fw_lock);
    return bug_finish("unlock_unheld");
}
