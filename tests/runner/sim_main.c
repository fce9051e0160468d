/* sim_main.c - the hosted test runner: boot the fake machine, run the registered
 * suites, print KTAP, exit 0 only if every case passed. */
#include "../ktest/ktest.h"
#include <arch/cpu.h>
#include <heap/heap.h>
#include <paging/paging.h>
#include <sim/sim.h>
#include <stdlib.h>
#include <valgrind/valgrind.h>
#include <stdio.h>
#include <string.h>

static void usage(FILE *f, const char *argv0)
{
    fprintf(f,
            "usage: %s [--list] [--filter PATTERN] [--help]\n"
            "  Boots kernsim's simulated machine and runs the registered KTAP suites.\n"
            "  --filter PATTERN  run only \"suite\", \"suite.case\", or a prefix ending in '*'\n"
            "  --list            print suite.case for every registered case and exit\n"
            "  KERNSIM_RAM_MB    simulated RAM in MiB (default 256)\n"
            "  KERNSIM_HEAP_MODE fast|checking (default: checking under a sanitizer or\n"
            "                    Valgrind, fast otherwise)\n"
            "Exit status: 0 all passed, 1 some case failed, 2 bad usage or boot failure.\n",
            argv0);
}

static bool checkers_present(void)
{
#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(memory_sanitizer)
    return true;
#endif
#endif
    return RUNNING_ON_VALGRIND;
}

int main(int argc, char **argv)
{
    const char *filter = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout, argv[0]);
            return 0;
        } else if (!strcmp(argv[i], "--list")) {
            ktest_list();
            return 0;
        } else if (!strcmp(argv[i], "--filter") && i + 1 < argc) {
            filter = argv[++i];
        } else if (!strncmp(argv[i], "--filter=", 9)) {
            filter = argv[i] + 9;
        } else {
            fprintf(stderr, "%s: unknown argument '%s'\n", argv[0], argv[i]);
            usage(stderr, argv[0]);
            return 2;
        }
    }
    if (filter && !*filter) {
        fprintf(stderr, "%s: --filter needs a pattern\n", argv[0]);
        return 2;
    }
    setvbuf(stdout, NULL, _IONBF, 0);
    enum heap_mode mode = checkers_present() ? HEAP_CHECKING : HEAP_FAST;
    const char *m = getenv("KERNSIM_HEAP_MODE");
    if (m && !strcmp(m, "fast"))
        mode = HEAP_FAST;
    else if (m && !strcmp(m, "checking"))
        mode = HEAP_CHECKING;
    else if (m && *m) {
        fprintf(stderr, "%s: KERNSIM_HEAP_MODE=%s: want fast or checking\n", argv[0], m);
        return 2;
    }
    if (sim_boot(NULL) != 0)
        return 2;
    /* Boot the kernel's memory the way the bare kernel does: heap first (on its
     * arena), then paging, then the heap grows through it. */
    static struct pg_space kernel;
    if (!heap_init(mode) || frame_init() != PG_OK || va_init() != PG_OK ||
        pg_space_adopt(&kernel, arch_read_cr3()) != PG_OK || !heap_attach_paging(&kernel)) {
        fprintf(stderr, "%s: the kernel heap or paging did not start\n", argv[0]);
        return 2;
    }
    unsigned ran = 0;
    unsigned failed = ktest_run(filter, &ran);
    if (ran == 0) {
        fprintf(stderr, "%s: no test matched '%s'\n", argv[0], filter ? filter : "");
        return 2;
    }
    return failed ? 1 : 0;
}
