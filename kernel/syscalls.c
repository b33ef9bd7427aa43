/*
 * The newlib kernels' system layer (LIBC=newlib or nano; mk/newlib.mk).
 *
 * kheap behind newlib's malloc: libc_init lays the instance over the
 * kernel's heap region with interrupt-masking lock hooks (kernel/irq.h) and
 * a panic hook that reports and stops, before anything allocates.  _sbrk
 * comes with the glue (alloc/libc/newlib_glue.c), on the same region.
 *
 * The system calls newlib's stdio and abort() reach: file descriptors 0-2
 * are the console (output to the UART, no input), anything else is EBADF;
 * what a bare-metal kernel cannot do fails with ENOSYS.
 */
#include <errno.h>
#include <reent.h>
#include <signal.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/times.h>
#include <sys/types.h>
#include <unistd.h>

#include "board.h"
#include "console.h"
#include "irq.h"
#include "libc.h"

#include "../alloc/libc/kheap_newlib.h"

/* newlib declares these only for some configurations. */
int _write(int fd, const void *buf, size_t len);
int _read(int fd, void *buf, size_t len);
int _close(int fd);
off_t _lseek(int fd, off_t offset, int whence);
int _fstat(int fd, struct stat *st);
int _isatty(int fd);
int _kill(int pid, int sig);
int _getpid(void);
_Noreturn void _exit(int status);
int _open(const char *path, int flags, int mode);
int _unlink(const char *path);
int _link(const char *old, const char *new_path);
clock_t _times(struct tms *buf);

/* The kernel's only process. */
#define KERNEL_PID 1

/* ---------------------------------------------------------------- kheap */

static uintptr_t lock_hook(void *ctx)
{
    (void)ctx;
    return irq_save_disable();
}

static void unlock_hook(void *ctx, uintptr_t saved)
{
    (void)ctx;
    irq_restore(saved);
}

static void panic_hook(void *ctx, kheap_misuse what, const void *addr)
{
    (void)ctx;
    kprintf("kernel: kheap (newlib malloc): %s at %p\n", kheap_misuse_text(what), addr);
    board_exit(EXIT_TESTS_FAILED);
}

bool libc_init(kheap_region *region)
{
    /* 4 KiB per heap: stdout's buffer (1 KiB) and a few strings, small
     * enough to leave the suite room on a 16 KiB board. */
    const kheap_config hooks = {
        .lock = lock_hook,
        .unlock = unlock_hook,
        .panic = panic_hook,
        .heap_pages = (4096 + BOARD_PAGE_SIZE - 1) / BOARD_PAGE_SIZE,
    };
    kheap *heap = kheap_newlib_init(region, &hooks);
    if (heap == NULL) {
        kputs("kernel: FAIL: kheap_newlib_init refused the heap region\n");
        return false;
    }
    kheap_stats st;
    kheap_stats_get(heap, &st);
    kprintf("kernel: newlib malloc is kheap: instance holds %zu pages, %zu bytes of them "
            "its own state and heap header\n", st.pages,
            st.pages * BOARD_PAGE_SIZE - st.in_use_bytes - st.free_bytes);
    return true;
}

size_t libc_pages_held(void)
{
    kheap *heap = kheap_newlib_heap();
    if (heap == NULL)
        return 0;
    kheap_stats st;
    kheap_stats_get(heap, &st);
    const char *why = NULL;
    bool ok = kheap_check(heap, &why);
    kprintf("kernel: newlib malloc: %zu pages in %zu heaps, %zu blocks (%zu bytes) still in use "
            "by newlib, %zu allocs, %zu frees, %zu failed, check %s%s\n", st.pages, st.heaps,
            st.blocks_in_use, st.in_use_bytes, st.allocs, st.frees, st.failed,
            ok ? "ok" : "FAILED: ", ok ? "" : why);
    /* A broken instance's pages are not "held": the check then fails. */
    return ok ? st.pages : 0;
}

/* ---------------------------------------------------------------- syscalls */

static int is_console(int fd)
{
    return fd >= 0 && fd <= 2;
}

int _write(int fd, const void *buf, size_t len)
{
    if (fd != 1 && fd != 2) {
        errno = EBADF;
        return -1;
    }
    console_write(buf, len);
    return (int)len;
}

/* The console has no input: stdin is at end of file. */
int _read(int fd, void *buf, size_t len)
{
    (void)buf;
    (void)len;
    if (fd != 0) {
        errno = EBADF;
        return -1;
    }
    return 0;
}

int _close(int fd)
{
    if (!is_console(fd)) {
        errno = EBADF;
        return -1;
    }
    return 0;
}

off_t _lseek(int fd, off_t offset, int whence)
{
    (void)offset;
    (void)whence;
    errno = is_console(fd) ? ESPIPE : EBADF;
    return -1;
}

/* A character device: newlib then line-buffers stdout. */
int _fstat(int fd, struct stat *st)
{
    if (!is_console(fd)) {
        errno = EBADF;
        return -1;
    }
    *st = (struct stat){ .st_mode = S_IFCHR };
    return 0;
}

int _isatty(int fd)
{
    if (is_console(fd))
        return 1;
    errno = EBADF;
    return 0;
}

/* raise() and abort() end here: a signal to the kernel ends the run with
 * the status a shell would show (128 + signal). */
int _kill(int pid, int sig)
{
    if (pid != KERNEL_PID) {
        errno = ESRCH;
        return -1;
    }
    kprintf("kernel: signal %d\n", sig);
    board_exit(128 + sig);
}

int _getpid(void)
{
    return KERNEL_PID;
}

_Noreturn void _exit(int status)
{
    board_exit(status);
}

int _open(const char *path, int flags, int mode)
{
    (void)path;
    (void)flags;
    (void)mode;
    errno = ENOSYS;
    return -1;
}

int _unlink(const char *path)
{
    (void)path;
    errno = ENOSYS;
    return -1;
}

int _link(const char *old, const char *new_path)
{
    (void)old;
    (void)new_path;
    errno = ENOSYS;
    return -1;
}

clock_t _times(struct tms *buf)
{
    (void)buf;
    errno = ENOSYS;
    return (clock_t)-1;
}
