/* strerror.c - what each paging error means, for reports: the one name every file
 * of the subsystem (and the heap above it) may print, owned by none of them. */
#include "paging.h"

const char *pg_strerror(enum pg_err err)
{
    static const char *const names[PG_ERR_COUNT_] = {
        [PG_OK] = "ok",
        [PG_ERR_ADDR_NOT_FREE] = "address not free",
        [PG_ERR_ADDR_NOT_FOUND] = "address not found",
        [PG_ERR_OUT_OF_ADDRESS_SPACE] = "out of address space",
        [PG_ERR_NO_CONTIGUOUS] = "no contiguous chunk",
        [PG_ERR_ZERO_SIZE] = "zero size",
        [PG_ERR_NOT_INITIALISED] = "not initialised",
        [PG_ERR_ALREADY_INITIALISED] = "already initialised",
        [PG_ERR_PAGE_ALREADY_MAPPED] = "page already mapped",
        [PG_ERR_PAGE_NOT_MAPPED] = "page not mapped",
        [PG_ERR_PARENT_HUGE] = "parent entry is a huge page",
        [PG_ERR_INVALID_FRAME] = "invalid frame address",
        [PG_ERR_COUNT_MISMATCH] = "count mismatch",
        [PG_ERR_WRONG_ADDRESS_SPACE] = "wrong address space",
        [PG_ERR_MISALIGNED] = "misaligned",
        [PG_ERR_NON_CANONICAL] = "non-canonical address",
        [PG_ERR_OVERFLOW] = "size overflows",
        [PG_ERR_NO_MEMORY] = "out of memory",
        [PG_ERR_FRAME_ALREADY_MAPPED] = "frame already mapped",
        [PG_ERR_WRITE_EXEC] = "writable and executable",
        [PG_ERR_FRAME_NOT_ALLOCATED] = "frame not allocated",
        [PG_ERR_FRAME_IN_USE] = "frame in use",
        [PG_ERR_OUT_OF_BOUNDS] = "out of bounds",
        [PG_ERR_READ_ONLY] = "read-only",
        [PG_ERR_RELEASED] = "region released",
    };
    return (unsigned)err < PG_ERR_COUNT_ && names[err] ? names[err] : "unknown error";
}
