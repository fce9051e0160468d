/* host_fault.c - faults kernsim cannot serve must still end with its diagnosis.
 *
 *   host_fault runaway   a copy runs past the end of a host buffer into unmapped memory
 *   host_fault nested    the kernel's page-fault hook faults on host memory while
 *                        kernsim is serving a fault in the window
 *   host_fault caught    a panic in the window fault path is caught (catch_unwind),
 *                        then the runaway copy: it is no fault "while handling" one
 *
 * Each must print kernsim's "a fault outside the simulated machine" or "a fault while
 * kernsim was handling a fault" line with the faulting function in the stack, then
 * crash (or hand over to the checker's own report); ctest requires the line. */
#include <kmachine.h>
#include <arch/cpu.h>
#include <arch/fault.h>
#include <sim/sim.h>
#include <unwind/unwind.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

static volatile size_t runaway_len = 1u << 20; /* far past the buffer: not folded away */

__attribute__((noinline)) static void runaway_copy(uint8_t *dst, size_t len)
{
    for (size_t i = 0; i < len; i++)
        ((volatile uint8_t *)dst)[i] = 0x41;
}

__attribute__((noinline)) static enum arch_fault_action bad_hook(const struct arch_fault *f,
                                                                 void *ctx)
{
    (void)f;
    return *(volatile int *)ctx ? ARCH_FAULT_RETRY : ARCH_FAULT_UNHANDLED; /* ctx: unmapped */
}

static void touch_unmapped(void *arg)
{
    (void)arg;
    *(volatile uint32_t *)(uintptr_t)(SIM_KVA_BASE + 0x5000) = 1; /* nothing mapped: a panic */
}

int main(int argc, char **argv)
{
    if (argc != 2 || kmachine_boot(&(struct kmachine_opts){.level = KMACHINE_SIM}, NULL)) {
        fprintf(stderr, "usage: host_fault runaway|nested|caught\n");
        return 2;
    }
    /* One page of buffer, then a page that is not mapped. */
    uint8_t *buf = mmap(NULL, 2 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (buf == MAP_FAILED || munmap(buf + 4096, 4096))
        return 2;
    if (!strcmp(argv[1], "runaway")) {
        runaway_copy(buf, runaway_len);
    } else if (!strcmp(argv[1], "caught")) {
        char msg[200];
        if (catch_unwind(touch_unmapped, NULL, msg, sizeof(msg)) != -1)
            return 2;
        runaway_copy(buf, runaway_len);
    } else if (!strcmp(argv[1], "nested")) {
        arch_set_page_fault_hook(bad_hook, buf + 4096);
        *(volatile uint32_t *)(uintptr_t)(SIM_KVA_BASE + 0x5000) = 1; /* nothing mapped */
    } else {
        return 2;
    }
    printf("host_fault: the access went through\n");
    return 0;
}
