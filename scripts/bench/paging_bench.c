/* paging_bench.c - how fast subsys/paging maps, in the sim.
 *
 * Two settings for each measurement:
 *  - "loaded": the kernel's own address space (CR3), so every PTE store is realised
 *    by the sim with host mmap and every unmap flushes: what a sim user pays;
 *  - "table-only": a second address space that is not loaded, so the numbers are the
 *    mapper's own work on the tables (the part that is the same on hardware).
 * Each number is the median of --reps runs. Page history is off (it takes a backtrace
 * per PTE store). Usage: paging_bench [--quick] [--reps N] */
#include "bench.h"
#include <kmachine.h>
#include <arch/cpu.h>
#include <arch/mem.h>
#include <paging/paging.h>
#include <sim/sim.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void check(struct pg_ret r, const char *what)
{
    if (r.err) {
        fprintf(stderr, "paging_bench: %s: %s (0x%llx)\n", what, pg_strerror(r.err),
                (unsigned long long)r.value);
        exit(1);
    }
}

static struct pg_space *loaded, unloaded; /* loaded: the kernel's, from kmachine_boot */
static int reps = 5;

/* ns per map+unmap of one 4 KiB page, tables kept alive by a neighbour page. */
static double map_unmap_4k(struct pg_space *as, uint64_t va, phys_addr_t pa, int n)
{
    double v[64];
    check(pg_map_range(as, va + ARCH_PAGE_4K, pa + ARCH_PAGE_4K, ARCH_PAGE_4K, ARCH_PAGE_4K,
                       PG_WRITE),
          "neighbour");
    for (int r = 0; r < reps; r++) {
        double t0 = (bench_now() * 1e9);
        for (int i = 0; i < n; i++) {
            check(pg_map(as, PAGE_4K(va), FRAME_4K(pa), PG_WRITE), "map 4k");
            check(pg_unmap(as, PAGE_4K(va)), "unmap 4k");
        }
        v[r] = ((bench_now() * 1e9) - t0) / n;
    }
    check(pg_unmap(as, PAGE_4K(va + ARCH_PAGE_4K)), "neighbour");
    return bench_median(v, reps);
}

static double translate_ns(struct pg_space *as, uint64_t va, phys_addr_t pa, int n)
{
    double v[64];
    check(pg_map(as, PAGE_4K(va), FRAME_4K(pa), PG_WRITE), "map for translate");
    for (int r = 0; r < reps; r++) {
        struct pg_translation tr;
        uint64_t sum = 0;
        double t0 = (bench_now() * 1e9);
        for (int i = 0; i < n; i++) {
            pg_translate(as, va + (uint64_t)(i & 511) * 8, &tr);
            sum += tr.pa;
        }
        v[r] = ((bench_now() * 1e9) - t0) / n;
        if (!sum)
            exit(1);
    }
    check(pg_unmap(as, PAGE_4K(va)), "unmap for translate");
    return bench_median(v, reps);
}

/* ms to map (and separately to unmap) `size` at va with pages of `ps`, range form or
 * a loop of single maps. */
static void map_size(struct pg_space *as, uint64_t va, phys_addr_t pa, uint64_t size, uint64_t ps,
                     bool range, double *map_ms, double *unmap_ms)
{
    double m[64], u[64];
    for (int r = 0; r < reps; r++) {
        double t0 = (bench_now() * 1e9);
        if (range) {
            check(pg_map_range(as, va, pa, size, ps, PG_WRITE), "map range");
        } else {
            for (uint64_t off = 0; off < size; off += ps)
                check(pg_map_range(as, va + off, pa + off, ps, ps, PG_WRITE), "map single");
        }
        double t1 = (bench_now() * 1e9);
        check(pg_unmap_range(as, va, size, ps), "unmap range");
        double t2 = (bench_now() * 1e9);
        m[r] = (t1 - t0) / 1e6;
        u[r] = (t2 - t1) / 1e6;
    }
    *map_ms = bench_median(m, reps);
    *unmap_ms = bench_median(u, reps);
}

int main(int argc, char **argv)
{
    bool quick = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--quick")) {
            quick = true;
        } else if (!strcmp(argv[i], "--reps") && i + 1 < argc && atoi(argv[i + 1]) > 0 &&
                   atoi(argv[i + 1]) <= 64) {
            reps = atoi(argv[++i]);
        } else {
            fprintf(stderr, "usage: %s [--quick] [--reps N (1-64)]\n", argv[0]);
            return 2;
        }
    }
    /* 3 GiB of simulated RAM: a 1 GiB-aligned frame and 1 GiB of contiguous 4K frames. */
    struct kmachine_opts o = {
        .level = KMACHINE_PAGING, .ram_size = UINT64_C(3) << 30, .no_history = true};
    struct kmachine m;
    if (kmachine_boot(&o, &m) || !(loaded = m.space) || pg_space_create(&unloaded, loaded))
        return 1;
    uint64_t gib = quick ? 16 * ARCH_PAGE_2M : ARCH_PAGE_1G;
    struct pg_ret big = frame_alloc(ARCH_PAGE_1G);
    check(big, "a 1 GiB frame");
    struct pg_ret va = va_alloc(ARCH_PAGE_1G, ARCH_PAGE_1G);
    check(va, "1 GiB of virtual space");
    int n = quick ? 1000 : 100000;

    printf("paging_bench: median of %d runs%s; history off\n\n", reps,
           quick ? " (quick sizes)" : "");
    printf("%-44s %14s %14s\n", "", "loaded", "table-only");
    struct pg_space *sp[2] = {loaded, &unloaded};
    double mu[2], tr[2];
    for (int s = 0; s < 2; s++) {
        mu[s] = map_unmap_4k(sp[s], va.value, big.value, n);
        tr[s] = translate_ns(sp[s], va.value, big.value, n);
    }
    printf("%-44s %11.0f ns %11.0f ns\n", "map+unmap one 4 KiB page", mu[0], mu[1]);
    printf("%-44s %11.0f ns %11.0f ns\n", "translate", tr[0], tr[1]);

    double rm[2], ru[2], lm[2], lu[2], m2[2], u2[2], m1[2], u1[2];
    for (int s = 0; s < 2; s++) {
        map_size(sp[s], va.value, big.value, gib, ARCH_PAGE_4K, true, &rm[s], &ru[s]);
        map_size(sp[s], va.value, big.value, gib, ARCH_PAGE_4K, false, &lm[s], &lu[s]);
        map_size(sp[s], va.value, big.value, gib, ARCH_PAGE_2M, true, &m2[s], &u2[s]);
        if (!quick)
            map_size(sp[s], va.value, big.value, gib, ARCH_PAGE_1G, true, &m1[s], &u1[s]);
    }
    const char *g = quick ? "32 MiB" : "1 GiB";
    char label[64];
    snprintf(label, sizeof label, "map %s as 4 KiB pages, range form", g);
    printf("%-44s %11.2f ms %11.2f ms\n", label, rm[0], rm[1]);
    snprintf(label, sizeof label, "map %s as 4 KiB pages, loop of single maps", g);
    printf("%-44s %11.2f ms %11.2f ms\n", label, lm[0], lm[1]);
    printf("%-44s %12.1fx %12.1fx\n", "  range form speed-up", lm[0] / rm[0], lm[1] / rm[1]);
    snprintf(label, sizeof label, "unmap %s of 4 KiB pages (range)", g);
    printf("%-44s %11.2f ms %11.2f ms\n", label, ru[0], ru[1]);
    snprintf(label, sizeof label, "map %s as 2 MiB pages", g);
    printf("%-44s %11.3f ms %11.3f ms\n", label, m2[0], m2[1]);
    if (!quick)
        printf("%-44s %11.3f ms %11.3f ms\n", "map 1 GiB as one 1 GiB page", m1[0], m1[1]);
    if (!frame_valid() || !pg_space_valid(loaded) || !pg_space_valid(&unloaded)) {
        fprintf(stderr, "paging_bench: consistency check failed\n");
        return 1;
    }
    return 0;
}
