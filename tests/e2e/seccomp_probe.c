/*
 * Makes each syscall named on the command line once and prints NAME=ok or NAME=<errno name>:
 * what a container's seccomp profile lets through (tests/e2e/test_seccomp.sh). Each call runs
 * in a child process, so one that changes the process (a new user namespace, a personality)
 * does not affect the next. Built static by the test for a busybox rootfs without a libc.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* From linux/keyctl.h, linux/kcmp.h and linux/sched.h (kept here: only the numbers matter). */
#define KEY_SPEC_PROCESS_KEYRING_ (-2)
#define KEY_SPEC_SESSION_KEYRING_ (-3)
#define KEYCTL_GET_KEYRING_ID_ 0
#define KCMP_VM_ 1
#define PER_BSD_ 0x0006
#define PER_LINUX32_ 0x0008
#define AF_VSOCK_ 40

struct clone_args_ {
    uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls;
};

/* A process created by a clone that was let through exits at once. */
static long reap(long pid)
{
    if (pid == 0) {
        _exit(0);
    }
    if (pid > 0) {
        waitpid((pid_t)pid, NULL, 0);
    }
    return pid;
}

/* The call, in the current (child) process: >= 0 or -1 with errno. */
static long probe(const char *name)
{
    if (strcmp(name, "add_key") == 0) {
        return syscall(SYS_add_key, "user", "ocr-probe", "x", (size_t)1,
                       KEY_SPEC_PROCESS_KEYRING_);
    }
    if (strcmp(name, "keyctl") == 0) {
        return syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID_, KEY_SPEC_SESSION_KEYRING_, 0);
    }
    if (strcmp(name, "unshare_user") == 0) {
        return syscall(SYS_unshare, CLONE_NEWUSER);
    }
    if (strcmp(name, "unshare_mount") == 0) {
        return syscall(SYS_unshare, CLONE_NEWNS);
    }
    if (strcmp(name, "mount_tmpfs") == 0) {
        return mount("probe", "/mnt", "tmpfs", 0, "size=1m");
    }
    if (strcmp(name, "personality_bsd") == 0) {
        return syscall(SYS_personality, PER_BSD_);
    }
    if (strcmp(name, "personality_linux32") == 0) {
        return syscall(SYS_personality, PER_LINUX32_);
    }
    if (strcmp(name, "personality_query") == 0) {
        return syscall(SYS_personality, 0xffffffffUL);
    }
    if (strcmp(name, "clone_newuts") == 0) {
        return reap(syscall(SYS_clone, CLONE_NEWUTS | SIGCHLD, NULL, NULL, NULL, NULL));
    }
    if (strcmp(name, "clone3") == 0) {
        struct clone_args_ args = {.exit_signal = SIGCHLD};
        return reap(syscall(SYS_clone3, &args, sizeof(args)));
    }
    if (strcmp(name, "socket_vsock") == 0) {
        return socket(AF_VSOCK_, SOCK_STREAM, 0);
    }
    if (strcmp(name, "socket_unix") == 0) {
        return socket(AF_UNIX, SOCK_STREAM, 0);
    }
    if (strcmp(name, "kcmp") == 0) {
        return syscall(SYS_kcmp, getpid(), getpid(), KCMP_VM_, 0, 0);
    }
    if (strcmp(name, "io_uring_setup") == 0) {
        char params[120] = {0};
        return syscall(SYS_io_uring_setup, 1, params);
    }
    errno = EINVAL;
    return -2;
}

static const char *errno_name(int e)
{
    switch (e) {
    case 0: return "ok";
    case EPERM: return "EPERM";
    case ENOSYS: return "ENOSYS";
    case EACCES: return "EACCES";
    case EINVAL: return "EINVAL";
    case EAFNOSUPPORT: return "EAFNOSUPPORT";
    case ENOENT: return "ENOENT";
    case ENOSPC: return "ENOSPC";
    default: return NULL;
    }
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        fflush(stdout);
        pid_t pid = fork();
        if (pid == 0) {
            long r = probe(argv[i]);
            _exit(r == -2 ? 255 : r < 0 ? (errno & 0xff) : 0);
        }
        int status = 0;
        if (pid < 0 || waitpid(pid, &status, 0) < 0 || !WIFEXITED(status)) {
            printf("%s=crashed\n", argv[i]);
            continue;
        }
        int e = WEXITSTATUS(status);
        const char *n = errno_name(e);
        if (e == 255) {
            printf("%s=unknown-probe\n", argv[i]);
        } else if (n) {
            printf("%s=%s\n", argv[i], n);
        } else {
            printf("%s=errno-%d\n", argv[i], e);
        }
    }
    return 0;
}
