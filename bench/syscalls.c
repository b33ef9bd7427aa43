/*
 * The system calls newlib (and picolibc) may reach from the bench images.
 * The bench prints through the kernel console and never uses stdio, so only
 * _sbrk (bench/adapt_libc.c) does real work; the rest are the usual stubs,
 * here so that any libc member that refers to them links.
 */
#include <errno.h>
#include <stddef.h>
#include <sys/stat.h>

#include "../kernel/board.h"
#include "../kernel/console.h"

int _write(int fd, const void *buf, size_t len);
int _read(int fd, void *buf, size_t len);
int _close(int fd);
int _fstat(int fd, struct stat *st);
int _isatty(int fd);
long _lseek(int fd, long off, int whence);
int _kill(int pid, int sig);
int _getpid(void);
_Noreturn void _exit(int status);

int _write(int fd, const void *buf, size_t len)
{
    (void)fd;
    console_write(buf, len);
    return (int)len;
}

int _read(int fd, void *buf, size_t len) { (void)fd; (void)buf; (void)len; return 0; }
int _close(int fd) { (void)fd; return -1; }
int _fstat(int fd, struct stat *st) { (void)fd; st->st_mode = S_IFCHR; return 0; }
int _isatty(int fd) { (void)fd; return 1; }
long _lseek(int fd, long off, int whence) { (void)fd; (void)off; (void)whence; return 0; }
int _kill(int pid, int sig) { (void)pid; (void)sig; errno = EINVAL; return -1; }
int _getpid(void) { return 1; }
_Noreturn void _exit(int status) { board_exit(status); }
