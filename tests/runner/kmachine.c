/* kmachine.c - see kmachine.h. */
#include "kmachine.h"
#include <arch/cpu.h>
#include <sim/sim.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <valgrind/valgrind.h>

/* True under a checker that checking mode tells about blocks (ASan, MSan, Valgrind). */
static bool checkers_present(void)
{
#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(memory_sanitizer)
    return true;
#endif
#endif
    return RUNNING_ON_VALGRIND;
}

/* The heap mode $KERNSIM_HEAP_MODE names ("fast" or "checking"), `dflt` when it is
 * unset or empty. False (and *mode untouched) when it names anything else. */
static bool heap_mode_env(enum heap_mode dflt, enum heap_mode *mode)
{
    const char *m = getenv("KERNSIM_HEAP_MODE");
    if (!m || !*m)
        *mode = dflt;
    else if (!strcmp(m, "fast"))
        *mode = HEAP_FAST;
    else if (!strcmp(m, "checking"))
        *mode = HEAP_CHECKING;
    else
        return false;
    return true;
}

const char *kmachine_strerror(enum kmachine_err e)
{
    switch (e) {
    case KMACHINE_OK:
        return "booted";
    case KMACHINE_EBADMODE:
        return "KERNSIM_HEAP_MODE wants fast or checking";
    case KMACHINE_ESIM:
        return "the simulated machine did not start";
    case KMACHINE_EHEAP:
        return "heap_init: the heap was already started";
    case KMACHINE_EFRAMES:
        return "frame_init failed";
    case KMACHINE_EVA:
        return "va_init failed";
    case KMACHINE_ESPACE:
        return "pg_space_adopt of the boot address space failed";
    case KMACHINE_EATTACH:
        return "heap_attach_paging failed";
    }
    return "unknown kmachine error";
}

static enum kmachine_err fail(enum kmachine_err e, const char *detail)
{
    fprintf(stderr, "kernsim: boot: %s%s%s\n", kmachine_strerror(e), detail ? ": " : "",
            detail ? detail : "");
    return e;
}

enum kmachine_err kmachine_boot(const struct kmachine_opts *o, struct kmachine *m)
{
    static const struct kmachine_opts defaults;
    static struct pg_space kernel;
    if (!o)
        o = &defaults;
    /* The mode is settled before anything starts, so a bad value changes nothing. */
    enum heap_mode mode = HEAP_FAST;
    if (o->level == KMACHINE_KERNEL) {
        switch (o->heap) {
        case KMACHINE_HEAP_FAST:
            mode = HEAP_FAST;
            break;
        case KMACHINE_HEAP_CHECKING:
            mode = HEAP_CHECKING;
            break;
        case KMACHINE_HEAP_DEFAULT:
        case KMACHINE_HEAP_ENV_OR_FAST: {
            enum heap_mode dflt =
                o->heap == KMACHINE_HEAP_DEFAULT && checkers_present() ? HEAP_CHECKING : HEAP_FAST;
            if (!heap_mode_env(dflt, &mode))
                return fail(KMACHINE_EBADMODE, getenv("KERNSIM_HEAP_MODE"));
            break;
        }
        }
    }
    struct sim_config cfg = {.ram_size = o->ram_size, .ncpus = o->ncpus};
    if (sim_boot(&cfg) != 0)
        return fail(KMACHINE_ESIM, NULL);
    if (o->no_history)
        sim_set_history(false);
    if (o->level == KMACHINE_KERNEL && !heap_init(mode))
        return fail(KMACHINE_EHEAP, NULL);
    enum pg_err err = PG_OK;
    if (o->level != KMACHINE_SIM) {
        if ((err = frame_init()) != PG_OK)
            return fail(KMACHINE_EFRAMES, pg_strerror(err));
        if ((err = va_init()) != PG_OK)
            return fail(KMACHINE_EVA, pg_strerror(err));
        if ((err = pg_space_adopt(&kernel, arch_read_cr3())) != PG_OK)
            return fail(KMACHINE_ESPACE, pg_strerror(err));
    }
    enum heap_err herr;
    if (o->level == KMACHINE_KERNEL && (herr = heap_attach_paging(&kernel)) != HEAP_OK)
        return fail(KMACHINE_EATTACH, heap_strerror(herr));
    if (m)
        *m = (struct kmachine){o->level, mode, o->level == KMACHINE_SIM ? NULL : &kernel};
    return KMACHINE_OK;
}
