/* sim_main.c - the hosted test runner: boot the fake machine, run the registered
 * suites, print KTAP, exit 0 only if every case passed. */
#include "../ktest/ktest.h"
#include "kmachine.h"
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
    /* The kernel's memory boots the way the bare kernel's does: heap first (on its
     * arena), then paging, then the heap grows through it. */
    if (kmachine_boot(NULL, NULL) != KMACHINE_OK)
        return 2;
    unsigned ran = 0;
    unsigned failed = ktest_run(filter, &ran);
    if (ran == 0) {
        fprintf(stderr, "%s: no test matched '%s'\n", argv[0], filter ? filter : "");
        return 2;
    }
    return failed ? 1 : 0;
}
