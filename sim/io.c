/* io.c - MMIO and port I/O in the sim: accesses reach device models by address. */
#define _GNU_SOURCE
#include "sim_internal.h"
#include <arch/console.h>
#include <arch/io.h>
#include <arch/mem.h>
#include <arch/panic.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_DEVICES 32

struct mmio_dev {
    phys_addr_t base;
    uint64_t size;
    const struct sim_mmio_ops *ops;
    void *ctx;
    const char *name;
};

struct pio_dev {
    uint16_t base, count;
    const struct sim_pio_ops *ops;
    void *ctx;
    const char *name;
};

static pthread_mutex_t io_lock = PTHREAD_MUTEX_INITIALIZER;
static struct mmio_dev mmio[MAX_DEVICES];
static unsigned n_mmio;
static struct pio_dev pio[MAX_DEVICES];
static unsigned n_pio, n_pio_builtin;

int sim_mmio_register(phys_addr_t base, uint64_t size, const struct sim_mmio_ops *ops, void *ctx,
                      const char *name)
{
    if (!size || base + size < base || !ops || !ops->read || !ops->write) {
        kprintf("# sim_mmio_register(%s): empty, wrapping or incomplete device\n", name);
        return -1;
    }
    if (base < sim_machine.ram_size) {
        kprintf("# sim_mmio_register(%s): 0x%lx overlaps RAM\n", name, base);
        return -1;
    }
    pthread_mutex_lock(&io_lock);
    int rc = -1;
    for (unsigned i = 0; i < n_mmio; i++) {
        if (base < mmio[i].base + mmio[i].size && mmio[i].base < base + size) {
            kprintf("# sim_mmio_register(%s): overlaps %s\n", name, mmio[i].name);
            goto out;
        }
    }
    if (n_mmio == MAX_DEVICES) {
        kprintf("# sim_mmio_register(%s): device table full\n", name);
        goto out;
    }
    mmio[n_mmio++] = (struct mmio_dev){base, size, ops, ctx, name};
    rc = 0;
out:
    pthread_mutex_unlock(&io_lock);
    return rc;
}

int sim_mmio_unregister(phys_addr_t base)
{
    pthread_mutex_lock(&io_lock);
    for (unsigned i = 0; i < n_mmio; i++) {
        if (mmio[i].base == base) {
            void *ctx = mmio[i].ctx;
            mmio[i] = mmio[--n_mmio];
            pthread_mutex_unlock(&io_lock);
            sim_agent_remove(ctx); /* if the device worked on its own */
            return 0;
        }
    }
    pthread_mutex_unlock(&io_lock);
    return -1;
}

__attribute__((noinline)) static uint64_t mmio_access(const volatile void *addr, unsigned width,
                                                      bool write, uint64_t v, const char *what)
{
    uint64_t va = (uintptr_t)addr;
    if (!ARCH_IS_ALIGNED(va, width))
        arch_panic("%s: misaligned address %p", what, (const void *)addr);
    phys_addr_t pa;
    struct arch_fault f;
    if (!sim_mmu_translate(va, write ? ARCH_ACCESS_WRITE : ARCH_ACCESS_READ, &pa, &f)) {
        char line[200];
        arch_panic("%s: unhandled %s", what, arch_fault_format(&f, line, sizeof(line)));
    }
    if (arch_phys_is_ram(pa, width)) {
        /* MMIO accessors on RAM (a frame buffer, a test): a plain access of that width. */
        void *p = arch_phys_to_virt(pa);
        if (write) {
            switch (width) {
            case 1:
                *(volatile uint8_t *)p = (uint8_t)v;
                break;
            case 2:
                *(volatile uint16_t *)p = (uint16_t)v;
                break;
            case 4:
                *(volatile uint32_t *)p = (uint32_t)v;
                break;
            default:
                *(volatile uint64_t *)p = v;
                break;
            }
            return 0;
        }
        switch (width) {
        case 1:
            return *(volatile uint8_t *)p;
        case 2:
            return *(volatile uint16_t *)p;
        case 4:
            return *(volatile uint32_t *)p;
        default:
            return *(volatile uint64_t *)p;
        }
    }
    struct mmio_dev d = {0};
    pthread_mutex_lock(&io_lock);
    for (unsigned i = 0; i < n_mmio; i++) {
        if (pa >= mmio[i].base && pa + width <= mmio[i].base + mmio[i].size) {
            d = mmio[i];
            break;
        }
    }
    pthread_mutex_unlock(&io_lock);
    if (!d.ops) {
        /* No device decodes it: real buses read all ones and drop writes. */
        kprintf("# %s: no device at physical 0x%lx (va 0x%lx)\n", what, pa, va);
        return write ? 0 : (width == 8 ? ~UINT64_C(0) : (UINT64_C(1) << (8 * width)) - 1);
    }
    if (write) {
        d.ops->write(d.ctx, pa - d.base, width, v);
        return 0;
    }
    return d.ops->read(d.ctx, pa - d.base, width);
}

uint8_t arch_mmio_read8(const volatile void *a)
{
    return (uint8_t)mmio_access(a, 1, false, 0, __func__);
}
uint16_t arch_mmio_read16(const volatile void *a)
{
    return (uint16_t)mmio_access(a, 2, false, 0, __func__);
}
uint32_t arch_mmio_read32(const volatile void *a)
{
    return (uint32_t)mmio_access(a, 4, false, 0, __func__);
}
uint64_t arch_mmio_read64(const volatile void *a)
{
    return mmio_access(a, 8, false, 0, __func__);
}
void arch_mmio_write8(volatile void *a, uint8_t v)
{
    mmio_access(a, 1, true, v, __func__);
}
void arch_mmio_write16(volatile void *a, uint16_t v)
{
    mmio_access(a, 2, true, v, __func__);
}
void arch_mmio_write32(volatile void *a, uint32_t v)
{
    mmio_access(a, 4, true, v, __func__);
}
void arch_mmio_write64(volatile void *a, uint64_t v)
{
    mmio_access(a, 8, true, v, __func__);
}

/* ---- port I/O ---- */

int sim_pio_register(uint16_t base, uint16_t count, const struct sim_pio_ops *ops, void *ctx,
                     const char *name)
{
    if (!count || (uint32_t)base + count > 0x10000 || !ops || !ops->in || !ops->out) {
        kprintf("# sim_pio_register(%s): empty, past port 0xffff or incomplete device\n", name);
        return -1;
    }
    pthread_mutex_lock(&io_lock);
    int rc = -1;
    for (unsigned i = 0; i < n_pio; i++) {
        if (base < pio[i].base + pio[i].count && pio[i].base < base + count) {
            kprintf("# sim_pio_register(%s): overlaps %s\n", name, pio[i].name);
            goto out;
        }
    }
    if (n_pio == MAX_DEVICES) {
        kprintf("# sim_pio_register(%s): device table full\n", name);
        goto out;
    }
    pio[n_pio++] = (struct pio_dev){base, count, ops, ctx, name};
    rc = 0;
out:
    pthread_mutex_unlock(&io_lock);
    return rc;
}

static uint32_t pio_access(uint16_t port, unsigned width, bool out, uint32_t v)
{
    struct pio_dev d = {0};
    pthread_mutex_lock(&io_lock);
    for (unsigned i = 0; i < n_pio; i++) {
        if (port >= pio[i].base && port < pio[i].base + pio[i].count) {
            d = pio[i];
            break;
        }
    }
    pthread_mutex_unlock(&io_lock);
    if (!d.ops)
        return out ? 0 : (width == 4 ? 0xffffffffu : (1u << (8 * width)) - 1);
    if (out) {
        d.ops->out(d.ctx, port, width, v);
        return 0;
    }
    return d.ops->in(d.ctx, port, width);
}

uint8_t arch_inb(uint16_t p)
{
    return (uint8_t)pio_access(p, 1, false, 0);
}
uint16_t arch_inw(uint16_t p)
{
    return (uint16_t)pio_access(p, 2, false, 0);
}
uint32_t arch_inl(uint16_t p)
{
    return pio_access(p, 4, false, 0);
}
void arch_outb(uint16_t p, uint8_t v)
{
    pio_access(p, 1, true, v);
}
void arch_outw(uint16_t p, uint16_t v)
{
    pio_access(p, 2, true, v);
}
void arch_outl(uint16_t p, uint32_t v)
{
    pio_access(p, 4, true, v);
}

/* COM1: THR writes go to the console; LSR always says the transmitter is empty. */
static uint32_t com1_in(void *ctx, uint16_t port, unsigned width)
{
    (void)ctx, (void)width;
    return port == 0x3fd ? 0x60 : 0;
}

static void com1_out(void *ctx, uint16_t port, unsigned width, uint32_t v)
{
    (void)ctx, (void)width;
    if (port == 0x3f8) {
        char c = (char)v;
        arch_console_write(&c, 1);
    }
}

/* isa-debug-exit at 0xf4, as QEMU: the process exits with (value << 1) | 1. */
static uint32_t debug_exit_in(void *ctx, uint16_t port, unsigned width)
{
    (void)ctx, (void)port, (void)width;
    return 0xffffffffu;
}

static void debug_exit_out(void *ctx, uint16_t port, unsigned width, uint32_t v)
{
    (void)ctx, (void)port, (void)width;
    exit((int)(((v << 1) | 1) & 0xff));
}

void sim_io_init(void)
{
    static const struct sim_pio_ops com1 = {com1_in, com1_out};
    static const struct sim_pio_ops debug_exit = {debug_exit_in, debug_exit_out};
    if (n_pio_builtin)
        return;
    sim_pio_register(0x3f8, 8, &com1, NULL, "com1");
    sim_pio_register(0xf4, 4, &debug_exit, NULL, "isa-debug-exit");
    n_pio_builtin = n_pio;
}

void sim_io_reset(void)
{
    pthread_mutex_lock(&io_lock);
    n_mmio = 0;
    n_pio = n_pio_builtin;
    pthread_mutex_unlock(&io_lock);
}
