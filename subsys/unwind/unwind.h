/* unwind/unwind.h - a DWARF call-frame unwinder for x86_64 (.eh_frame, .eh_frame_hdr).
 *
 * Nothing from the tables is trusted: every read of the tables is bounds-checked,
 * every address they yield (FDE ranges, pointers) is checked against the module's
 * text, every read of the stack goes through the caller's memory callback, and the CFA
 * program and DWARF expressions run with bounded stacks and step counts. Malformed
 * input gives an error code, never a crash or a hang. Every call here may run on any
 * CPU, concurrently with the others, unless it says otherwise; none allocates. */
#ifndef UNWIND_UNWIND_H
#define UNWIND_UNWIND_H

#include <arch/types.h>

/* DWARF register numbers for x86_64 (System V psABI). */
enum {
    UNW_RAX,
    UNW_RDX,
    UNW_RCX,
    UNW_RBX,
    UNW_RSI,
    UNW_RDI,
    UNW_RBP,
    UNW_RSP,
    UNW_R8,
    UNW_R9,
    UNW_R10,
    UNW_R11,
    UNW_R12,
    UNW_R13,
    UNW_R14,
    UNW_R15,
    UNW_RIP, /* the return-address column */
    UNW_NREGS
};

enum unw_err {
    UNW_OK = 0,
    UNW_END,         /* the outermost frame: the return address is undefined */
    UNW_NO_FDE,      /* no table covers the pc */
    UNW_BAD_TABLE,   /* malformed .eh_frame / .eh_frame_hdr (truncated, bad length or encoding) */
    UNW_BAD_CFA,     /* an unknown or invalid call-frame instruction */
    UNW_BAD_EXPR,    /* a DWARF expression failed (bad op, stack, step limit) */
    UNW_BAD_MEM,     /* a stack or table read the memory callback refused */
    UNW_BAD_ADDR,    /* an address from the tables is outside the module's text */
    UNW_NO_PROGRESS, /* the caller's frame is the same frame (a loop) */
};
/* What an error means, for reports ("unknown error" for a value that is none). */
const char *unw_strerror(enum unw_err e);

struct unw_regs {
    uint64_t r[UNW_NREGS];
    uint32_t valid; /* bit per register: known in this frame */
    bool signal;    /* this frame was interrupted (its pc is exact, not a return address) */
};

/* How the unwinder reads the stack (and CFA-rule memory): true and *out, or false. */
struct unw_mem {
    bool (*read)(void *ctx, uint64_t addr, void *out, size_t size);
    void *ctx;
};

/* One module's tables, as mapped in memory. `eh_frame_hdr` may be NULL (the tables
 * are then searched through an index built by unw_table_index). text_lo..text_hi is
 * the module's executable range: FDEs outside it are refused. */
struct unw_table {
    const uint8_t *eh_frame;
    size_t eh_frame_size; /* bytes that may be read: records end at the zero terminator
                             or here, whichever is first (0: no records) */
    const uint8_t *eh_frame_hdr;
    size_t eh_frame_hdr_size;
    uint64_t text_lo, text_hi;
    uint64_t lsda_lo, lsda_hi; /* where LSDAs may lie (0, 0: nowhere) */
    uint64_t data_base;        /* for datarel encodings outside the header (0 if unknown) */
    /* Fallback index: sorted (start, FDE offset) pairs, filled by unw_table_index. */
    struct unw_index_entry {
        uint64_t start, end;
        uint32_t fde;
    } * index;
    size_t index_len;
};

/* Build the fallback index into `entries` (room for `max`), sorted, and point t at it
 * (entries must outlive t's use). Before anyone else uses t. Returns the count, or -1
 * with *err if the section is malformed (UNW_BAD_TABLE or an FDE's own error) or the
 * room is too small (UNW_BAD_TABLE); t is unchanged then, entries may be written. */
long unw_table_index(struct unw_table *t, struct unw_index_entry *entries, size_t max,
                     enum unw_err *err);

/* What a pc's FDE says. */
struct unw_fde_info {
    uint64_t start, end;  /* the range the FDE covers */
    uint64_t lsda;        /* 0 if none */
    uint64_t personality; /* 0 if none */
    bool signal_frame;    /* 'S' augmentation */
};
/* The FDE covering pc: UNW_OK, *info and (if fde_out is not NULL) the FDE's address.
 * UNW_NO_FDE if t is NULL, pc is outside t's text or no FDE covers it; UNW_BAD_TABLE
 * or UNW_BAD_ADDR for a malformed one (*info may then be partly written). */
enum unw_err unw_find_fde(const struct unw_table *t, uint64_t pc, struct unw_fde_info *info,
                          const uint8_t **fde_out);

/* The frame's rules at a pc, for tests and comparisons with other unwinders. */
enum unw_rule_kind {
    UNW_RULE_UNDEFINED,
    UNW_RULE_SAME,
    UNW_RULE_OFFSET,     /* saved at CFA + off */
    UNW_RULE_VAL_OFFSET, /* value is CFA + off */
    UNW_RULE_REGISTER,   /* in register `reg` */
    UNW_RULE_EXPR,       /* saved at the address the expression computes (CFA pushed) */
    UNW_RULE_VAL_EXPR,   /* value is what the expression computes */
};
struct unw_rule {
    uint8_t kind;
    uint16_t reg;
    int64_t off;
    const uint8_t *expr;
    uint32_t expr_len;
};
struct unw_row {
    bool cfa_is_expr;
    uint16_t cfa_reg;
    int64_t cfa_off;
    const uint8_t *cfa_expr;
    uint32_t cfa_expr_len;
    uint16_t ra_reg;
    uint64_t args_size;
    struct unw_rule reg[UNW_NREGS];
    uint32_t named; /* bit per register whose rule an instruction set (else the default:
                     * the same value, or undefined for the return address) */
    struct unw_fde_info fde;
};
/* The row for pc: UNW_OK and *row, whose expressions point into t's tables; or
 * unw_find_fde's error, or UNW_BAD_CFA for the CFA program, with *row untouched. */
enum unw_err unw_row_at(const struct unw_table *t, uint64_t pc, struct unw_row *row);

/* Which table covers a pc: the platform's answer (the sim asks the dynamic linker, the
 * bare kernel knows its own image). NULL if none. */
typedef const struct unw_table *(*unw_lookup_fn)(uint64_t pc);

/* Step from the frame in *regs to its caller. UNW_OK, UNW_END at the outermost frame
 * (no known pc), or an error (regs unchanged): UNW_NO_FDE (lookup NULL or no table),
 * the tables' errors, UNW_BAD_CFA (the CFA's register is not known), UNW_BAD_MEM,
 * UNW_BAD_EXPR, UNW_NO_PROGRESS. mem may be NULL (every read then fails). */
enum unw_err unw_step(unw_lookup_fn lookup, const struct unw_mem *mem, struct unw_regs *regs);

/* unw_step caches decoded rows by pc. A platform whose modules can go away (or move)
 * flushes the cache when they do. Any time; steps already past their lookup may still
 * fill the old epoch, which no later lookup uses. */
void unw_cache_flush(void);

/* The registers of the caller of this function, as they are right after it returns
 * (rip = the return address). */
void unw_getcontext(struct unw_regs *regs);

/* Up to `max` return addresses, starting with the caller of unw_backtrace. Returns
 * how many, stopping at the outermost frame, at `max`, or at the first error; *err (if
 * err is not NULL) is UNW_OK for the first two, else why the walk stopped. */
int unw_backtrace(unw_lookup_fn lookup, const struct unw_mem *mem, uint64_t *pcs, int max,
                  enum unw_err *err);

/* The same from a given frame (a fault, a panic, a signal), which is not changed.
 * regs->r[UNW_RIP] is the first entry (for max > 0). */
int unw_backtrace_from(unw_lookup_fn lookup, const struct unw_mem *mem, const struct unw_regs *regs,
                       uint64_t *pcs, int max, enum unw_err *err);

/* ---- cleanups and catch_unwind ---- */

/* The platform's module lookup and stack reader for panics (also makes arch_panic
 * unwind to catch_unwind). foreign_resume gets exceptions that are not kernsim's
 * panics (another language's, in the hosted build); it must not return (if it does,
 * the resume panics). Once, at boot, before any catch_unwind; the pointers are kept. */
void unw_set_platform(unw_lookup_fn lookup, const struct unw_mem *mem,
                      void (*foreign_resume)(void *exc));

/* Run fn(arg). If it panics, every cleanup between the panic and here runs (functions
 * built with -fexceptions that use __attribute__((cleanup))), and catch_unwind
 * returns -1 with the panic's message in msg (cut to msg_size, NUL terminated; msg may
 * be NULL); otherwise 0. Nests, per CPU: fn must not leave it other than by returning
 * or panicking. Without unw_set_platform a panic in fn is not caught. */
int catch_unwind(void (*fn)(void *), void *arg, char *msg, size_t msg_size);

/* kernsim's personality: in the LSDA at lsda (bytes up to hi), for a call at ip in the
 * function starting at func, the landing pad (0: none) and its selector (0: a
 * cleanup; > 0: a catch-all handler). UNW_OK, or UNW_BAD_TABLE for a malformed LSDA
 * (then both are 0). The pad is not checked against the function: the caller does. */
enum unw_err unw_lsda_find(const uint8_t *lsda, const uint8_t *hi, uint64_t func, uint64_t ip,
                           uint64_t *landing_pad, int64_t *selector);

/* Evaluate a DWARF expression (tests and the fuzzer use it directly). `push` is pushed
 * first unless `has_push` is false. At most UNW_EXPR_STACK entries and UNW_EXPR_STEPS
 * operations. UNW_OK and *result (the top of the stack), UNW_BAD_MEM for a read mem
 * refused, or UNW_BAD_EXPR (bad op, stack, step limit, unknown register), with
 * *result untouched. */
#define UNW_EXPR_STACK 64
#define UNW_EXPR_STEPS 1000
enum unw_err unw_eval_expr(const uint8_t *expr, size_t len, const struct unw_regs *regs,
                           const struct unw_mem *mem, bool has_push, uint64_t push,
                           uint64_t *result);

#endif
