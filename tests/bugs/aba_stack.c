/* aba_stack.c - a naive lock-free (Treiber) stack whose nodes are reused at once.
 *
 * pop reads top and top->next, then swings top from the node to next with one
 * compare-exchange. If meanwhile other pops took the node and its successor and a
 * push put the node back, top is the same pointer again and the exchange succeeds,
 * installing a successor that is no longer on the stack: ABA. */
#include "bug_harness.h"
#include <arch/atomic.h>
#include <stdio.h>

#define NODES 3

struct node {
    struct node *next;
};

static struct {
    struct node node[NODES];
    struct node *top;
    int8_t held_by[NODES]; /* which CPU popped it and holds it, -1 if none */
} st;

static int idx(const struct node *n)
{
    return n ? (int)(n - st.node) : -1;
}

static struct node *pop(void)
{
    struct node *top = arch_atomic_load(&st.top, ARCH_ACQUIRE);
    while (top) {
        struct node *next = arch_atomic_load(&top->next, ARCH_RELAXED);
        if (arch_atomic_cmpxchg(&st.top, &top, next, ARCH_ACQ_REL, ARCH_ACQUIRE))
            return top;
    }
    return NULL;
}

static void push(struct node *n)
{
    struct node *top = arch_atomic_load(&st.top, ARCH_RELAXED);
    do
        arch_atomic_store(&n->next, top, ARCH_RELAXED);
    while (!arch_atomic_cmpxchg(&st.top, &top, n, ARCH_RELEASE, ARCH_RELAXED));
}

static void setup(void *ctx)
{
    for (int i = 0; i < NODES; i++) {
        st.node[i].next = i + 1 < NODES ? &st.node[i + 1] : NULL;
        st.held_by[i] = -1;
    }
    st.top = &st.node[0];
}

static void cpu(unsigned me, void *ctx)
{
    if (me == 0) {
        struct node *a = pop();
        if (a)
            st.held_by[idx(a)] = 0;
    } else {
        struct node *a = pop(), *b = pop();
        if (b)
            st.held_by[idx(b)] = 1; /* keeps b */
        if (a)
            push(a); /* and gives a straight back: the reuse */
    }
}

/* Every node is on the stack or held by one CPU, never both. */
static bool check(void *ctx, char *why, size_t n)
{
    int steps = 0;
    for (const struct node *p = st.top; p && steps <= NODES; p = p->next, steps++) {
        if (st.held_by[idx(p)] >= 0) {
            snprintf(why, n, "ABA: node %d is on the stack and held by cpu %d", idx(p),
                     st.held_by[idx(p)]);
            return false;
        }
    }
    if (steps > NODES) {
        snprintf(why, n, "ABA: the stack has a cycle");
        return false;
    }
    return true;
}

static void bug_aba_stack(struct ktest *t)
{
    const struct sim_scenario sc = {.name = "aba_stack",
                                    .ncpus = 2,
                                    .setup = setup,
                                    .cpu = cpu,
                                    .check = check,
                                    .final = check};
    bug_hunt(t, &sc, "ABA: node",
             &(struct bug_hunt){.budget = 20000, .preemptions = 2, .dfs_must_find = true});
}

KTEST_SUITE(bugs_aba_stack, KTEST_CASE(bug_aba_stack));
