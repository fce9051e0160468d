/* checker_canary.c - a program with one deliberate bug of the kind named on its
 * command line. ctest runs it under each checker and expects the checker's report:
 * proof that a sanitizer or memcheck finding really fails a test. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: checker_canary heap-overflow|signed-overflow\n");
        return 2;
    }
    if (!strcmp(argv[1], "heap-overflow")) {
        volatile char *p = malloc(16);
        int v = p[16]; /* one past the end */
        free((void *)p);
        return v == 12345;
    }
    if (!strcmp(argv[1], "signed-overflow")) {
        volatile int big = 0x7fffffff;
        return big + argc > 0 ? 0 : 1;
    }
    fprintf(stderr, "checker_canary: unknown bug '%s'\n", argv[1]);
    return 2;
}
