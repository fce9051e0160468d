/* expr.c - DWARF expressions as compilers emit them in call-frame information on
 * x86_64, on a bounded stack with a bounded number of operations. */
#include "unwind_internal.h"

#define POP(v)                                                                                     \
    do {                                                                                           \
        if (!sp)                                                                                   \
            return UNW_BAD_EXPR;                                                                   \
        (v) = st[--sp];                                                                            \
    } while (0)
#define PUSH(v)                                                                                    \
    do {                                                                                           \
        if (sp == UNW_EXPR_STACK)                                                                  \
            return UNW_BAD_EXPR;                                                                   \
        st[sp++] = (v);                                                                            \
    } while (0)

static bool reg_value(const struct unw_regs *regs, uint64_t reg, uint64_t *v)
{
    if (reg >= UNW_NREGS || !(regs->valid & (1u << reg)))
        return false;
    *v = regs->r[reg];
    return true;
}

enum unw_err unw_eval_expr(const uint8_t *expr, size_t len, const struct unw_regs *regs,
                           const struct unw_mem *mem, bool has_push, uint64_t push,
                           uint64_t *result)
{
    uint64_t st[UNW_EXPR_STACK], a, b;
    unsigned sp = 0;
    struct rd r = {expr, expr + len, false};
    if (has_push)
        st[sp++] = push;
    for (unsigned steps = 0; r.p < r.end; steps++) {
        if (steps == UNW_EXPR_STEPS)
            return UNW_BAD_EXPR; /* a loop */
        uint8_t op = (uint8_t)rd_u(&r, 1);
        if (op >= 0x30 && op <= 0x4f) { /* lit0..31 */
            PUSH((uint64_t)(op - 0x30));
            continue;
        }
        if (op >= 0x70 && op <= 0x8f) { /* breg0..31 */
            int64_t off = rd_sleb(&r);
            if (r.bad || !reg_value(regs, op - 0x70u, &a))
                return UNW_BAD_EXPR;
            PUSH(a + (uint64_t)off);
            continue;
        }
        switch (op) {
        case 0x03: /* addr */
            a = rd_u(&r, 8);
            PUSH(a);
            break;
        case 0x06:   /* deref */
        case 0x94: { /* deref_size */
            unsigned size = op == 0x06 ? 8 : (unsigned)rd_u(&r, 1);
            if (r.bad || !size || size > 8 || !mem || !mem->read)
                return UNW_BAD_EXPR;
            POP(a);
            b = 0;
            if (!mem->read(mem->ctx, a, &b, size))
                return UNW_BAD_MEM;
            PUSH(b);
            break;
        }
        case 0x08:
            PUSH(rd_u(&r, 1));
            break; /* const1u */
        case 0x09:
            PUSH((uint64_t)(int64_t)(int8_t)rd_u(&r, 1));
            break; /* const1s */
        case 0x0a:
            PUSH(rd_u(&r, 2));
            break; /* const2u */
        case 0x0b:
            PUSH((uint64_t)(int64_t)(int16_t)rd_u(&r, 2));
            break; /* const2s */
        case 0x0c:
            PUSH(rd_u(&r, 4));
            break; /* const4u */
        case 0x0d:
            PUSH((uint64_t)(int64_t)(int32_t)rd_u(&r, 4));
            break; /* const4s */
        case 0x0e: /* const8u */
        case 0x0f:
            PUSH(rd_u(&r, 8));
            break; /* const8s */
        case 0x10:
            PUSH(rd_uleb(&r));
            break; /* constu */
        case 0x11:
            PUSH((uint64_t)rd_sleb(&r));
            break; /* consts */
        case 0x12: /* dup */
            if (!sp)
                return UNW_BAD_EXPR;
            a = st[sp - 1];
            PUSH(a);
            break;
        case 0x13:
            POP(a);
            break; /* drop */
        case 0x14: /* over */
            if (sp < 2)
                return UNW_BAD_EXPR;
            a = st[sp - 2];
            PUSH(a);
            break;
        case 0x15: { /* pick */
            unsigned i = (unsigned)rd_u(&r, 1);
            if (r.bad || i >= sp)
                return UNW_BAD_EXPR;
            a = st[sp - 1 - i];
            PUSH(a);
            break;
        }
        case 0x16: /* swap */
            if (sp < 2)
                return UNW_BAD_EXPR;
            a = st[sp - 1], st[sp - 1] = st[sp - 2], st[sp - 2] = a;
            break;
        case 0x17: /* rot */
            if (sp < 3)
                return UNW_BAD_EXPR;
            a = st[sp - 1], st[sp - 1] = st[sp - 2], st[sp - 2] = st[sp - 3], st[sp - 3] = a;
            break;
        case 0x19: /* abs */
            POP(a);
            PUSH((int64_t)a < 0 ? -a : a);
            break;
        case 0x1f:
            POP(a);
            PUSH(-a);
            break; /* neg */
        case 0x20:
            POP(a);
            PUSH(~a);
            break; /* not */
        case 0x23: /* plus_uconst */
            b = rd_uleb(&r);
            POP(a);
            PUSH(a + b);
            break;
        case 0x1a:
        case 0x1b:
        case 0x1c:
        case 0x1d:
        case 0x1e:
        case 0x21:
        case 0x22:
        case 0x24:
        case 0x25:
        case 0x26:
        case 0x27:
        case 0x29:
        case 0x2a:
        case 0x2b:
        case 0x2c:
        case 0x2d:
        case 0x2e:
            POP(b);
            POP(a);
            switch (op) {
            case 0x1a:
                a &= b;
                break;
            case 0x1b: /* div (signed) */
                if (!b || ((int64_t)a == INT64_MIN && (int64_t)b == -1))
                    return UNW_BAD_EXPR;
                a = (uint64_t)((int64_t)a / (int64_t)b);
                break;
            case 0x1c:
                a -= b;
                break;
            case 0x1d: /* mod */
                if (!b)
                    return UNW_BAD_EXPR;
                a %= b;
                break;
            case 0x1e:
                a *= b;
                break;
            case 0x21:
                a |= b;
                break;
            case 0x22:
                a += b;
                break;
            case 0x24:
                a = b >= 64 ? 0 : a << b;
                break;
            case 0x25:
                a = b >= 64 ? 0 : a >> b;
                break;
            case 0x26:
                a = (uint64_t)((int64_t)a >> (b >= 64 ? 63 : b));
                break;
            case 0x27:
                a ^= b;
                break;
            case 0x29:
                a = a == b;
                break;
            case 0x2a:
                a = (int64_t)a >= (int64_t)b;
                break;
            case 0x2b:
                a = (int64_t)a > (int64_t)b;
                break;
            case 0x2c:
                a = (int64_t)a <= (int64_t)b;
                break;
            case 0x2d:
                a = (int64_t)a < (int64_t)b;
                break;
            case 0x2e:
                a = a != b;
                break;
            }
            PUSH(a);
            break;
        case 0x28:   /* bra */
        case 0x2f: { /* skip */
            int16_t off = (int16_t)rd_u(&r, 2);
            if (r.bad)
                return UNW_BAD_EXPR;
            if (op == 0x28) {
                POP(a);
                if (!a)
                    break;
            }
            if ((off < 0 && (size_t)-off > (size_t)(r.p - expr)) ||
                (off > 0 && (size_t)off > (size_t)(r.end - r.p)))
                return UNW_BAD_EXPR;
            r.p += off;
            break;
        }
        case 0x92: { /* bregx */
            uint64_t reg = rd_uleb(&r);
            int64_t off = rd_sleb(&r);
            if (r.bad || !reg_value(regs, reg, &a))
                return UNW_BAD_EXPR;
            PUSH(a + (uint64_t)off);
            break;
        }
        case 0x96: /* nop */
            break;
        default:
            return UNW_BAD_EXPR; /* reg0..31/regx name a register, not a value: not in CFI */
        }
        if (r.bad)
            return UNW_BAD_EXPR;
    }
    if (r.bad || !sp)
        return UNW_BAD_EXPR;
    *result = st[sp - 1];
    return UNW_OK;
}
