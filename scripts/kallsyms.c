/* kallsyms.c - put the bare kernel's function symbols into the kernel image itself.
 *
 *   kallsyms KERNEL.elf
 *
 * The kernel reserves a fixed-size .kallsyms section (bare/kallsyms.c), so filling it
 * after the link moves no address. This reads the ELF's .symtab, sorts the function
 * symbols and writes, at the section's file offset: "KSYM", the count, then per symbol
 * its address (8 bytes), size (4) and name offset (4), then the names. Exit 1 with a
 * message if the file is not such a kernel or the table does not fit. */
#include <elf.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct ent {
    uint64_t addr;
    uint32_t size;
    const char *name;
};

static int by_addr(const void *a, const void *b)
{
    const struct ent *x = a, *y = b;
    return x->addr < y->addr ? -1 : x->addr > y->addr;
}

static int fail(const char *path, const char *why)
{
    fprintf(stderr, "kallsyms: %s: %s\n", path, why);
    return 1;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: kallsyms KERNEL.elf\n");
        return 2;
    }
    const char *path = argv[1];
    int fd = open(path, O_RDWR);
    struct stat sb;
    if (fd < 0 || fstat(fd, &sb))
        return fail(path, "cannot open");
    size_t size = (size_t)sb.st_size;
    uint8_t *f = malloc(size);
    if (!f || pread(fd, f, size, 0) != (ssize_t)size)
        return fail(path, "cannot read");
    const Elf64_Ehdr *eh = (const Elf64_Ehdr *)f;
    if (size < sizeof(*eh) || memcmp(eh->e_ident, ELFMAG, SELFMAG) ||
        eh->e_ident[EI_CLASS] != ELFCLASS64 || eh->e_shoff > size ||
        eh->e_shnum > (size - eh->e_shoff) / sizeof(Elf64_Shdr) || eh->e_shstrndx >= eh->e_shnum)
        return fail(path, "not an ELF64 file");
    const Elf64_Shdr *sh = (const Elf64_Shdr *)(f + eh->e_shoff);
    const Elf64_Shdr *names = &sh[eh->e_shstrndx], *symtab = NULL, *space = NULL;
    for (unsigned i = 0; i < eh->e_shnum; i++) {
        if (sh[i].sh_type != SHT_NOBITS &&
            (sh[i].sh_offset > size || sh[i].sh_size > size - sh[i].sh_offset))
            return fail(path, "a section lies outside the file");
        if (sh[i].sh_type == SHT_SYMTAB)
            symtab = &sh[i];
        else if (sh[i].sh_name < names->sh_size &&
                 !strcmp((const char *)f + names->sh_offset + sh[i].sh_name, ".kallsyms"))
            space = &sh[i];
    }
    if (!symtab || symtab->sh_link >= eh->e_shnum || !space || space->sh_type != SHT_PROGBITS)
        return fail(path, "no .symtab or no reserved .kallsyms section");
    const Elf64_Shdr *strtab = &sh[symtab->sh_link];
    const Elf64_Sym *sym = (const Elf64_Sym *)(f + symtab->sh_offset);
    size_t n = symtab->sh_size / sizeof(Elf64_Sym), count = 0, strbytes = 0;
    struct ent *e = calloc(n, sizeof(*e));
    for (size_t i = 0; e && i < n; i++) {
        if (ELF64_ST_TYPE(sym[i].st_info) != STT_FUNC || !sym[i].st_value ||
            sym[i].st_name >= strtab->sh_size)
            continue;
        const char *nm = (const char *)f + strtab->sh_offset + sym[i].st_name;
        if (!memchr(nm, 0, strtab->sh_size - sym[i].st_name))
            continue;
        e[count++] = (struct ent){sym[i].st_value, (uint32_t)sym[i].st_size, nm};
        strbytes += strlen(nm) + 1;
    }
    qsort(e, count, sizeof(*e), by_addr);
    size_t need = 8 + count * 16 + strbytes;
    if (!e || need > space->sh_size)
        return fail(path, "the symbols do not fit the reserved .kallsyms space");
    uint8_t *blob = calloc(1, space->sh_size);
    if (!blob)
        return fail(path, "no memory");
    memcpy(blob, "KSYM", 4);
    uint32_t c32 = (uint32_t)count;
    memcpy(blob + 4, &c32, 4);
    size_t str = 8 + count * 16;
    for (size_t i = 0; i < count; i++) {
        uint8_t *p = blob + 8 + i * 16;
        uint32_t off = (uint32_t)(str - (8 + count * 16));
        memcpy(p, &e[i].addr, 8);
        memcpy(p + 8, &e[i].size, 4);
        memcpy(p + 12, &off, 4);
        size_t len = strlen(e[i].name) + 1;
        memcpy(blob + str, e[i].name, len);
        str += len;
    }
    if (pwrite(fd, blob, space->sh_size, (off_t)space->sh_offset) != (ssize_t)space->sh_size)
        return fail(path, "cannot write");
    close(fd);
    printf("kallsyms: %zu function symbols, %zu of %lu bytes\n", count, need,
           (unsigned long)space->sh_size);
    return 0;
}
