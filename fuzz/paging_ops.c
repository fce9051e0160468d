/* paging_ops.c - libFuzzer target: subsys/paging against a model.
 *
 * Each input is a list of 4-byte operations on a small part of the kernel VA window
 * where 1 GiB, 2 MiB and 4 KiB slots overlap: allocate/free frames, map (tracked
 * frames, shared or not, or untracked), unmap, protect, translate, real accesses
 * through the fake MMU, and regions (alloc, split, merge, release). A model of the
 * live leaves and frame handles predicts every status and value; any disagreement,
 * a failed consistency check, or anything left behind at the end aborts. */
#include <kmachine.h>
#include <arch/cpu.h>
#include <arch/fault.h>
#include <arch/mem.h>
#include <paging/paging.h>
#include <sim/sim.h>
#include <stdio.h>
#include <stdlib.h>

#define FB        (SIM_KVA_BASE + (UINT64_C(32) << 30)) /* the fuzzed area */
#define MAX_LEAF  64
#define N_FRAMES  8
#define N_REGIONS 4
#define RAM_SIZE  (UINT64_C(64) << 20)

struct leaf {
    uint64_t va, size;
    phys_addr_t pa;
    unsigned flags;
    bool owned, tracked;
};

struct handle {
    phys_addr_t pa;
    uint64_t size;
    bool live;
};

static struct {
    struct leaf leaf[MAX_LEAF];
    unsigned n;
    struct handle fr[N_FRAMES];
    struct pg_region reg[N_REGIONS];
    struct pg_region stale[N_REGIONS]; /* copies made stale by a release, split or merge */
    unsigned n_stale;
} m;

static struct pg_space *as; /* the kernel's, from kmachine_boot */
static struct frame_stats base_stats;
static unsigned step;
static void die(const char *what, uint64_t got, uint64_t want)
{
    fprintf(stderr, "paging_ops: step %u: %s: got 0x%llx, model says 0x%llx\n", step, what,
            (unsigned long long)got, (unsigned long long)want);
    abort();
}

/* Injected failures (frame_fail_after, frame_fail_tables_after) are on: a request the
 * model allows may be refused for want of memory, and must then change nothing. */
static bool injecting_frames, injecting_tables;

struct snapshot {
    struct frame_stats fs;
    uint64_t va_bytes;
};

static struct snapshot snap(void)
{
    struct snapshot s;
    frame_get_stats(&s.fs);
    s.va_bytes = va_allocated_bytes();
    return s;
}

/* A refusal for want of memory: allowed only while failures are injected, and only if
 * it left every frame, table and range as it was. */
static bool refused_unchanged(enum pg_err err, const struct snapshot *before)
{
    struct snapshot now = snap();
    if ((err != PG_ERR_NO_MEMORY && err != PG_ERR_NO_CONTIGUOUS) ||
        !(injecting_frames || injecting_tables))
        return false;
    if (now.fs.free != before->fs.free || now.fs.allocated != before->fs.allocated ||
        now.fs.mapped != before->fs.mapped || now.fs.tables != before->fs.tables ||
        now.va_bytes != before->va_bytes)
        die("a refused request changed the frames or ranges", now.fs.free, before->fs.free);
    return true;
}

static void expect(const char *what, struct pg_ret got, struct pg_ret want)
{
    if (got.err != want.err) {
        fprintf(stderr, "paging_ops: %s: %s vs model %s\n", what, pg_strerror(got.err),
                pg_strerror(want.err));
        die(what, got.err, want.err);
    }
    if (got.err != PG_OK && got.value != want.value)
        die(what, got.value, want.value);
}

static struct pg_ret R(enum pg_err e, uint64_t v) {
    return (struct pg_ret){e, v};
}

/* ---- model queries ---- */

static struct leaf *
covering(uint64_t va)
{
    for (unsigned i = 0; i < m.n; i++) {
        if (va - m.leaf[i].va < m.leaf[i].size)
            return &m.leaf[i];
    }
    return NULL;
}

/* The lowest leaf intersecting [lo, hi). */
static struct leaf *first_in(uint64_t lo, uint64_t hi)
{
    struct leaf *best = NULL;
    for (unsigned i = 0; i < m.n; i++) {
        struct leaf *l = &m.leaf[i];
        if (l->va < hi && lo < l->va + l->size && (!best || l->va < best->va))
            best = l;
    }
    return best;
}

static unsigned map_count(phys_addr_t f)
{
    unsigned c = 0;
    for (unsigned i = 0; i < m.n; i++) {
        if (m.leaf[i].tracked && f - m.leaf[i].pa < m.leaf[i].size)
            c++;
    }
    return c;
}

static bool frame_allocated(phys_addr_t f)
{
    for (unsigned i = 0; i < N_FRAMES; i++) {
        if (m.fr[i].live && f - m.fr[i].pa < m.fr[i].size)
            return true;
    }
    for (unsigned i = 0; i < m.n; i++) {
        if (m.leaf[i].owned && f - m.leaf[i].pa < m.leaf[i].size)
            return true;
    }
    return false;
}

/* A leaf that owns f (a region's page): nobody else may map f. */
static bool owned_by_leaf(phys_addr_t f)
{
    for (unsigned i = 0; i < m.n; i++) {
        if (m.leaf[i].owned && f - m.leaf[i].pa < m.leaf[i].size)
            return true;
    }
    return false;
}

/* The lowest frame in [pa, pa+size) that the allocator handed out (a live handle's, a
 * region's), or pa + size. */
static phys_addr_t first_allocated(phys_addr_t pa, uint64_t size)
{
    phys_addr_t lo = pa + size;
    for (unsigned i = 0; i < N_FRAMES; i++) {
        const struct handle *h = &m.fr[i];
        if (h->live && h->pa < pa + size && pa < h->pa + h->size)
            lo = h->pa > pa ? (h->pa < lo ? h->pa : lo) : pa;
    }
    for (unsigned i = 0; i < m.n; i++) {
        const struct leaf *l = &m.leaf[i];
        if (l->owned && l->pa < pa + size && pa < l->pa + l->size)
            lo = l->pa > pa ? (l->pa < lo ? l->pa : lo) : pa;
    }
    return lo;
}

static void remove_leaf(struct leaf *l)
{
    *l = m.leaf[--m.n];
}

static struct pg_ret model_map(uint64_t va, phys_addr_t pa, uint64_t n, uint64_t ps, unsigned fl)
{
    uint64_t size = n * ps;
    if (!n)
        return R(PG_ERR_ZERO_SIZE, va);
    if (!ARCH_IS_ALIGNED(va, ps) || !ARCH_IS_ALIGNED(pa, ps))
        return R(PG_ERR_MISALIGNED, va);
    if ((fl & PG_WRITE) && (fl & PG_EXEC) && !(fl & PG_ALLOW_WX))
        return R(PG_ERR_WRITE_EXEC, va);
    for (uint64_t p = va; p < va + size; p += ps) {
        struct leaf *big = covering(p);
        if (big && big->size > ps)
            return R(PG_ERR_PARENT_HUGE, big->pa);
        struct leaf *in = first_in(p, p + ps);
        if (in)
            return R(PG_ERR_PAGE_ALREADY_MAPPED, in->pa);
    }
    if (fl & PG_UNTRACKED) { /* a device mapping must not cover RAM, nor any one's frames */
        if ((fl & PG_UNCACHED) && pa < RAM_SIZE)
            return R(PG_ERR_INVALID_FRAME, pa);
        phys_addr_t a = first_allocated(pa, size);
        return a < pa + size ? R(PG_ERR_INVALID_FRAME, a) : R(PG_OK, va);
    }
    for (phys_addr_t f = pa; f < pa + size; f += ARCH_PAGE_4K) {
        if (!frame_allocated(f))
            return R(PG_ERR_INVALID_FRAME, f);
        if ((map_count(f) && !(fl & PG_SHARED)) || owned_by_leaf(f))
            return R(PG_ERR_FRAME_ALREADY_MAPPED, f);
    }
    return R(PG_OK, va);
}

static struct pg_ret model_unmap(uint64_t va, uint64_t n, uint64_t ps)
{
    if (!n)
        return R(PG_ERR_ZERO_SIZE, va);
    if (!ARCH_IS_ALIGNED(va, ps))
        return R(PG_ERR_MISALIGNED, va);
    for (uint64_t p = va; p < va + n * ps; p += ps) {
        struct leaf *l = covering(p);
        if (l && l->size > ps)
            return R(PG_ERR_PARENT_HUGE, l->pa);
        if (l && l->size == ps)
            continue; /* an owned leaf's frames are mapped by it alone */
        struct leaf *in = first_in(p, p + ps);
        /* Nothing at p: absent at whichever level the walk stops. Smaller pages: a table. */
        if (!in)
            return R(PG_ERR_PAGE_NOT_MAPPED, p);
        return R(PG_ERR_COUNT_MISMATCH, p);
    }
    return R(PG_OK, va);
}

static struct pg_ret model_protect(uint64_t va, uint64_t size, unsigned fl)
{
    if (!size)
        return R(PG_ERR_ZERO_SIZE, va);
    if ((fl & PG_WRITE) && (fl & PG_EXEC) && !(fl & PG_ALLOW_WX))
        return R(PG_ERR_WRITE_EXEC, va);
    for (uint64_t x = va; x < va + size;) {
        struct leaf *l = covering(x);
        if (!l)
            return R(PG_ERR_PAGE_NOT_MAPPED, x);
        if (l->va < va || l->va + l->size > va + size)
            return R(PG_ERR_PARENT_HUGE, l->pa);
        x = l->va + l->size;
    }
    return R(PG_OK, va);
}

/* ---- decoding ---- */

static uint64_t page_size(unsigned sel)
{
    static const uint64_t sizes[] = {ARCH_PAGE_4K, ARCH_PAGE_4K, ARCH_PAGE_2M, ARCH_PAGE_1G};
    return sizes[sel & 3];
}

/* Slots that overlap: 1G slots 0-1, 2M slots 0-7, 4K slots in the first two 2M. */
static uint64_t slot_va(uint64_t ps, unsigned sel)
{
    if (ps == ARCH_PAGE_1G)
        return FB + (sel & 1) * ARCH_PAGE_1G;
    if (ps == ARCH_PAGE_2M)
        return FB + (sel & 7) * ARCH_PAGE_2M;
    return FB + ((sel >> 4) & 1) * ARCH_PAGE_2M + (sel & 15) * ARCH_PAGE_4K;
}

static unsigned flags_of(unsigned sel)
{
    return ((sel & 1) ? PG_WRITE : 0) | ((sel & 2) ? PG_EXEC : 0) | ((sel & 4) ? PG_SHARED : 0);
}

static void check_leaf_access(struct leaf *l, uint8_t tag)
{
    uint64_t va = l->va + ((uint64_t)tag * 8 % l->size);
    uint64_t v;
    struct arch_fault f;
    bool ok = arch_probe_read64((void *)(uintptr_t)va, &v, &f);
    if (!arch_phys_is_ram(l->pa + (va - l->va), 8)) { /* an untracked leaf past RAM */
        if (ok || f.reason != ARCH_FAULT_NO_BACKING)
            die("access to a frame beyond RAM did not fault as 'not RAM'", ok, 0);
        return;
    }
    if (!ok)
        die("read through a live leaf faulted", f.reason, 0);
    if (v != *(volatile uint64_t *)arch_phys_to_virt(l->pa + (va - l->va)))
        die("read through a leaf differs from its frame", va, l->pa);
    ok = arch_probe_write64((void *)(uintptr_t)va, v, &f);
    if (ok != ((l->flags & PG_WRITE) != 0))
        die("write permission differs from the model", ok, l->flags & PG_WRITE);
}

static void op_map(const uint8_t *op)
{
    uint64_t ps = page_size(op[1] >> 6);
    uint64_t va =
        slot_va(ps, op[1]) + ((op[3] & 0x80) ? ARCH_PAGE_4K : 0); /* sometimes misaligned */
    uint64_t n = (op[3] >> 5) & 3;
    unsigned fl = flags_of(op[3]);
    phys_addr_t pa;
    struct handle *h = &m.fr[op[2] % N_FRAMES];
    if ((op[2] & 0xf8) == 0xf8) {
        /* Not the allocator's: from frame 0 (refused over what it handed out), or past
         * RAM; sometimes as a device (refused over RAM). */
        fl |= PG_UNTRACKED | ((op[2] & 1) ? PG_UNCACHED : 0);
        pa = (op[2] & 2) ? ARCH_PAGE_1G : 0;
    } else {
        pa = h->pa + (uint64_t)((op[2] >> 3) & 1) * ps; /* sometimes past the handle */
    }
    if (!h->pa && !(fl & PG_UNTRACKED))
        pa = UINT64_C(1) << 40; /* never allocated: not RAM at all */
    struct pg_ret want = model_map(va, pa, n, ps, fl);
    struct snapshot before = snap();
    struct pg_ret got = pg_map_range(as, va, pa, n * ps, ps, fl);
    if (!want.err && injecting_tables && got.err == PG_ERR_NO_MEMORY &&
        refused_unchanged(got.err, &before))
        return; /* its tables were not to be had */
    expect("map", got, want);
    for (uint64_t k = 0; got.err == PG_OK && k < n; k++) {
        if (m.n == MAX_LEAF)
            abort(); /* cannot happen: slots are fewer than MAX_LEAF */
        m.leaf[m.n++] =
            (struct leaf){va + k * ps, ps, pa + k * ps, fl, false, !(fl & PG_UNTRACKED)};
    }
}

static void op_unmap(const uint8_t *op)
{
    uint64_t ps = page_size(op[1] >> 6);
    uint64_t va = slot_va(ps, op[1]), n = op[3] & 3;
    struct pg_ret want = model_unmap(va, n, ps);
    expect("unmap", pg_unmap_range(as, va, n * ps, ps), want);
    if (want.err)
        return;
    for (uint64_t p = va; p < va + n * ps; p += ps)
        remove_leaf(covering(p));
}

static void op_protect(const uint8_t *op)
{
    uint64_t ps = page_size(op[1] >> 6);
    uint64_t va = slot_va(ps, op[1]), size = ((op[3] & 3) + (op[3] & 4 ? 0 : 1)) * ps;
    unsigned fl = flags_of(op[2]) & (PG_WRITE | PG_EXEC);
    if (ps == ARCH_PAGE_1G && (op[3] & 8))
        size = ARCH_PAGE_2M; /* part of a 1 GiB leaf */
    struct pg_ret want = model_protect(va, size, fl);
    expect("protect", pg_protect_range(as, va, size, fl), want);
    for (uint64_t x = va; want.err == PG_OK && x < va + size;) {
        struct leaf *l = covering(x);
        l->flags = (l->flags & ~(PG_WRITE | PG_EXEC)) | fl;
        x = l->va + l->size;
    }
}

static void op_translate_and_access(const uint8_t *op)
{
    uint64_t ps = page_size(op[1] >> 6);
    uint64_t va = slot_va(ps, op[1]) + op[2] * 8;
    struct pg_translation tr;
    struct pg_ret got = pg_translate(as, va, &tr);
    struct leaf *l = covering(va);
    expect("translate", got, l ? R(PG_OK, 0) : R(PG_ERR_PAGE_NOT_MAPPED, va));
    if (!l) {
        uint64_t v;
        if (arch_probe_read64((void *)(uintptr_t)va, &v, NULL))
            die("read of an unmapped page succeeded", va, 0);
        return;
    }
    if (tr.pa != l->pa + (va - l->va) || tr.page_size != l->size ||
        (tr.flags & (PG_WRITE | PG_EXEC)) != (l->flags & (PG_WRITE | PG_EXEC)) ||
        tr.owned != l->owned)
        die("translation differs from the model", tr.pa, l->pa + (va - l->va));
    check_leaf_access(l, op[3]);
}

static void op_frames(const uint8_t *op)
{
    struct handle *h = &m.fr[op[1] % N_FRAMES];
    if ((op[2] & 0xe0) == 0xe0) { /* inject failures: of frames, or of page tables */
        uint64_t n = (op[3] & 0x80) ? UINT64_MAX : op[3] % 4;
        if (op[3] & 0x40)
            frame_fail_tables_after(n), injecting_tables = n != UINT64_MAX;
        else
            frame_fail_after(n), injecting_frames = n != UINT64_MAX;
        return;
    }
    if (op[2] & 1) { /* free */
        if (!h->pa)
            return;
        /* The allocator knows states, not owners: a stale handle whose frame went to
         * someone else frees it. The model predicts from the frames' states. */
        enum pg_err want = PG_OK;
        for (phys_addr_t f = h->pa; f < h->pa + h->size && !want; f += ARCH_PAGE_4K) {
            if (!frame_allocated(f))
                want = PG_ERR_FRAME_NOT_ALLOCATED;
        }
        for (phys_addr_t f = h->pa; f < h->pa + h->size && !want; f += ARCH_PAGE_4K) {
            if (map_count(f))
                want = PG_ERR_FRAME_IN_USE;
        }
        enum pg_err got = frame_free(h->pa, h->size);
        if (got != want)
            die("frame_free", got, want);
        for (unsigned i = 0; !got && i < N_FRAMES; i++) {
            struct handle *o = &m.fr[i];
            if (o->live && o->pa < h->pa + h->size && h->pa < o->pa + o->size)
                o->live = false;
        }
        return;
    }
    if (h->live)
        return;
    uint64_t size = op[3] % 16 == 0 ? ARCH_PAGE_1G : op[3] % 4 == 0 ? ARCH_PAGE_2M : ARCH_PAGE_4K;
    struct snapshot before = snap();
    struct pg_ret r = frame_alloc(size);
    if (r.err == PG_OK)
        *h = (struct handle){r.value, size, true};
    else if ((size != ARCH_PAGE_1G || r.err != PG_ERR_NO_CONTIGUOUS) &&
             !(injecting_frames && refused_unchanged(r.err, &before)))
        die("frame_alloc failed", r.err, 0);
}

static void drop_region_leaves(const struct pg_region *r)
{
    for (uint64_t p = r->va; p < r->va + r->size; p += r->page_size)
        remove_leaf(covering(p));
}

/* A copy of a region struct, kept from before the call that made it stale. */
static void keep_stale(const struct pg_region *r)
{
    m.stale[m.n_stale++ % N_REGIONS] = *r;
}

/* Every call through a stale handle is refused and changes nothing. */
static void use_stale(const struct pg_region *st)
{
    struct pg_region copy = *st, tail = {0}, other = m.reg[0];
    struct frame_stats before, after;
    struct pg_view v;
    frame_get_stats(&before);
    uint64_t va_before = va_allocated_bytes();
    if (pg_region_live(&copy))
        die("a stale handle names a live region", copy.id, 0);
    if (pg_region_release(&copy) != PG_ERR_RELEASED ||
        pg_view_get(&copy, 0, 8, 8, false, &v) != PG_ERR_RELEASED ||
        pg_region_split(&copy, copy.page_size, &tail) != PG_ERR_RELEASED ||
        (pg_region_live(&other) && pg_region_merge(&other, &copy) != PG_ERR_RELEASED))
        die("a stale handle was not refused", copy.id, copy.va);
    frame_get_stats(&after);
    if (after.free != before.free || after.mapped != before.mapped ||
        va_allocated_bytes() != va_before || copy.id != st->id)
        die("a refused stale handle changed something", after.free, before.free);
}

static void op_region(const uint8_t *op)
{
    struct pg_region *r = &m.reg[op[1] % N_REGIONS];
    struct pg_region *o = &m.reg[(op[1] / N_REGIONS) % N_REGIONS];
    if ((op[2] & 0xc0) == 0xc0) {
        if (m.n_stale)
            use_stale(&m.stale[op[3] % (m.n_stale < N_REGIONS ? m.n_stale : N_REGIONS)]);
        return;
    }
    switch (op[2] % 4) {
    case 0: { /* alloc */
        if (pg_region_live(r))
            return;
        uint64_t ps = (op[3] & 0x40) ? ARCH_PAGE_2M : ARCH_PAGE_4K, n = (op[3] & 3) + 1;
        unsigned fl = flags_of(op[3] >> 2) & ~PG_EXEC;
        struct snapshot before = snap();
        enum pg_err err = pg_region_alloc(r, as, n * ps, ps, fl, "fuzz");
        if (err && refused_unchanged(err, &before))
            return; /* its frames or tables were not to be had */
        if (err)
            die("region alloc failed", err, 0);
        for (uint64_t k = 0; k < n; k++) {
            struct pg_translation tr;
            if (pg_translate(as, r->va + k * ps, &tr).err)
                die("region page not mapped", r->va + k * ps, 0);
            m.leaf[m.n++] = (struct leaf){r->va + k * ps, ps, tr.pa, fl, true, true};
        }
        return;
    }
    case 1: /* release */
        if (!pg_region_live(r)) {
            if (r->id && pg_region_release(r) != PG_ERR_RELEASED)
                die("release of a released region", 1, 0);
            return;
        }
        keep_stale(r);
        if (pg_region_release(r) != PG_OK)
            die("region release", 0, 0); /* nobody else can map a region's frames */
        drop_region_leaves(r);
        return;
    case 2: { /* split */
        if (!pg_region_live(r) || pg_region_live(o) || r == o)
            return;
        uint64_t off = (op[3] & 3) * r->page_size + ((op[3] & 4) ? ARCH_PAGE_4K : 0);
        enum pg_err want = !off || off >= r->size                ? PG_ERR_COUNT_MISMATCH
                           : !ARCH_IS_ALIGNED(off, r->page_size) ? PG_ERR_MISALIGNED
                                                                 : PG_OK;
        struct pg_region before = *r;
        enum pg_err got = pg_region_split(r, off, o);
        if (got != want)
            die("region split", got, want);
        if (!got)
            keep_stale(&before);
        return;
    }
    default: { /* merge o into r */
        if (!pg_region_live(r) || !pg_region_live(o) || r == o)
            return;
        enum pg_err want =
            (r->va + r->size != o->va || r->page_size != o->page_size || r->flags != o->flags)
                ? PG_ERR_COUNT_MISMATCH
                : PG_OK;
        struct pg_region before = *r, gone = *o;
        enum pg_err got = pg_region_merge(r, o);
        if (got != want)
            die("region merge", got, want);
        if (!got)
            keep_stale(&before), keep_stale(&gone);
        return;
    }
    }
}

/* Undo everything through the API, then demand that nothing is left. */
static void teardown(void)
{
    frame_fail_after(UINT64_MAX);
    frame_fail_tables_after(UINT64_MAX);
    injecting_frames = injecting_tables = false;
    for (unsigned i = 0; i < m.n;) { /* first what the fuzzer mapped, freeing shared frames */
        struct leaf l = m.leaf[i];
        if (l.owned) {
            i++;
            continue;
        }
        if (pg_unmap_range(as, l.va, l.size, l.size).err != PG_OK)
            die("teardown: unmap", l.va, l.size);
        remove_leaf(&m.leaf[i]);
    }
    for (unsigned i = 0; i < N_REGIONS; i++) {
        if (pg_region_live(&m.reg[i])) {
            drop_region_leaves(&m.reg[i]);
            if (pg_region_release(&m.reg[i]) != PG_OK)
                die("teardown: region release", i, 0);
        }
    }
    while (m.n) {
        struct leaf l = m.leaf[0];
        if (pg_unmap_range(as, l.va, l.size, l.size).err != PG_OK)
            die("teardown: unmap", l.va, l.size);
        remove_leaf(&m.leaf[0]);
    }
    for (unsigned i = 0; i < N_FRAMES; i++) {
        if (m.fr[i].live && frame_free(m.fr[i].pa, m.fr[i].size) != PG_OK)
            die("teardown: frame_free", m.fr[i].pa, 0);
    }
    struct frame_stats s;
    frame_get_stats(&s);
    if (s.free != base_stats.free || s.tables != base_stats.tables || s.mapped != base_stats.mapped)
        die("frames left behind (free)", s.free, base_stats.free);
    if (va_allocated_bytes() != 0)
        die("virtual ranges left behind", va_allocated_bytes(), 0);
    if (!frame_valid() || !va_valid() || !pg_space_valid(as))
        die("consistency check after teardown", 0, 1);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    /* 64 MiB: 1 GiB pages are fuzzed over untracked frames; a 1 GiB frame request
     * takes its NO_CONTIGUOUS path; four regions of four 2 MiB pages still fit. A
     * small machine keeps the per-input checks cheap. */
    struct kmachine_opts o = {.level = KMACHINE_PAGING, .ram_size = RAM_SIZE, .no_history = true};
    struct kmachine km;
    if (kmachine_boot(&o, &km)) /* no page history: a backtrace per PTE store buys nothing */
        abort();
    as = km.space;
    arch_fault_set_reports(false); /* expected faults, thousands a second */
    pg_set_reports(false);         /* refusals are part of the model; no need to print them */
    frame_get_stats(&base_stats);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    m = (typeof(m)){0};
    for (size_t i = 0; i + 4 <= size && i < 4 * 128; i += 4) {
        const uint8_t *op = data + i;
        step = (unsigned)(i / 4);
        switch (op[0] % 7) {
        case 0:
        case 1:
            op_map(op);
            break;
        case 2:
            op_unmap(op);
            break;
        case 3:
            op_protect(op);
            break;
        case 4:
            op_translate_and_access(op);
            break;
        case 5:
            op_frames(op);
            break;
        default:
            op_region(op);
            break;
        }
        if ((op[0] & 0xf0) == 0xf0 && (!frame_valid() || !pg_space_valid(as)))
            die("consistency check", 0, 1);
    }
    teardown();
    return 0;
}
