/*
 * linux.seccomp through the streaming writer (render/seccomp.c): the default profile written
 * straight from the tables must be byte for byte the profile the renderer has always produced
 * (the golden configs hold it: the config digest covers those bytes), at every depth it is
 * written at and in both modes; the prepared text of each architecture list must equal what
 * the tables give at config.json's depth, and be used exactly where it fits.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/digest.h"
#include "common/jsonx.h"
#include "common/sbuf.h"
#include "render/arena.h"
#include "render/ctx.h"
#include "common/jw.h"
#include "render/oci.h"
#include "render/render.h"
#include "render/seccomp.h"
#include "tests/harness.h"

/* The writer's depth at linux.seccomp's value: in config.json, and in the envelope. */
#define CONFIG_DEPTH 2
#define ENVELOPE_DEPTH 3

/* Every machine name seccomp_default_arches() knows (render/seccomp.c's table). */
static const char *const machine_names[] = {
    "x86_64", "amd64",   "i386",   "i486",   "i586",     "i686", "x86",   "386",  "aarch64",
    "arm64",  "armv8l",  "armv7l", "armv6l", "armv5tel", "arm",  "armhf", "armel",
};
#define N_MACHINES (sizeof(machine_names) / sizeof(machine_names[0]))

static char *case_path(const char *name, const char *file)
{
    static char path[4600];
    snprintf(path, sizeof(path), "%s/tests/render/cases/%s/%s", OCIRENDER_SOURCE_DIR, name, file);
    return path;
}

static json_t *load_json(const char *path)
{
    size_t len;
    char *text = harness_slurp(path, &len);
    if (!text) {
        return NULL;
    }
    json_error_t je;
    json_t *v = jsonx_loadb(text, len, &je);
    free(text);
    return v;
}

/* The config object of an expected.json (a bare config or an envelope). */
static const json_t *config_of(const json_t *expected)
{
    const json_t *cfg = json_object_get(expected, "config");
    return cfg ? cfg : expected;
}

/* A string list of a document as a strv borrowing its strings (arena-backed array). */
static void strv_of(struct arena *a, const json_t *list, struct strv *out)
{
    memset(out, 0, sizeof(*out));
    for (size_t i = 0; i < json_array_size(list); i++) {
        CHECK_INT(strv_push(a, out, json_string_value(json_array_get(list, i))), 0);
    }
}

/* `value` at writer depth `depth`: wrapped in `depth` objects, the innermost member named
 * "seccomp"; the whole text with jw_finish()'s newline. */
static char *write_at(const struct oci_seccomp *s, bool compact, int depth, size_t *len)
{
    struct sbuf b;
    struct jw w;
    sbuf_init(&b, 1u << 24);
    jw_init(&w, &b, compact, 0);
    for (int d = 1; d <= depth; d++) {
        jw_object_open(&w);
        jw_key(&w, d == depth ? "seccomp" : "k");
    }
    seccomp_write(&w, s);
    for (int d = 1; d <= depth; d++) {
        jw_object_close(&w);
    }
    CHECK_INT(jw_finish(&w), 0);
    char *text = sbuf_take(&b, len);
    sbuf_free(&b);
    return text;
}

/* The jansson dump of the same wrapping around the old profile document. */
static char *dump_at(const json_t *profile, bool compact, int depth, size_t *len)
{
    json_t *v = json_incref((json_t *)(uintptr_t)profile);
    for (int d = depth; d >= 1; d--) {
        json_t *o = json_object();
        CHECK_INT(json_object_set_new(o, d == depth ? "seccomp" : "k", v), 0);
        v = o;
    }
    char *text = jsonx_dump(v, compact ? JSONX_COMPACT : JSONX_PRETTY, len);
    json_decref(v);
    return text;
}

static bool writes_as(const struct oci_seccomp *s, const json_t *profile, const char *what)
{
    static const int depths[] = {0, 1, CONFIG_DEPTH, ENVELOPE_DEPTH};
    bool ok = true;
    for (int compact = 0; compact < 2; compact++) {
        for (size_t i = 0; i < sizeof(depths) / sizeof(depths[0]); i++) {
            size_t glen = 0, wlen = 0;
            char *got = write_at(s, compact, depths[i], &glen);
            char *want = dump_at(profile, compact, depths[i], &wlen);
            if (!got || !want || glen != wlen || memcmp(got, want, glen) != 0) {
                fprintf(stderr, "  %s: the writer differs from the old profile's dump (%s, "
                                "depth %d)\n",
                        what, compact ? "compact" : "pretty", depths[i]);
                ok = false;
            }
            free(got);
            free(want);
        }
    }
    return ok;
}

/* The bits of a render that render_seccomp() reads and writes. */
struct fake_render {
    struct arena a;
    struct err err;
    struct host_facts host;
    struct render_options opt;
    struct render_settings set;
    struct oci_config cfg;
    struct rctx c;
};

static void fake_init(struct fake_render *f, const char *arch, const struct render_prepared *p)
{
    memset(f, 0, sizeof(*f));
    arena_init(&f->a, 1u << 20);
    err_init(&f->err);
    f->host.arch = arch;
    f->set.prepared = p;
    f->c.set = &f->set;
    f->c.err = &f->err;
    f->c.a = &f->a;
    f->c.host = &f->host;
    f->c.opt = &f->opt;
    f->c.cfg = &f->cfg;
}

static void fake_release(struct fake_render *f)
{
    arena_release(&f->a);
}

/* The bounding set of a golden case's config. */
static json_t *golden_caps(const char *name)
{
    json_t *expected = load_json(case_path(name, "expected.json"));
    CHECK(expected != NULL);
    json_t *caps = json_deep_copy(
        json_object_get(json_object_get(json_object_get(config_of(expected), "process"),
                                        "capabilities"),
                        "bounding"));
    json_decref(expected);
    CHECK(json_array_size(caps) > 0);
    return caps;
}

/* The bounding set of a service with no cap_add/cap_drop, as the renderer gives it: process.c's
 * default set, which the prepared texts are for. */
static json_t *default_caps_doc(void)
{
    return golden_caps("minimal");
}

/* Every golden config's linux.seccomp: render_seccomp() for the same host.arch and bounding
 * set, with and without prepared texts, writes exactly the old profile at every depth. */
static void default_profile_is_the_old_profile_byte_for_byte(void)
{
    struct render_prepared *p = render_prepared_new();
    CHECK(p != NULL);
    char dir[4096];
    snprintf(dir, sizeof(dir), "%s/tests/render/cases", OCIRENDER_SOURCE_DIR);
    DIR *d = opendir(dir);
    CHECK(d != NULL);
    int defaults = 0, prepared_used = 0, customs = 0;
    for (struct dirent *e; d && (e = readdir(d));) {
        if (e->d_name[0] == '.') {
            continue;
        }
        json_t *expected = load_json(case_path(e->d_name, "expected.json"));
        const json_t *cfg = config_of(expected);
        const json_t *profile = json_object_get(json_object_get(cfg, "linux"), "seccomp");
        if (!profile) {
            json_decref(expected);
            continue;
        }
        const json_t *arches = json_object_get(profile, "architectures");
        const char *machine = NULL;
        for (size_t i = 0; !machine && i < N_MACHINES; i++) {
            const char *const *list = seccomp_default_arches(machine_names[i]);
            size_t n = 0;
            while (list[n] && n < json_array_size(arches) &&
                   strcmp(list[n], json_string_value(json_array_get(arches, n))) == 0) {
                n++;
            }
            if (!list[n] && n == json_array_size(arches)) {
                machine = machine_names[i];
            }
        }
        for (int with_prepared = 0; with_prepared < 2; with_prepared++) {
            struct fake_render f;
            fake_init(&f, machine ? machine : "x86_64", with_prepared ? p : NULL);
            strv_of(&f.a, json_object_get(json_object_get(json_object_get(cfg, "process"),
                                                          "capabilities"),
                                          "bounding"),
                    &f.c.caps);
            if (!machine) { /* not a default profile: the custom one, as given */
                f.opt.seccomp_profile = (json_t *)(uintptr_t)profile;
            }
            CHECK_INT(render_seccomp(&f.c), 0);
            const struct oci_seccomp *s = &f.cfg.linux_.seccomp;
            CHECK(machine ? s->use_default && !s->custom : s->custom == profile);
            if (!writes_as(s, profile, e->d_name)) {
                CHECK(false);
            }
            defaults += machine && with_prepared;
            customs += !machine && with_prepared;
            prepared_used += s->text != NULL;
            CHECK(with_prepared || !s->text);
            fake_release(&f);
        }
        json_decref(expected);
    }
    if (d) {
        closedir(d);
    }
    /* The goldens hold x86_64 and arm64 profiles, most with the default set (prepared). */
    CHECK(defaults >= 5);
    CHECK(customs >= 1);
    CHECK(prepared_used >= 3);
    render_prepared_free(p);
}

/* For each architecture list: the prepared text is the tables' pretty text at config.json's
 * depth, it is used there, and nowhere else (compact, the envelope's depth). */
static void prepared_text_is_the_tables_text_and_used_only_where_it_fits(void)
{
    struct render_prepared *p = render_prepared_new();
    CHECK(p != NULL);
    json_t *caps_doc = default_caps_doc();
    const char *const *seen[N_MACHINES];
    size_t n_seen = 0;
    for (size_t i = 0; p && i < N_MACHINES; i++) {
        const char *const *arches = seccomp_default_arches(machine_names[i]);
        CHECK(arches != NULL);
        bool dup = false;
        for (size_t j = 0; j < n_seen; j++) {
            dup = dup || seen[j] == arches;
        }
        if (dup) {
            continue;
        }
        seen[n_seen++] = arches;

        struct fake_render f;
        fake_init(&f, machine_names[i], p);
        strv_of(&f.a, caps_doc, &f.c.caps);
        CHECK_INT(render_seccomp(&f.c), 0);
        const struct oci_seccomp *s = &f.cfg.linux_.seccomp;
        CHECK(s->use_default && s->arches == arches);
        CHECK(s->text != NULL && s->text_len > 0);
        struct oci_seccomp tables = *s;
        tables.text = NULL;
        tables.text_len = 0;

        /* The value alone, as the writer puts it at config.json's depth. */
        struct sbuf b;
        struct jw w;
        sbuf_init(&b, 1u << 24);
        jw_init(&w, &b, false, CONFIG_DEPTH);
        seccomp_write(&w, &tables);
        CHECK_INT(w.rc, 0);
        if (!s->text || sbuf_len(&b) != s->text_len ||
            memcmp(sbuf_str(&b), s->text, s->text_len) != 0) {
            fprintf(stderr, "  %s: the prepared text differs from the tables\n",
                    machine_names[i]);
            CHECK(false);
        }
        sbuf_free(&b);

        /* Used at config.json's depth, ignored elsewhere: a marker shows which. */
        struct oci_seccomp marked = *s;
        marked.text = "\"prepared\"";
        marked.text_len = strlen(marked.text);
        for (int compact = 0; compact < 2; compact++) {
            for (int depth = 0; depth <= ENVELOPE_DEPTH; depth++) {
                size_t mlen = 0, tlen = 0;
                char *m = write_at(&marked, compact, depth, &mlen);
                char *t = write_at(&tables, compact, depth, &tlen);
                bool used = m && strstr(m, "\"prepared\"") != NULL;
                CHECK(used == (!compact && depth == CONFIG_DEPTH));
                if (!used) {
                    CHECK(m && t && mlen == tlen && memcmp(m, t, tlen) == 0);
                }
                free(m);
                free(t);
            }
        }
        fake_release(&f);
    }
    CHECK_INT(n_seen, 4); /* x86_64, x86, aarch64, arm */
    json_decref(caps_doc);
    render_prepared_free(p);
}

/* The text `s` writes at config.json's depth, pretty. */
static char *write_at_config_depth(const struct oci_seccomp *s)
{
    struct sbuf b;
    struct jw w;
    sbuf_init(&b, 1u << 20);
    jw_init(&w, &b, false, 2);
    seccomp_write(&w, s);
    CHECK_INT(w.rc, 0);
    return sbuf_take(&b, NULL);
}

/* The prepared text serves every set that opens the same lifted groups as the default set
 * (dropping NET_RAW and MKNOD, adding NET_ADMIN), and only those: a capability that opens or
 * closes a group (SYS_PTRACE, SYS_CHROOT), none at all, or no prepared texts, and the tables
 * are written at output time. */
static void prepared_text_for_the_default_profile_only(void)
{
    struct render_prepared *p = render_prepared_new();
    CHECK(p != NULL);
    json_t *caps_doc = default_caps_doc();
    json_t *more = json_deep_copy(caps_doc);
    CHECK_INT(json_array_append_new(more, json_string("CAP_SYS_PTRACE")), 0);
    json_t *fewer = json_deep_copy(caps_doc);
    CHECK_INT(json_array_remove(fewer, json_array_size(fewer) - 1), 0);
    json_t *none = json_array();
    json_t *dropped = json_deep_copy(caps_doc); /* cap_drop: [NET_RAW, MKNOD] */
    for (size_t i = json_array_size(dropped); i-- > 0;) {
        const char *name = json_string_value(json_array_get(dropped, i));
        if (strcmp(name, "CAP_NET_RAW") == 0 || strcmp(name, "CAP_MKNOD") == 0) {
            CHECK_INT(json_array_remove(dropped, i), 0);
        }
    }
    CHECK_INT(json_array_size(dropped), json_array_size(caps_doc) - 2);
    json_t *net_admin = json_deep_copy(caps_doc);
    CHECK_INT(json_array_append_new(net_admin, json_string("CAP_NET_ADMIN")), 0);
    const struct {
        const json_t *caps;
        const struct render_prepared *p;
        bool text;
    } cases[] = {
        {caps_doc, p, true}, {caps_doc, NULL, false}, {more, p, false},
        {fewer, p, false},   {none, p, false},        {dropped, p, true},
        {net_admin, p, true},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct fake_render f;
        fake_init(&f, "arm64", cases[i].p);
        strv_of(&f.a, cases[i].caps, &f.c.caps);
        CHECK_INT(render_seccomp(&f.c), 0);
        CHECK(f.cfg.linux_.seccomp.use_default);
        CHECK((f.cfg.linux_.seccomp.text != NULL) == cases[i].text);
        /* The profile keeps the set: the context's list may go, the config stays. */
        CHECK(f.cfg.linux_.seccomp.caps != &f.c.caps);
        CHECK_INT(f.cfg.linux_.seccomp.caps->n, json_array_size(cases[i].caps));
        if (cases[i].text) {
            /* the copied text is exactly what the tables give for this very set */
            struct oci_seccomp from_tables = f.cfg.linux_.seccomp;
            from_tables.text = NULL;
            char *copied = write_at_config_depth(&f.cfg.linux_.seccomp);
            char *written = write_at_config_depth(&from_tables);
            CHECK_STR(copied, written);
            free(copied);
            free(written);
        }
        fake_release(&f);
    }
    json_decref(net_admin);
    json_decref(dropped);
    json_decref(none);
    json_decref(fewer);
    json_decref(more);
    json_decref(caps_doc);
    render_prepared_free(p);
}

/*
 * SHA-256 of the jansson compact dumps the jansson-building renderer (before the typed
 * config) produced for host.arch = the machine, concatenated over five bounding sets in this
 * order: the default set (golden `minimal`), none, every capability (golden `privileged`),
 * the default set with CAP_SYS_ADMIN and CAP_SYS_PTRACE (golden `seccomp-arm64-caps`), and
 * [CAP_BPF, CAP_PERFMON, CAP_SYSLOG]. They pin every machine alias, every lifted group and
 * its order, where the goldens alone hold only two architectures and a few sets.
 */
static const struct {
    const char *machine, *sha256;
} old_profiles[] = {
    {"x86_64", "23ce7b95b1a3637edba99f8f0b08e5ee62c472da3ba7e9569035b59bc89a0202"},
    {"amd64", "23ce7b95b1a3637edba99f8f0b08e5ee62c472da3ba7e9569035b59bc89a0202"},
    {"i386", "04c44ee60b9fe9280e68e6b401833849c5d994e20340f790ef714af250fc8528"},
    {"i486", "04c44ee60b9fe9280e68e6b401833849c5d994e20340f790ef714af250fc8528"},
    {"i586", "04c44ee60b9fe9280e68e6b401833849c5d994e20340f790ef714af250fc8528"},
    {"i686", "04c44ee60b9fe9280e68e6b401833849c5d994e20340f790ef714af250fc8528"},
    {"x86", "04c44ee60b9fe9280e68e6b401833849c5d994e20340f790ef714af250fc8528"},
    {"386", "04c44ee60b9fe9280e68e6b401833849c5d994e20340f790ef714af250fc8528"},
    {"aarch64", "3795fbcc0c4434d78759cdcd693052ed8ee2297c8ad3cf35cb6c5c8683db56ed"},
    {"arm64", "3795fbcc0c4434d78759cdcd693052ed8ee2297c8ad3cf35cb6c5c8683db56ed"},
    {"armv8l", "953c44e3d03575620ab779c57e7511ca15cb257f0171c91782d5542f9161ed16"},
    {"armv7l", "953c44e3d03575620ab779c57e7511ca15cb257f0171c91782d5542f9161ed16"},
    {"armv6l", "953c44e3d03575620ab779c57e7511ca15cb257f0171c91782d5542f9161ed16"},
    {"armv5tel", "953c44e3d03575620ab779c57e7511ca15cb257f0171c91782d5542f9161ed16"},
    {"arm", "953c44e3d03575620ab779c57e7511ca15cb257f0171c91782d5542f9161ed16"},
    {"armhf", "953c44e3d03575620ab779c57e7511ca15cb257f0171c91782d5542f9161ed16"},
    {"armel", "953c44e3d03575620ab779c57e7511ca15cb257f0171c91782d5542f9161ed16"},
};

static void every_machine_and_lifted_group_as_before(void)
{
    json_t *sets[] = {default_caps_doc(), json_array(), golden_caps("privileged"),
                      golden_caps("seccomp-arm64-caps"),
                      json_pack("[s,s,s]", "CAP_BPF", "CAP_PERFMON", "CAP_SYSLOG")};
    CHECK_INT(json_array_size(sets[2]), 41);
    struct render_prepared *p = render_prepared_new();
    CHECK(p != NULL);
    for (size_t m = 0; m < sizeof(old_profiles) / sizeof(old_profiles[0]); m++) {
        struct sbuf all;
        sbuf_init(&all, 1u << 24);
        for (size_t i = 0; i < sizeof(sets) / sizeof(sets[0]); i++) {
            struct fake_render f;
            fake_init(&f, old_profiles[m].machine, p);
            strv_of(&f.a, sets[i], &f.c.caps);
            CHECK_INT(render_seccomp(&f.c), 0);
            size_t len = 0;
            char *text = write_at(&f.cfg.linux_.seccomp, true, 0, &len);
            CHECK(text != NULL);
            CHECK_INT(text ? sbuf_addn(&all, text, len) : -1, 0);
            free(text);
            fake_release(&f);
        }
        char hex[65] = "";
        CHECK_INT(digest_sha256_hex(sbuf_str(&all), sbuf_len(&all), hex), 0);
        if (strcmp(hex, old_profiles[m].sha256) != 0) {
            fprintf(stderr, "  %s: the profiles differ from the old renderer's\n",
                    old_profiles[m].machine);
            CHECK(false);
        }
        sbuf_free(&all);
    }
    render_prepared_free(p);
    for (size_t i = 0; i < sizeof(sets) / sizeof(sets[0]); i++) {
        json_decref(sets[i]);
    }
}

static const char *warning_code(const struct fake_render *f, size_t i)
{
    return i < f->c.n_warnings ? f->c.warnings[i].code : NULL;
}

/* The old decisions, in the old precedence: privileged wins (a custom profile only warns),
 * then a custom profile with seccomp=unconfined is an error, then unconfined means none, a
 * custom profile is used as given (in place), else the default of host.arch or the renderer's
 * own machine (with a warning); out of memory leaves no partial profile. */
static void decisions_as_before(void)
{
    json_t *custom = json_pack("{s:s}", "defaultAction", "SCMP_ACT_ALLOW");
    struct fake_render f;

    fake_init(&f, NULL, NULL);
    f.c.privileged = true;
    f.c.seccomp_unconfined = true;
    f.opt.seccomp_profile = custom;
    CHECK_INT(render_seccomp(&f.c), 0);
    CHECK(!f.cfg.linux_.seccomp.custom && !f.cfg.linux_.seccomp.use_default);
    CHECK_INT(f.c.n_warnings, 1);
    CHECK_STR(warning_code(&f, 0), "seccomp_profile_privileged");
    fake_release(&f);

    fake_init(&f, "nonsense", NULL);
    f.c.seccomp_unconfined = true;
    f.opt.seccomp_profile = custom;
    CHECK_INT(render_seccomp(&f.c), -1);
    CHECK_INT(f.err.code, ERR_SPEC_INVALID);
    CHECK_STR(f.err.first.path, "options.seccomp_profile");
    fake_release(&f);

    fake_init(&f, "nonsense", NULL);
    f.c.seccomp_unconfined = true;
    CHECK_INT(render_seccomp(&f.c), 0);
    CHECK(!f.cfg.linux_.seccomp.custom && !f.cfg.linux_.seccomp.use_default);
    fake_release(&f);

    fake_init(&f, "nonsense", NULL);
    f.opt.seccomp_profile = custom;
    CHECK_INT(render_seccomp(&f.c), 0);
    CHECK(f.cfg.linux_.seccomp.custom == custom && !f.cfg.linux_.seccomp.use_default);
    fake_release(&f);

    fake_init(&f, "sparc64", NULL);
    CHECK_INT(render_seccomp(&f.c), -1);
    CHECK_INT(f.err.code, ERR_SPEC_INVALID);
    CHECK_STR(f.err.first.path, "host.arch");
    CHECK_CONTAINS(f.err.first.msg, "no tables for architecture 'sparc64'");
    CHECK(!f.cfg.linux_.seccomp.use_default);
    fake_release(&f);

    fake_init(&f, NULL, NULL);
    f.set.native_arch = "ARM64";
    CHECK_INT(render_seccomp(&f.c), 0);
    CHECK(f.cfg.linux_.seccomp.arches == seccomp_default_arches("aarch64"));
    CHECK_INT(f.c.n_warnings, 1);
    CHECK_STR(warning_code(&f, 0), "host_arch_assumed");
    CHECK_CONTAINS(f.c.warnings[0].message, "rendered it (arm64)");
    fake_release(&f);

    fake_init(&f, NULL, NULL);
    f.set.native_arch = "mips";
    CHECK_INT(render_seccomp(&f.c), -1);
    CHECK_CONTAINS(f.err.first.msg, "('mips') has no default seccomp profile");
    CHECK_INT(f.c.n_warnings, 0);
    fake_release(&f);

    fake_init(&f, "x86_64", NULL);
    arena_release(&f.a);
    arena_init(&f.a, 1); /* nothing fits */
    CHECK_INT(render_seccomp(&f.c), -1);
    CHECK_INT(f.err.code, ERR_NOMEM);
    CHECK(!f.cfg.linux_.seccomp.use_default);
    fake_release(&f);

    json_decref(custom);
}

HARNESS_MAIN(TEST(default_profile_is_the_old_profile_byte_for_byte),
             TEST(prepared_text_is_the_tables_text_and_used_only_where_it_fits),
             TEST(prepared_text_for_the_default_profile_only),
             TEST(every_machine_and_lifted_group_as_before),
             TEST(decisions_as_before))
