/* heap_canary.c - one deliberate misuse of kernel-heap memory, named on the command
 * line, in checking mode. ctest runs it under each checker and requires the checker's
 * own report: proof that kernel-heap blocks are real to ASan, MSan and memcheck. */
#include <arch/cpu.h>
#include <kmachine.h>
#include <heap/heap.h>
#include <paging/paging.h>
#include <sim/sim.h>
#include <stdio.h>
#include <string.h>

static volatile uint8_t sink;

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: heap_canary uninit-read|overflow|use-after-free|leak\n");
        return 2;
    }
    if (kmachine_boot(&(struct kmachine_opts){.heap = KMACHINE_HEAP_CHECKING}, NULL))
        return 2;
    uint8_t *p = kmalloc(24);
    if (!strcmp(argv[1], "uninit-read")) {
        if (p[3] == 7) /* never written */
            sink = 1;
    } else if (!strcmp(argv[1], "overflow")) {
        p[24] = 1; /* one past the end: the redzone */
    } else if (!strcmp(argv[1], "use-after-free")) {
        kfree(p);
        sink = p[0];
        return 0;
    } else if (!strcmp(argv[1], "leak")) {
        p = NULL; /* the only pointer to the block is gone */
        return 0;
    } else {
        fprintf(stderr, "heap_canary: unknown misuse '%s'\n", argv[1]);
        return 2;
    }
    kfree(p);
    return 0;
}
