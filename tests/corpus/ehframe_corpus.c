/* ehframe_corpus.c - subsys/unwind against elfutils libdw on the machine's own binaries.
 *
 *   ehframe_corpus [--sample N] [--max-files N] [--verbose] PATH...
 *
 * For every ELF64 x86_64 file under the PATHs (directories are walked): its PT_LOAD
 * segments are mapped as the loader would, every FDE in .eh_frame must parse, and at
 * addresses in each FDE (its first byte, its last, and N-2 evenly spaced between;
 * --sample 0 means every byte) the CFA rule and the rules for the return address and
 * every register must equal what dwarf_cfi_addrframe says (a register no instruction
 * names is "same value" to us, as to libgcc, and "undefined" to libdw: both mean the
 * frame does not restore it).
 * Prints files, FDEs, addresses compared and disagreements; exits 1 if any FDE failed
 * to parse or any address disagreed. */
#define _GNU_SOURCE
#include <dirent.h>
#include <dwarf.h>
#include <elfutils/libdw.h>
#include <fcntl.h>
#include <gelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <unwind/unwind.h>

static struct {
    long files, skipped, fdes, addrs, disagree, parse_errors, libdw_unknown;
    long sample, max_files;
    bool verbose;
} st = {.sample = 4, .max_files = -1};

/* One DWARF operation, as libdw gives it. */
struct op {
    uint8_t atom;
    uint64_t n1, n2;
};

/* Decode our raw expression bytes into operations; -1 if it is not one we know. */
static int decode(const uint8_t *p, uint32_t len, struct op *out, int max)
{
    const uint8_t *end = p + len;
    int n = 0;
    while (p < end && n < max) {
        struct op o = {.atom = *p++};
        uint64_t v = 0;
        unsigned shift = 0;
#define ULEB()                                                                                     \
    do {                                                                                           \
        v = 0, shift = 0;                                                                          \
        while (p < end) {                                                                          \
            uint8_t b_ = *p++;                                                                     \
            v |= (uint64_t)(b_ & 0x7f) << shift;                                                   \
            shift += 7;                                                                            \
            if (!(b_ & 0x80))                                                                      \
                break;                                                                             \
        }                                                                                          \
    } while (0)
#define SLEB()                                                                                     \
    do {                                                                                           \
        uint8_t b_ = 0;                                                                            \
        v = 0, shift = 0;                                                                          \
        while (p < end) {                                                                          \
            b_ = *p++;                                                                             \
            v |= (uint64_t)(b_ & 0x7f) << shift;                                                   \
            shift += 7;                                                                            \
            if (!(b_ & 0x80))                                                                      \
                break;                                                                             \
        }                                                                                          \
        if (shift < 64 && (b_ & 0x40))                                                             \
            v |= ~UINT64_C(0) << shift;                                                            \
    } while (0)
        if (o.atom >= DW_OP_breg0 && o.atom <= DW_OP_breg31) {
            SLEB();
            o.n1 = v;
        } else {
            switch (o.atom) {
            case DW_OP_const1u:
            case DW_OP_const1s:
            case DW_OP_pick:
            case DW_OP_deref_size:
                o.n1 = *p++;
                if (o.atom == DW_OP_const1s)
                    o.n1 = (uint64_t)(int64_t)(int8_t)o.n1;
                break;
            case DW_OP_const2u:
            case DW_OP_const2s:
            case DW_OP_skip:
            case DW_OP_bra:
                o.n1 = (uint64_t)p[0] | (uint64_t)p[1] << 8;
                if (o.atom != DW_OP_const2u)
                    o.n1 = (uint64_t)(int64_t)(int16_t)o.n1;
                p += 2;
                break;
            case DW_OP_const4u:
            case DW_OP_const4s:
                o.n1 = (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 |
                       (uint64_t)p[3] << 24;
                if (o.atom == DW_OP_const4s)
                    o.n1 = (uint64_t)(int64_t)(int32_t)o.n1;
                p += 4;
                break;
            case DW_OP_const8u:
            case DW_OP_const8s:
            case DW_OP_addr:
                memcpy(&o.n1, p, 8);
                p += 8;
                break;
            case DW_OP_constu:
            case DW_OP_plus_uconst:
            case DW_OP_regx:
                ULEB();
                o.n1 = v;
                break;
            case DW_OP_consts:
                SLEB();
                o.n1 = v;
                break;
            case DW_OP_bregx:
                ULEB();
                o.n1 = v;
                SLEB();
                o.n2 = v;
                break;
            default:
                if (!(o.atom >= DW_OP_lit0 && o.atom <= DW_OP_lit31) &&
                    !(o.atom >= DW_OP_reg0 && o.atom <= DW_OP_reg31) && o.atom != DW_OP_deref &&
                    !(o.atom >= DW_OP_dup && o.atom <= DW_OP_ne) && o.atom != DW_OP_nop)
                    return -1;
            }
        }
        if (p > end)
            return -1;
        out[n++] = o;
    }
    return p == end ? n : -1;
}

/* Operations equal, ignoring how libdw marks the start (call_frame_cfa: the CFA
 * pushed for expression rules) and the end (stack_value: a value, not a location). */
static bool same_ops(const struct op *a, int na, const Dwarf_Op *b, size_t nb)
{
    if ((int)nb != na)
        return false;
    for (int i = 0; i < na; i++) {
        if (a[i].atom != b[i].atom || a[i].n1 != b[i].number)
            return false;
        if (a[i].atom == DW_OP_bregx && a[i].n2 != b[i].number2)
            return false;
    }
    return true;
}

/* Does our rule for register r say what libdw says? */
static bool rule_agrees(const struct unw_row *row, int r, Dwarf_Frame *fr)
{
    Dwarf_Op mem[3], *ops = NULL;
    size_t n = 0;
    if (dwarf_frame_register(fr, r, mem, &ops, &n) != 0)
        return false;
    const struct unw_rule *u = &row->reg[r];
    bool val = n && ops[n - 1].atom == DW_OP_stack_value;
    size_t core = val ? n - 1 : n;
    switch (u->kind) {
    case UNW_RULE_UNDEFINED:
        return n == 0 && ops == mem;
    case UNW_RULE_SAME:
        if (n == 0 && ops == NULL)
            return true;
        /* A register no instruction names: ours keeps its value (as libgcc does),
         * libdw calls it undefined. Neither recovers anything from this frame. */
        return n == 0 && ops == mem && !(row->named >> r & 1);
    case UNW_RULE_OFFSET:
    case UNW_RULE_VAL_OFFSET:
        if (val != (u->kind == UNW_RULE_VAL_OFFSET) || !core || ops[0].atom != DW_OP_call_frame_cfa)
            return false;
        if (u->off == 0)
            return core == 1;
        /* libdw writes the offset as plus_uconst of its two's complement. */
        return core == 2 && ops[1].atom == DW_OP_plus_uconst && ops[1].number == (uint64_t)u->off;
    case UNW_RULE_REGISTER: /* a location: the register itself */
        return core == 1 && !val && ops[0].atom == DW_OP_regx && ops[0].number == u->reg;
    case UNW_RULE_EXPR:
    case UNW_RULE_VAL_EXPR: {
        struct op dec[64];
        int nd = decode(u->expr, u->expr_len, dec, 64);
        if (nd < 0 || val != (u->kind == UNW_RULE_VAL_EXPR) || !core ||
            ops[0].atom != DW_OP_call_frame_cfa)
            return false;
        return same_ops(dec, nd, ops + 1, core - 1);
    }
    }
    return false;
}

static bool cfa_agrees(const struct unw_row *row, Dwarf_Frame *fr)
{
    Dwarf_Op *ops;
    size_t n;
    if (dwarf_frame_cfa(fr, &ops, &n) != 0)
        return false;
    if (!row->cfa_is_expr)
        return n == 1 && ops[0].atom == DW_OP_bregx && ops[0].number == row->cfa_reg &&
               (int64_t)ops[0].number2 == row->cfa_off;
    struct op dec[64];
    int nd = decode(row->cfa_expr, row->cfa_expr_len, dec, 64);
    return nd >= 0 && same_ops(dec, nd, ops, n);
}

static void compare_at(const char *path, const struct unw_table *t, Dwarf_CFI *cfi, uint64_t bias,
                       uint64_t pc)
{
    struct unw_row row;
    Dwarf_Frame *fr = NULL;
    enum unw_err e = unw_row_at(t, pc, &row);
    int d = dwarf_cfi_addrframe(cfi, pc - bias, &fr);
    st.addrs++;
    bool ok = e == UNW_OK && d == 0;
    int bad_reg = -1;
    Dwarf_Op *cfa_ops;
    size_t cfa_n = 1;
    if (ok && (dwarf_frame_cfa(fr, &cfa_ops, &cfa_n) != 0 || cfa_n == 0)) {
        /* libdw cannot say (it refuses def_cfa_register after def_cfa_expression, which
         * hand-written assembly uses and libgcc accepts): counted, not compared. */
        st.libdw_unknown++;
        if (st.verbose)
            fprintf(stderr, "%s: pc 0x%lx: libdw cannot determine the CFA (%s); ours is r%d%+ld\n",
                    path, (unsigned long)(pc - bias), dwarf_errmsg(-1), row.cfa_reg,
                    (long)row.cfa_off);
        free(fr);
        return;
    }
    if (ok && !cfa_agrees(&row, fr))
        ok = false, bad_reg = -2;
    for (int r = 0; ok && r < UNW_NREGS; r++) {
        if (r == UNW_RSP)
            continue; /* the CFA is the caller's rsp: compared above */
        if (!rule_agrees(&row, r, fr))
            ok = false, bad_reg = r;
    }
    if (!ok) {
        st.disagree++;
        if (st.verbose && bad_reg >= 0) {
            Dwarf_Op mem[3], *ops = NULL;
            size_t n = 0;
            dwarf_frame_register(fr, bad_reg, mem, &ops, &n);
            fprintf(stderr,
                    "  ours kind %d off %ld reg %d; libdw %zu ops (%s):", row.reg[bad_reg].kind,
                    (long)row.reg[bad_reg].off, row.reg[bad_reg].reg, n,
                    ops == NULL  ? "null"
                    : ops == mem ? "mem"
                                 : "internal");
            for (size_t i = 0; i < n; i++)
                fprintf(stderr, " %#x/%ld/%ld", ops[i].atom, (long)ops[i].number,
                        (long)ops[i].number2);
            fputc('\n', stderr);
        }
        if (st.verbose && bad_reg == -2) {
            Dwarf_Op *ops = NULL;
            size_t n = 0;
            dwarf_frame_cfa(fr, &ops, &n);
            fprintf(stderr,
                    "  ours cfa %s r%d%+ld; libdw %zu ops:", row.cfa_is_expr ? "expr" : "reg",
                    row.cfa_reg, (long)row.cfa_off, n);
            for (size_t i = 0; i < n; i++)
                fprintf(stderr, " %#x/%ld/%ld", ops[i].atom, (long)ops[i].number,
                        (long)ops[i].number2);
            fputc('\n', stderr);
        }
        if (st.verbose)
            fprintf(stderr, "%s: pc 0x%lx: ours %s, libdw %s, register %d differs\n", path,
                    (unsigned long)(pc - bias), unw_strerror(e), d ? dwarf_errmsg(-1) : "ok",
                    bad_reg);
    }
    free(fr);
}

static void one_file(const char *path)
{
    if (st.max_files >= 0 && st.files >= st.max_files)
        return;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    Elf *elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
    GElf_Ehdr eh;
    size_t nph = 0;
    if (!elf || elf_kind(elf) != ELF_K_ELF || !gelf_getehdr(elf, &eh) ||
        eh.e_machine != EM_X86_64 || eh.e_ident[EI_CLASS] != ELFCLASS64 ||
        elf_getphdrnum(elf, &nph) || !nph) {
        if (elf)
            elf_end(elf);
        close(fd);
        return;
    }
    /* Lay the PT_LOAD segments out as the loader does. */
    uint64_t lo = UINT64_MAX, hi = 0, page = 4096;
    for (size_t i = 0; i < nph; i++) {
        GElf_Phdr ph;
        if (gelf_getphdr(elf, (int)i, &ph) && ph.p_type == PT_LOAD) {
            lo = ph.p_vaddr < lo ? ph.p_vaddr : lo;
            hi = ph.p_vaddr + ph.p_memsz > hi ? ph.p_vaddr + ph.p_memsz : hi;
        }
    }
    lo &= ~(page - 1);
    uint8_t *img =
        hi > lo ? mmap(NULL, hi - lo, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) : MAP_FAILED;
    uint64_t bias = (uint64_t)(uintptr_t)img - lo, text_lo = UINT64_MAX, text_hi = 0;
    bool mapped = img != MAP_FAILED;
    struct stat sb;
    fstat(fd, &sb);
    for (size_t i = 0; mapped && i < nph; i++) {
        GElf_Phdr ph;
        if (!gelf_getphdr(elf, (int)i, &ph) || ph.p_type != PT_LOAD || !ph.p_filesz)
            continue;
        uint64_t va = ph.p_vaddr & ~(page - 1), off = ph.p_offset & ~(page - 1);
        uint64_t len = ph.p_offset + ph.p_filesz - off;
        if (off + len > (uint64_t)sb.st_size ||
            mmap(img + (va - lo), len, PROT_READ, MAP_PRIVATE | MAP_FIXED, fd, (off_t)off) ==
                MAP_FAILED)
            mapped = false;
        if (ph.p_flags & PF_X) {
            text_lo = ph.p_vaddr + bias < text_lo ? ph.p_vaddr + bias : text_lo;
            text_hi =
                ph.p_vaddr + ph.p_memsz + bias > text_hi ? ph.p_vaddr + ph.p_memsz + bias : text_hi;
        }
    }
    /* .eh_frame and .eh_frame_hdr, by section. */
    size_t shstr;
    Elf_Scn *scn = NULL;
    GElf_Shdr eh_frame = {0}, eh_hdr = {0};
    if (mapped && !elf_getshdrstrndx(elf, &shstr)) {
        while ((scn = elf_nextscn(elf, scn))) {
            GElf_Shdr sh;
            const char *name = gelf_getshdr(scn, &sh) ? elf_strptr(elf, shstr, sh.sh_name) : NULL;
            if (name && !strcmp(name, ".eh_frame"))
                eh_frame = sh;
            else if (name && !strcmp(name, ".eh_frame_hdr"))
                eh_hdr = sh;
        }
    }
    Dwarf_CFI *cfi = mapped && eh_frame.sh_size ? dwarf_getcfi_elf(elf) : NULL;
    if (!cfi || text_lo >= text_hi) {
        st.skipped++;
    } else {
        st.files++;
        struct unw_table t = {
            .eh_frame = img + (eh_frame.sh_addr - lo),
            .eh_frame_size = eh_frame.sh_size,
            .eh_frame_hdr = eh_hdr.sh_size ? img + (eh_hdr.sh_addr - lo) : NULL,
            .eh_frame_hdr_size = eh_hdr.sh_size,
            .text_lo = text_lo,
            .text_hi = text_hi,
        };
        size_t max = eh_frame.sh_size / 16 + 1;
        struct unw_index_entry *ix = malloc(max * sizeof(*ix));
        enum unw_err err;
        long n = ix ? unw_table_index(&t, ix, max, &err) : -1;
        if (n < 0) {
            st.parse_errors++;
            fprintf(stderr, "%s: .eh_frame does not parse: %s\n", path,
                    ix ? unw_strerror(err) : "no memory");
        } else {
            /* Look rows up through the header when there is one, as at run time. */
            struct unw_table lookup = t;
            if (t.eh_frame_hdr)
                lookup.index = NULL, lookup.index_len = 0;
            for (long i = 0; i < n; i++) {
                uint64_t s = ix[i].start, e = ix[i].end, len = e - s;
                st.fdes++;
                if (st.sample == 0) {
                    for (uint64_t pc = s; pc < e; pc++)
                        compare_at(path, &lookup, cfi, bias, pc);
                } else {
                    for (long k = 0; k < st.sample; k++) {
                        uint64_t pc =
                            s +
                            (st.sample == 1 ? 0 : len * (uint64_t)k / (uint64_t)(st.sample - 1));
                        if (pc >= e)
                            pc = e - 1;
                        compare_at(path, &lookup, cfi, bias, pc);
                        if (len == 1)
                            break;
                    }
                }
            }
        }
        free(ix);
    }
    if (cfi)
        dwarf_cfi_end(cfi);
    if (img != MAP_FAILED)
        munmap(img, hi - lo);
    elf_end(elf);
    close(fd);
}

static void walk(const char *path)
{
    struct stat sb;
    if (lstat(path, &sb))
        return;
    if (S_ISREG(sb.st_mode)) {
        one_file(path);
        return;
    }
    if (!S_ISDIR(sb.st_mode))
        return;
    struct dirent **list;
    int n = scandir(path, &list, NULL, alphasort);
    for (int i = 0; i < n; i++) {
        if (strcmp(list[i]->d_name, ".") && strcmp(list[i]->d_name, "..")) {
            char sub[4096];
            snprintf(sub, sizeof(sub), "%s/%s", path, list[i]->d_name);
            walk(sub);
        }
        free(list[i]);
    }
    if (n >= 0)
        free(list);
}

int main(int argc, char **argv)
{
    int first = 1;
    for (; first < argc && argv[first][0] == '-'; first++) {
        char *end;
        if (!strcmp(argv[first], "--verbose")) {
            st.verbose = true;
        } else if ((!strcmp(argv[first], "--sample") || !strcmp(argv[first], "--max-files")) &&
                   first + 1 < argc) {
            long v = strtol(argv[first + 1], &end, 10);
            if (*end || v < 0) {
                fprintf(stderr, "ehframe_corpus: %s wants a count, not '%s'\n", argv[first],
                        argv[first + 1]);
                return 2;
            }
            *(argv[first][2] == 's' ? &st.sample : &st.max_files) = v;
            first++;
        } else {
            fprintf(stderr, "usage: %s [--sample N] [--max-files N] [--verbose] PATH...\n",
                    argv[0]);
            return 2;
        }
    }
    if (first == argc) {
        fprintf(stderr, "usage: %s [--sample N] [--max-files N] [--verbose] PATH...\n", argv[0]);
        return 2;
    }
    elf_version(EV_CURRENT);
    for (int i = first; i < argc; i++)
        walk(argv[i]);
    printf("corpus: %ld files (%ld skipped without tables), %ld FDEs, %ld addresses compared, "
           "%ld disagreed, %ld files failed to parse; %ld addresses where libdw could not "
           "determine the CFA (not compared)\n",
           st.files, st.skipped, st.fdes, st.addrs - st.libdw_unknown, st.disagree, st.parse_errors,
           st.libdw_unknown);
    return st.disagree || st.parse_errors ? 1 : 0;
}
