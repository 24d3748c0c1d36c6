/* common/fileio.c: whole-file reads with a cap, atomic writes, directory fsync. */
#define _DEFAULT_SOURCE /* mkdtemp */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fileio.h"
#include "tests/harness.h"

static char dir[64];

static void make_dir(void)
{
    snprintf(dir, sizeof(dir), "/tmp/ocr-fileio-XXXXXX");
    if (!mkdtemp(dir)) {
        dir[0] = '\0';
    }
}

static void remove_dir(void)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    CHECK_INT(system(cmd), 0);
}

static const char *path_in(char *buf, size_t size, const char *name)
{
    snprintf(buf, size, "%s/%s", dir, name);
    return buf;
}

static void put(const char *name, const char *text, size_t len)
{
    char p[128];
    int fd = open(path_in(p, sizeof(p), name), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    CHECK(fd >= 0);
    CHECK_INT(file_write_all(fd, text, len), 0);
    close(fd);
}

static void reads_a_whole_file_nul_terminated(void)
{
    make_dir();
    char big[40000]; /* more than one read chunk */
    for (size_t i = 0; i < sizeof(big); i++) {
        big[i] = (char)('a' + i % 26);
    }
    put("big", big, sizeof(big));
    char p[128];
    size_t len = 0;
    char *text = file_read_path(path_in(p, sizeof(p), "big"), sizeof(big), FILE_READ_REGULAR, &len);
    CHECK(text != NULL);
    CHECK_INT(len, sizeof(big));
    CHECK(text && memcmp(text, big, sizeof(big)) == 0 && text[len] == '\0');
    free(text);
    put("empty", "", 0);
    text = file_read_path(path_in(p, sizeof(p), "empty"), 10, 0, &len);
    CHECK_STR(text, "");
    CHECK_INT(len, 0);
    free(text);
    remove_dir();
}

static void refuses_a_file_over_the_cap(void)
{
    make_dir();
    put("f", "0123456789", 10);
    char p[128];
    size_t len = 99;
    errno = 0;
    CHECK(file_read_path(path_in(p, sizeof(p), "f"), 9, 0, &len) == NULL);
    CHECK_INT(errno, EFBIG);
    CHECK_INT(len, 99); /* untouched on failure */
    char *text = file_read_path(p, 10, 0, &len);
    CHECK_STR(text, "0123456789");
    free(text);
    remove_dir();
}

static void sizes_are_hints_not_verdicts(void)
{
    /* sysfs reports 4096 bytes for files that hold a line: the cap applies to the content. */
    const char *candidates[] = {"/sys/kernel/mm/transparent_hugepage/enabled",
                                "/sys/fs/cgroup/cgroup.controllers", "/sys/kernel/profiling"};
    const char *path = NULL;
    for (size_t i = 0; i < sizeof(candidates) / sizeof(candidates[0]) && !path; i++) {
        struct stat st;
        if (stat(candidates[i], &st) == 0 && S_ISREG(st.st_mode) && st.st_size >= 4096) {
            path = candidates[i];
        }
    }
    if (!path) {
        SKIP("no sysfs file that over-reports its size here");
    }
    size_t len;
    char *text = file_read_path(path, 1024, FILE_READ_REGULAR, &len);
    CHECK(text != NULL);
    CHECK(len < 1024);
    free(text);
}

static void caps_a_stream_of_unknown_size(void)
{
    int fds[2];
    CHECK_INT(pipe(fds), 0);
    CHECK_INT(file_write_all(fds[1], "abcdefgh", 8), 0);
    close(fds[1]);
    size_t len;
    errno = 0;
    CHECK(file_read_fd(fds[0], 7, 0, &len) == NULL);
    CHECK_INT(errno, EFBIG);
    close(fds[0]);

    CHECK_INT(pipe(fds), 0);
    CHECK_INT(file_write_all(fds[1], "abcdefgh", 8), 0);
    close(fds[1]);
    char *text = file_read_fd(fds[0], 8, 0, &len);
    CHECK_STR(text, "abcdefgh");
    CHECK_INT(len, 8);
    free(text);
    close(fds[0]);
}

static void regular_flag_refuses_fifos_without_blocking(void)
{
    make_dir();
    char p[128];
    CHECK_INT(mkfifo(path_in(p, sizeof(p), "fifo"), 0600), 0);
    size_t len;
    errno = 0;
    /* No writer: a blocking open or read would hang here. */
    CHECK(file_read_path(p, 100, FILE_READ_REGULAR, &len) == NULL);
    CHECK_INT(errno, EINVAL);
    errno = 0;
    CHECK(file_read_path(dir, 100, FILE_READ_REGULAR, &len) == NULL);
    CHECK_INT(errno, EINVAL);
    errno = 0;
    CHECK(file_read_path(path_in(p, sizeof(p), "missing"), 100, 0, &len) == NULL);
    CHECK_INT(errno, ENOENT);
    remove_dir();
}

static void secret_reads_return_the_text(void)
{
    make_dir();
    put("token", "s3cr3t\n", 7);
    char p[128];
    size_t len;
    char *text = file_read_path(path_in(p, sizeof(p), "token"), 64,
                                FILE_READ_REGULAR | FILE_READ_SECRET, &len);
    CHECK_STR(text, "s3cr3t\n");
    CHECK_INT(len, 7);
    free(text);
    remove_dir();
}

static void atomic_write_replaces_the_file_whole(void)
{
    make_dir();
    put("config.json", "old", 3);
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    CHECK(dfd >= 0);
    const char *step = NULL;
    CHECK_INT(file_write_atomic(dfd, "config.json", ".tmp-1", "new text", 8, 0640, &step), 0);
    CHECK_INT(file_fsync_dir(dfd), 0);
    char p[128];
    char *text = file_read_path(path_in(p, sizeof(p), "config.json"), 64, 0, NULL);
    CHECK_STR(text, "new text");
    free(text);
    struct stat st;
    CHECK_INT(stat(p, &st), 0);
    CHECK_INT(st.st_mode & 07777, 0640);
    CHECK(access(path_in(p, sizeof(p), ".tmp-1"), F_OK) != 0); /* no temporary left */
    close(dfd);
    remove_dir();
}

static void failed_atomic_write_leaves_the_old_file(void)
{
    make_dir();
    put("config.json", "old", 3);
    char p[128];
    CHECK_INT(mkdir(path_in(p, sizeof(p), "busy"), 0700), 0);
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    const char *step = NULL;
    errno = 0;
    /* The temporary name is taken: exclusive create fails, nothing else changes. */
    CHECK_INT(file_write_atomic(dfd, "config.json", "busy", "new", 3, 0600, &step), -1);
    CHECK_INT(errno, EEXIST);
    CHECK_STR(step, "cannot create");
    char *text = file_read_path(path_in(p, sizeof(p), "config.json"), 64, 0, NULL);
    CHECK_STR(text, "old");
    free(text);
    /* A directory where the file goes: the rename fails and the temporary is removed. */
    CHECK_INT(mkdir(path_in(p, sizeof(p), "sub"), 0700), 0);
    put("sub/x", "x", 1);
    CHECK_INT(file_write_atomic(dfd, "sub", ".tmp-2", "new", 3, 0600, &step), -1);
    CHECK_STR(step, "cannot rename into place");
    CHECK(access(path_in(p, sizeof(p), ".tmp-2"), F_OK) != 0);
    close(dfd);
    remove_dir();
}

static void new_files_never_follow_symlinks(void)
{
    make_dir();
    char p[128], target[128];
    path_in(target, sizeof(target), "target");
    CHECK_INT(symlink(target, path_in(p, sizeof(p), "link")), 0);
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    const char *step = NULL;
    CHECK_INT(file_write_new(dfd, "link", "x", 1, 0600, &step), -1);
    CHECK_STR(step, "cannot create");
    CHECK(access(target, F_OK) != 0);
    close(dfd);
    remove_dir();
}

static void fsync_dir_reports_errors(void)
{
    errno = 0;
    CHECK_INT(file_fsync_dir(-1), -1);
    CHECK_INT(errno, EBADF);
}

HARNESS_MAIN(TEST(reads_a_whole_file_nul_terminated), TEST(refuses_a_file_over_the_cap),
             TEST(sizes_are_hints_not_verdicts), TEST(caps_a_stream_of_unknown_size),
             TEST(regular_flag_refuses_fifos_without_blocking),
             TEST(secret_reads_return_the_text), TEST(atomic_write_replaces_the_file_whole),
             TEST(failed_atomic_write_leaves_the_old_file),
             TEST(new_files_never_follow_symlinks), TEST(fsync_dir_reports_errors))
