#define _GNU_SOURCE /* mkdtemp, pipe2 */
#include "tests/secrets/vdouble.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <curl/curl.h>

#include "common/strutil.h"


#define PYTHON "/usr/bin/python3"

int run_quiet(const char *const *argv)
{
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    pid_t pid;
    int rc = posix_spawnp(&pid, argv[0], &fa, NULL, (char *const *)(uintptr_t)argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) {
        return -1;
    }
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int make_certs(const char *dir)
{
    char ca_key[300], ca[300], key[300], csr[300], crt[300], ext[300], ckey[300], ccsr[300],
        ccrt[300];
    snprintf(ca_key, sizeof(ca_key), "%s/ca.key", dir);
    snprintf(ca, sizeof(ca), "%s/ca.pem", dir);
    snprintf(key, sizeof(key), "%s/server.key", dir);
    snprintf(csr, sizeof(csr), "%s/server.csr", dir);
    snprintf(crt, sizeof(crt), "%s/server.pem", dir);
    snprintf(ext, sizeof(ext), "%s/ext.cnf", dir);
    snprintf(ckey, sizeof(ckey), "%s/client.key", dir);
    snprintf(ccsr, sizeof(ccsr), "%s/client.csr", dir);
    snprintf(ccrt, sizeof(ccrt), "%s/client.pem", dir);
    FILE *f = fopen(ext, "w");
    if (!f) {
        return -1;
    }
    fputs("subjectAltName=IP:127.0.0.1,DNS:localhost\n", f);
    fclose(f);
    const char *a1[] = {"openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                        "-subj", "/CN=ocirender test CA", "-keyout", ca_key, "-out", ca, NULL};
    const char *a2[] = {"openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj",
                        "/CN=127.0.0.1", "-keyout", key, "-out", csr, NULL};
    const char *a3[] = {"openssl", "x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key,
                        "-CAcreateserial", "-days", "2", "-extfile", ext, "-out", crt, NULL};
    const char *a4[] = {"openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj",
                        "/CN=ocirender client", "-keyout", ckey, "-out", ccsr, NULL};
    const char *a5[] = {"openssl", "x509", "-req", "-in", ccsr, "-CA", ca, "-CAkey", ca_key,
                        "-CAcreateserial", "-days", "2", "-out", ccrt, NULL};
    if (run_quiet(a1) || run_quiet(a2) || run_quiet(a3) || run_quiet(a4) || run_quiet(a5)) {
        return -1;
    }
    chmod(ckey, 0600);
    return 0;
}

int vd_start(struct vdouble *d, bool tls, bool client_ca)
{
    static bool curl_ready;
    if (!curl_ready) {
        curl_global_init(CURL_GLOBAL_DEFAULT); /* once, before any test thread */
        curl_ready = true;
    }
    memset(d, 0, sizeof(*d));
    if (access(PYTHON, X_OK) != 0) {
        return 77;
    }
    snprintf(d->dir, sizeof(d->dir), "/tmp/ocr-secrets-test.XXXXXX");
    if (!mkdtemp(d->dir)) {
        return -1;
    }
    d->tls = tls;
    if (tls) {
        const char *probe[] = {"openssl", "version", NULL};
        if (run_quiet(probe) != 0) {
            return 77;
        }
        if (make_certs(d->dir)) {
            return -1;
        }
    }
    char script[512], cert[300], key[300], ca[300];
    snprintf(script, sizeof(script), "%s/tests/vault_double/vault_double.py", OCIRENDER_SOURCE_DIR);
    snprintf(cert, sizeof(cert), "%s/server.pem", d->dir);
    snprintf(key, sizeof(key), "%s/server.key", d->dir);
    snprintf(ca, sizeof(ca), "%s/ca.pem", d->dir);
    const char *argv[16] = {PYTHON, script, "--timeout", "300"};
    int n = 4;
    if (tls) {
        argv[n++] = "--cert";
        argv[n++] = cert;
        argv[n++] = "--key";
        argv[n++] = key;
    }
    if (client_ca) {
        argv[n++] = "--client-ca";
        argv[n++] = ca;
    }
    argv[n] = NULL;
    int fds[2];
    if (pipe2(fds, O_CLOEXEC)) {
        return -1;
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
    int rc = posix_spawn(&d->pid, PYTHON, &fa, NULL, (char *const *)(uintptr_t)argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(fds[1]);
    if (rc != 0) {
        close(fds[0]);
        return -1;
    }
    char line[512];
    size_t len = 0;
    while (len + 1 < sizeof(line)) {
        ssize_t r = read(fds[0], line + len, 1);
        if (r <= 0 || line[len] == '\n') {
            break;
        }
        len++;
    }
    line[len] = '\0';
    close(fds[0]);
    json_t *info = json_loads(line, 0, NULL);
    d->port = (int)json_integer_value(json_object_get(info, "port"));
    d->other_port = (int)json_integer_value(json_object_get(info, "other_port"));
    d->control_port = (int)json_integer_value(json_object_get(info, "control_port"));
    json_decref(info);
    if (!d->port || !d->control_port) {
        vd_stop(d);
        return -1;
    }
    snprintf(d->addr, sizeof(d->addr), "%s://127.0.0.1:%d", tls ? "https" : "http", d->port);
    return 0;
}

void vd_stop(struct vdouble *d)
{
    if (d->pid > 0) {
        kill(d->pid, SIGKILL);
        while (waitpid(d->pid, NULL, 0) < 0 && errno == EINTR) {
        }
        d->pid = 0;
    }
    if (d->dir[0]) {
        const char *argv[] = {"rm", "-rf", d->dir, NULL};
        run_quiet(argv);
        d->dir[0] = '\0';
    }
}

struct membuf {
    char *p;
    size_t n;
};

static size_t mem_write(char *data, size_t size, size_t nmemb, void *ptr)
{
    struct membuf *m = ptr;
    size_t n = size * nmemb;
    char *q = realloc(m->p, m->n + n + 1);
    if (!q) {
        return 0;
    }
    memcpy(q + m->n, data, n);
    m->p = q;
    m->n += n;
    m->p[m->n] = '\0';
    return n;
}

static long control(struct vdouble *d, const char *op, const char *body, char **out)
{
    char url[256];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/%s", d->control_port, op);
    CURL *c = curl_easy_init();
    struct membuf m = {NULL, 0};
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, mem_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &m);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    }
    long status = 0;
    if (curl_easy_perform(c) == CURLE_OK) {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    }
    curl_easy_cleanup(c);
    if (out) {
        *out = m.p;
    } else {
        free(m.p);
    }
    return status;
}

int vd_ctl(struct vdouble *d, const char *op, const char *json)
{
    long st = control(d, op, json ? json : "{}", NULL);
    if (st != 200) {
        fprintf(stderr, "  vault double control %s failed (%ld)\n", op, st);
    }
    return st == 200 ? 0 : -1;
}

int vd_put(struct vdouble *d, const char *path, const char *data_json)
{
    size_t n = strlen(path) + strlen(data_json) + 64;
    char *body = malloc(n);
    snprintf(body, n, "{\"path\":\"%s\",\"data\":%s}", path, data_json);
    int rc = vd_ctl(d, "kv", body);
    free(body);
    return rc;
}

json_t *vd_stats(struct vdouble *d)
{
    char *text = NULL;
    if (control(d, "stats", NULL, &text) != 200) {
        free(text);
        return NULL;
    }
    json_t *v = json_loads(text, 0, NULL);
    free(text);
    return v;
}

long vd_count(struct vdouble *d, const char *prefix)
{
    json_t *st = vd_stats(d);
    long total = 0;
    const char *k;
    json_t *v;
    json_object_foreach(json_object_get(st, "requests"), k, v)
    {
        if (str_has_prefix(k, prefix)) {
            total += (long)json_integer_value(v);
        }
    }
    json_decref(st);
    return total;
}

long vd_logins(struct vdouble *d)
{
    json_t *st = vd_stats(d);
    long total = 0;
    const char *m, *r;
    json_t *roles, *n;
    json_object_foreach(json_object_get(st, "logins"), m, roles)
    {
        json_object_foreach(roles, r, n)
        {
            total += (long)json_integer_value(n);
        }
    }
    json_decref(st);
    return total;
}

static bool log_has(json_t *log, const char *name, const char *needle)
{
    size_t i;
    json_t *e;
    json_array_foreach(log, i, e)
    {
        const char *k;
        json_t *v;
        json_object_foreach(json_object_get(e, "headers"), k, v)
        {
            if (name && !str_eq_nocase(k, name)) {
                continue;
            }
            const char *s = json_string_value(v);
            if (s && (name ? strcmp(s, needle) == 0 : strstr(s, needle) != NULL)) {
                return true;
            }
        }
    }
    return false;
}

bool vd_other_saw(struct vdouble *d, const char *needle)
{
    json_t *st = vd_stats(d);
    bool saw = log_has(json_object_get(st, "other"), NULL, needle);
    json_decref(st);
    return saw;
}

long vd_other_requests(struct vdouble *d)
{
    json_t *st = vd_stats(d);
    long n = (long)json_array_size(json_object_get(st, "other"));
    json_decref(st);
    return n;
}

bool vd_main_saw_header(struct vdouble *d, const char *name, const char *value)
{
    json_t *st = vd_stats(d);
    bool saw = log_has(json_object_get(st, "log"), name, value);
    json_decref(st);
    return saw;
}

void vd_settings(const struct vdouble *d, struct secrets_settings *s)
{
    memset(s, 0, sizeof(*s));
    s->kind = SECRETS_VAULT;
    s->cache_ttl_ms = 30000;
    s->negative_ttl_ms = 2000;
    s->vault_addr = d->addr;
    s->vault_token = "root";
    s->vault_mount = "secret";
    s->vault_path_prefix = "";
    s->vault_approle_mount = "approle";
    s->vault_timeout_ms = 5000;
    s->vault_max_retries = 2;
    s->vault_allow_http = !d->tls;
    s->vault_connect_timeout_ms = 2000;
    s->vault_retry_wait_min_ms = 10;
    s->vault_retry_wait_max_ms = 30;
    s->fetch_threads = 8;
    s->ready_cache_ms = 1000;
    s->log_level = LOG_ERROR;
}

int refs_make(struct render_secret_refs *refs, const char *scope, const char *const *values,
              size_t n)
{
    refs->n = 0;
    refs->items = calloc(n ? n : 1, sizeof(*refs->items));
    if (!refs->items) {
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        struct err err;
        err_init(&err);
        char path[64], env[32];
        snprintf(env, sizeof(env), "E%zu", i);
        snprintf(path, sizeof(path), "services.t.env.%s", env);
        if (render_parse_secret_ref(values[i], scope, path, &refs->items[i], &err)) {
            fprintf(stderr, "  bad ref %s: %s\n", values[i], err_message(&err));
            render_secret_refs_release(refs);
            return -1;
        }
        refs->items[i].env = str_dup(env);
        refs->n++;
    }
    return 0;
}

static pthread_mutex_t capture_lock = PTHREAD_MUTEX_INITIALIZER;

void log_capture_fn(void *ctx, enum log_level level, const char *msg)
{
    (void)level;
    struct log_capture *c = ctx;
    pthread_mutex_lock(&capture_lock);
    size_t n = strlen(msg);
    char *p = realloc(c->text, c->len + n + 2);
    if (p) {
        memcpy(p + c->len, msg, n);
        p[c->len + n] = '\n';
        p[c->len + n + 1] = '\0';
        c->text = p;
        c->len += n + 1;
    }
    pthread_mutex_unlock(&capture_lock);
}

void log_capture_free(struct log_capture *c)
{
    free(c->text);
    c->text = NULL;
    c->len = 0;
}
