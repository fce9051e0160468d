/* heap_early.c - the heap before heap_init (calls are refused) and before paging: it
 * runs on its static arena, and running out of the arena is a clear report and NULL,
 * not corruption. Then paging comes up and the same heap grows. Exit 0 when all of that held (ctest
 * runs it). */
#include <arch/cpu.h>
#include <arch/console.h>
#include <heap/heap.h>
#include <paging/paging.h>
#include <sim/sim.h>
#include <stdio.h>

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "heap_early: %s:%d: %s\n", __FILE__, __LINE__, #c);                    \
            return 1;                                                                              \
        }                                                                                          \
    } while (0)

int main(void)
{
    static void *p[2048];
    static struct pg_space as;
    CHECK(sim_boot(NULL) == 0);
    /* Before heap_init, and before paging, the inline paths have no "ready" test: their
     * tables are all zero there, so these calls go to the slow paths, which refuse
     * them without touching the memory (nothing is mapped at these addresses). */
    void *area0 = (void *)(uintptr_t)0x10000;                          /* area base still 0 */
    void *arena0 = (void *)(uintptr_t)((UINT64_C(1) << 30) + 0x10000); /* arena bias still 0 */
    CHECK(kmalloc(16) == NULL);
    kfree(area0);
    kfree(arena0);
    CHECK(!heap_init((enum heap_mode)2)); /* neither mode: refused, nothing started */
    CHECK(kmalloc(16) == NULL);
    CHECK(heap_init(HEAP_FAST));
    kfree(area0);
    struct heap_stats s;
    heap_get_stats(&s);
    CHECK(s.reports[HEAP_REPORT_NOT_HEAP] == 3);
    CHECK(!heap_init(HEAP_CHECKING)); /* started once */
    void *early = kmalloc(100);
    CHECK(early != NULL);           /* before paging: from the arena */
    CHECK(kmalloc(100000) == NULL); /* large blocks need pages */
    heap_get_stats(&s);
    CHECK(s.reports[HEAP_REPORT_EARLY_OOM] == 1);
    int n = 0;
    while (n < 2048 && (p[n] = kmalloc(2000)) != NULL)
        n++;
    CHECK(n > 0 && n < 2048); /* the arena ran out */
    heap_get_stats(&s);
    CHECK(s.oom >= 2 && heap_valid());
    printf("heap_early: %d 2000-byte blocks fit in the arena before paging\n", n);
    CHECK(frame_init() == PG_OK && va_init() == PG_OK);
    CHECK(pg_space_adopt(&as, arch_read_cr3()) == PG_OK && heap_attach_paging(&as) == HEAP_OK);
    void *more = kmalloc(2000), *big = kmalloc(100000);
    CHECK(more != NULL && big != NULL); /* grows through paging now */
    kfree(big);
    kfree(more);
    while (n > 0)
        kfree(p[--n]);
    kfree(early);
    CHECK(heap_valid());
    printf("heap_early: ok\n");
    return 0;
}
