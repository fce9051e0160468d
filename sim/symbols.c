/* symbols.c - function names for backtraces (and global names for reports), from the executable's
 * own ELF symbol table (static functions included), or the dynamic linker's for shared objects. */
#define _GNU_SOURCE
#include "sim_internal.h"
#include <dlfcn.h>
#include <elf.h>
#include <fcntl.h>
#include <link.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

struct sym {
    uint64_t addr, size;
    const char *name;
};

static struct {
    pthread_once_t once;
    struct sym *syms;
    size_t n;
    uint64_t bias; /* the executable's load address */
} S = {.once = PTHREAD_ONCE_INIT};

static int by_addr(const void *a, const void *b)
{
    const struct sym *x = a, *y = b;
    return x->addr < y->addr ? -1 : x->addr > y->addr;
}

static int main_bias(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    *(uint64_t *)arg = info->dlpi_addr; /* the first object is the executable */
    return 1;
}

/* Read .symtab of /proc/self/exe, checking every offset against the file. */
static void load(void)
{
    dl_iterate_phdr(main_bias, &S.bias);
    int fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
    struct stat sb;
    if (fd < 0 || fstat(fd, &sb) || sb.st_size < (off_t)sizeof(Elf64_Ehdr)) {
        if (fd >= 0)
            close(fd);
        return;
    }
    size_t size = (size_t)sb.st_size;
    const uint8_t *f = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (f == MAP_FAILED)
        return;
    const Elf64_Ehdr *eh = (const Elf64_Ehdr *)f;
    if (memcmp(eh->e_ident, ELFMAG, SELFMAG) || eh->e_shentsize != sizeof(Elf64_Shdr) ||
        eh->e_shoff > size || eh->e_shnum > (size - eh->e_shoff) / sizeof(Elf64_Shdr))
        return;
    const Elf64_Shdr *sh = (const Elf64_Shdr *)(f + eh->e_shoff);
    for (unsigned i = 0; i < eh->e_shnum; i++) {
        if (sh[i].sh_type != SHT_SYMTAB || sh[i].sh_link >= eh->e_shnum)
            continue;
        const Elf64_Shdr *st = &sh[sh[i].sh_link];
        if (sh[i].sh_offset > size || sh[i].sh_size > size - sh[i].sh_offset ||
            st->sh_offset > size || st->sh_size > size - st->sh_offset)
            return;
        const Elf64_Sym *sym = (const Elf64_Sym *)(f + sh[i].sh_offset);
        size_t count = sh[i].sh_size / sizeof(Elf64_Sym);
        const char *strs = (const char *)(f + st->sh_offset);
        S.syms = malloc(count * sizeof(*S.syms));
        if (!S.syms)
            return;
        for (size_t k = 0; k < count; k++) {
            unsigned type = ELF64_ST_TYPE(sym[k].st_info);
            if ((type != STT_FUNC && type != STT_OBJECT) || !sym[k].st_value ||
                sym[k].st_name >= st->sh_size ||
                !memchr(strs + sym[k].st_name, 0, st->sh_size - sym[k].st_name))
                continue;
            S.syms[S.n++] = (struct sym){sym[k].st_value, sym[k].st_size, strs + sym[k].st_name};
        }
        qsort(S.syms, S.n, sizeof(*S.syms), by_addr);
        return; /* the mapping stays: the names point into it */
    }
}

void sim_symbols_init(void)
{
    pthread_once(&S.once, load);
}

const char *sim_symbolize(uint64_t pc, uint64_t *offset)
{
    pthread_once(&S.once, load);
    uint64_t a = pc - S.bias;
    size_t lo = 0, hi = S.n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (S.syms[mid].addr <= a)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo && a - S.syms[lo - 1].addr < (S.syms[lo - 1].size ? S.syms[lo - 1].size : 1)) {
        *offset = a - S.syms[lo - 1].addr;
        return S.syms[lo - 1].name;
    }
    Dl_info info;
    if (dladdr((void *)(uintptr_t)pc, &info) && info.dli_sname && info.dli_saddr) {
        *offset = pc - (uint64_t)(uintptr_t)info.dli_saddr;
        return info.dli_sname;
    }
    *offset = 0;
    return NULL;
}
