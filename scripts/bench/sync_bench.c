/* sync_bench.c - kernsim's locks and bounded queue beside Concurrency Kit and pthreads,
 * free-running (each simulated CPU a host thread), in one process.
 *
 *   sync_bench [--reps N] [--quick]
 *
 * queue    one producer and one consumer thread move N items through a 1024-cell ring:
 *          mpmc_ring against ck_ring's MPMC functions; items/s
 * rwlock   two threads, each 99 read-side and 1 write-side critical sections per 100
 *          ops: rwlock_t (default, writer-preferring; and reader-preferring) against
 *          pthread_rwlock_t (default) and ck_rwlock_t; ops/s, and ns/op on one thread
 * spin     one thread, uncontended lock+unlock: spinlock_t against ck_spinlock_ticket
 *          and pthread_spinlock_t; ns per pair
 * Each line: "RESULT <what> <impl> <value>" (median of --reps runs), then ratios.
 * Lock tracking (lockdep) is off, as in a kernel built without lock proving. */
#include "bench.h"
#include <kmachine.h>
#include <ck_ring.h>
#include <ck_rwlock.h>
#include <ck_spinlock.h>
#include <pthread.h>
#include <queue/queue.h>
#include <sim/lockdep.h>
#include <sim/sched.h>
#include <sim/sim.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sync/sync.h>
#include <time.h>

#define RING 1024

static long n_items, n_ops;

/* ---- queue ---- */

static struct mpmc_ring kring;
static struct mpmc_cell kcells[RING] __attribute__((aligned(64)));
static ck_ring_t cring;
static ck_ring_buffer_t cbuf[RING];
static int impl;
static _Atomic int go;
static uintptr_t sink;

static void queue_cpu(unsigned cpu, void *ctx)
{
    while (!atomic_load(&go))
        ;
    if (cpu == 0) {
        for (long i = 1; i <= n_items; i++) {
            void *v = (void *)(uintptr_t)i;
            if (impl == 0)
                while (!mpmc_ring_push(&kring, v))
                    ;
            else
                while (!ck_ring_enqueue_mpmc(&cring, cbuf, v))
                    ;
        }
    } else {
        uintptr_t sum = 0;
        for (long i = 0; i < n_items; i++) {
            void *v;
            if (impl == 0)
                while (!mpmc_ring_pop(&kring, &v))
                    ;
            else
                while (!ck_ring_dequeue_mpmc(&cring, cbuf, &v))
                    ;
            sum += (uintptr_t)v;
        }
        sink = sum;
    }
}

static double run_queue(int which)
{
    impl = which;
    if (which == 0 && mpmc_ring_init(&kring, RING, kcells))
        exit(2);
    if (which == 1)
        ck_ring_init(&cring, RING);
    atomic_store(&go, 0);
    double t0 = bench_now();
    atomic_store(&go, 1);
    sim_run_cpus(2, queue_cpu, NULL);
    double t = bench_now() - t0;
    if (which == 0)
        mpmc_ring_destroy(&kring);
    if (sink != (uintptr_t)n_items * (uintptr_t)(n_items + 1) / 2) {
        fprintf(stderr, "sync_bench: the %s queue lost items\n", which ? "ck" : "kernsim");
        exit(1);
    }
    return (double)n_items / t;
}

/* ---- rwlock ---- */

static rwlock_t krw;
static pthread_rwlock_t prw = PTHREAD_RWLOCK_INITIALIZER;
static ck_rwlock_t crw = CK_RWLOCK_INITIALIZER;
static volatile long shared_value;
static long read_sum[2];

static void rw_cpu(unsigned cpu, void *ctx)
{
    long sum = 0;
    while (!atomic_load(&go))
        ;
    for (long i = 0; i < n_ops; i++) {
        bool write = i % 100 == 99;
        switch (impl) {
        case 3: /* kernsim, reader-preferring */
        case 0:
            if (write) {
                write_lock(&krw);
                shared_value++;
                write_unlock(&krw);
            } else {
                read_lock(&krw);
                sum += shared_value;
                read_unlock(&krw);
            }
            break;
        case 1:
            if (write) {
                pthread_rwlock_wrlock(&prw);
                shared_value++;
                pthread_rwlock_unlock(&prw);
            } else {
                pthread_rwlock_rdlock(&prw);
                sum += shared_value;
                pthread_rwlock_unlock(&prw);
            }
            break;
        default:
            if (write) {
                ck_rwlock_write_lock(&crw);
                shared_value++;
                ck_rwlock_write_unlock(&crw);
            } else {
                ck_rwlock_read_lock(&crw);
                sum += shared_value;
                ck_rwlock_read_unlock(&crw);
            }
        }
    }
    read_sum[cpu] = sum;
}

static double run_rw(int which, unsigned threads)
{
    impl = which;
    if (which == 3)
        rwlock_init_reader_pref(&krw);
    else
        rwlock_init(&krw);
    shared_value = 0;
    atomic_store(&go, 0);
    double t0 = bench_now();
    atomic_store(&go, 1);
    sim_run_cpus(threads, rw_cpu, NULL);
    double t = bench_now() - t0;
    if (shared_value != threads * (n_ops / 100)) {
        fprintf(stderr, "sync_bench: rwlock %d lost writes (%ld)\n", which, shared_value);
        exit(1);
    }
    return threads * (double)n_ops / t;
}

/* ---- uncontended spinlock ---- */

static DEFINE_SPINLOCK(ks);

static double run_spin(int which)
{
    static ck_spinlock_ticket_t ck = CK_SPINLOCK_TICKET_INITIALIZER;
    static pthread_spinlock_t ps;
    pthread_spin_init(&ps, PTHREAD_PROCESS_PRIVATE);
    long n = n_ops * 2;
    double t0 = bench_now();
    for (long i = 0; i < n; i++) {
        if (which == 0) {
            spin_lock(&ks);
            shared_value++;
            spin_unlock(&ks);
        } else if (which == 1) {
            ck_spinlock_ticket_lock(&ck);
            shared_value++;
            ck_spinlock_ticket_unlock(&ck);
        } else {
            pthread_spin_lock(&ps);
            shared_value++;
            pthread_spin_unlock(&ps);
        }
    }
    return (bench_now() - t0) / (double)n * 1e9;
}

int main(int argc, char **argv)
{
    int reps = 5;
    bool quick = false;
    if (bench_args(argc, argv, &reps, &quick))
        return 2;
    n_items = quick ? 20000 : 4000000;
    n_ops = quick ? 20000 : 4000000;
    if (kmachine_boot(&(struct kmachine_opts){.level = KMACHINE_SIM, .ncpus = 2}, NULL))
        return 2;
    sim_lockdep_enable(false);
    static const char *qn[] = {"kernsim-mpmc_ring", "ck_ring_mpmc"};
    static const char *rn[] = {"kernsim-rwlock", "pthread_rwlock", "ck_rwlock",
                               "kernsim-rwlock-reader-pref"};
    static const char *sn[] = {"kernsim-spinlock", "ck_spinlock_ticket", "pthread_spinlock"};
    double q[2], r[4], s[3], v[99];
    for (int w = 0; w < 2; w++) {
        for (int k = 0; k < reps; k++)
            v[k] = run_queue(w);
        q[w] = bench_median(v, reps);
        printf("RESULT queue %s %.0f items/s\n", qn[w], q[w]);
    }
    double r1[4];
    for (int w = 0; w < 4; w++) {
        for (int k = 0; k < reps; k++)
            v[k] = run_rw(w, 2);
        r[w] = bench_median(v, reps);
        printf("RESULT rwlock99 %s %.0f ops/s\n", rn[w], r[w]);
        for (int k = 0; k < reps; k++)
            v[k] = run_rw(w, 1);
        r1[w] = bench_median(v, reps);
        printf("RESULT rwlock99-one-thread %s %.2f ns/op\n", rn[w], 1e9 / r1[w]);
    }
    for (int w = 0; w < 3; w++) {
        for (int k = 0; k < reps; k++)
            v[k] = run_spin(w);
        s[w] = bench_median(v, reps);
        printf("RESULT spin %s %.2f ns\n", sn[w], s[w]);
    }
    printf("RATIO queue kernsim/ck_ring %.2fx (target >= 1.0)\n", q[0] / q[1]);
    printf("RATIO rwlock99 kernsim/pthread %.2fx (target >= 2.0)\n", r[0] / r[1]);
    printf("RATIO rwlock99 kernsim/ck_rwlock %.2fx (target >= 1.0)\n", r[0] / r[2]);
    printf("RATIO rwlock99 kernsim-reader-pref/pthread %.2fx, /ck_rwlock %.2fx\n", r[3] / r[1],
           r[3] / r[2]);
    printf("RATIO spin kernsim/ck_ticket %.2fx time, kernsim/pthread_spin %.2fx time\n",
           s[0] / s[1], s[0] / s[2]);
    return 0;
}
