/*
 * Secrets as files: an env key ending in _FILE with a $S: value becomes a file under
 * /run/secrets (the value in the result's secret_files, never in files or the config), while
 * every other env value is rendered as before. Every config goes through validate-oci.
 */
#include <stdlib.h>
#include <string.h>

#include "common/digest.h"
#include "common/jsonx.h"
#include "common/strutil.h"
#include "tests/unit/rtest.h"

#define SPEC                                                                                 \
    "version: v1\ndeployment: shop\nservices:\n  web:\n    image:\n      name: busybox\n"    \
    "    user: \"1000:2000\"\n    env:\n"

static const char *const PASSWORD = "s3cr3t-pa55";
static const char *const API_KEY = "api-key-value";

static json_t *secret_values(void)
{
    return json_pack("{s:s, s:s}", "$S:db/password", PASSWORD, "$S:api-key", API_KEY);
}

static int render_env(struct rt *t, const char *env_yaml)
{
    char spec[2048];
    snprintf(spec, sizeof(spec), SPEC "%s", env_yaml);
    json_t *secrets = secret_values();
    struct rt_in in = {.spec = spec, .secrets = secrets};
    int rc = rt_render(t, &in);
    json_decref(secrets);
    return rc;
}

static bool text_has(const char *text, const char *needle)
{
    return text && strstr(text, needle) != NULL;
}

static void file_secret_becomes_a_path_and_an_entry(void)
{
    struct rt t;
    CHECK_INT(render_env(&t, "      DB_PASSWORD_FILE: $S:db/password\n"
                             "      API_KEY: $S:api-key\n"),
              0);
    CHECK_STR(rt_env(t.config, "DB_PASSWORD_FILE"), "/run/secrets/DB_PASSWORD");
    CHECK(rt_env(t.config, "DB_PASSWORD") == NULL);
    CHECK_STR(rt_env(t.config, "API_KEY"), API_KEY); /* a plain $S: stays an env value */
    CHECK(!text_has(t.text, PASSWORD));              /* the config never holds the file's value */

    CHECK_INT((int)json_object_size(t.secret_files), 1);
    const json_t *e = json_object_get(t.secret_files, "DB_PASSWORD");
    CHECK_STR(jsonx_get_str(e, "value"), PASSWORD);
    CHECK_INT((int)json_integer_value(json_object_get(e, "uid")), 1000);
    CHECK_INT((int)json_integer_value(json_object_get(e, "gid")), 2000);
    CHECK_INT((int)json_integer_value(json_object_get(e, "mode")), 0400);
    CHECK_INT((int)json_object_size(e), 4);

    CHECK(json_object_get(t.files, "DB_PASSWORD") == NULL);
    char *files = json_dumps(t.files, 0);
    CHECK(!text_has(files, PASSWORD));
    free(files);

    const json_t *m = rt_mount(t.config, "/run/secrets");
    CHECK(m != NULL);
    CHECK_STR(jsonx_get_str(m, "type"), "bind");
    CHECK_STR(jsonx_get_str(m, "source"), "/run/ocirender/secrets/web-rep-1");
    const json_t *opts = json_object_get(m, "options");
    CHECK(rt_has_str(opts, "ro") && rt_has_str(opts, "rbind") && rt_has_str(opts, "nosuid") &&
          rt_has_str(opts, "nodev") && rt_has_str(opts, "noexec"));
    CHECK(!rt_has_str(opts, "rw"));
    /* mounted last, so nothing the spec mounts on /run hides it */
    CHECK_INT(rt_mount_index(t.config, "/run/secrets"),
              (int)json_array_size(json_object_get(t.config, "mounts")) - 1);
    rt_free(&t);
}

static void other_file_values_stay_plain_env(void)
{
    struct rt t;
    CHECK_INT(render_env(&t, "      CONFIG_FILE: /etc/app.conf\n"
                             "      ESCAPED_FILE: $$S:db/password\n"
                             "      _FILE: $S:api-key\n"
                             "      DB_PASSWORD: $S:db/password\n"),
              0);
    CHECK_STR(rt_env(t.config, "CONFIG_FILE"), "/etc/app.conf");
    CHECK_STR(rt_env(t.config, "ESCAPED_FILE"), "$S:db/password");
    CHECK_STR(rt_env(t.config, "_FILE"), API_KEY); /* no name before _FILE: not a file */
    CHECK_STR(rt_env(t.config, "DB_PASSWORD"), PASSWORD);
    CHECK(t.secret_files == NULL || json_object_size(t.secret_files) == 0);
    CHECK(rt_mount(t.config, "/run/secrets") == NULL);
    rt_free(&t);
}

static void user_name_and_root_ids(void)
{
    struct rt t;
    const char *spec = "version: v1\ndeployment: shop\nservices:\n  web:\n    image:\n"
                       "      name: busybox\n    env:\n      TOKEN_FILE: $S:api-key\n";
    json_t *secrets = secret_values();
    struct rt_in in = {.spec = spec, .secrets = secrets};
    CHECK_INT(rt_render(&t, &in), 0);
    const json_t *e = json_object_get(t.secret_files, "TOKEN");
    CHECK_INT((int)json_integer_value(json_object_get(e, "uid")), 0);
    CHECK_INT((int)json_integer_value(json_object_get(e, "gid")), 0);
    rt_free(&t);
    json_decref(secrets);
}

static void spec_mount_on_run_secrets_gives_way(void)
{
    struct rt t;
    const char *spec = SPEC "      DB_PASSWORD_FILE: $S:db/password\n"
                            "    storage:\n      - type: tmpfs\n        target: /run/secrets\n";
    json_t *secrets = secret_values();
    struct rt_in in = {.spec = spec, .secrets = secrets};
    CHECK_INT(rt_render(&t, &in), 0);
    int n = 0;
    const json_t *mounts = json_object_get(t.config, "mounts");
    for (size_t i = 0; i < json_array_size(mounts); i++) {
        n += str_eq(jsonx_get_str(json_array_get(mounts, i), "destination"), "/run/secrets");
    }
    CHECK_INT(n, 1);
    CHECK_STR(jsonx_get_str(rt_mount(t.config, "/run/secrets"), "type"), "bind");
    CHECK(rt_has_warning(&t, "secrets_mount_replaced"));
    rt_free(&t);
    json_decref(secrets);
}

static void missing_value_names_the_env_path(void)
{
    struct rt t;
    const char *spec = SPEC "      DB_PASSWORD_FILE: $S:nope\n";
    json_t *secrets = secret_values();
    struct rt_in in = {.spec = spec, .secrets = secrets};
    CHECK_INT(rt_render(&t, &in), -1);
    CHECK_STR(rt_err_path(&t), "services.web.env.DB_PASSWORD_FILE");
    rt_free(&t);
    json_decref(secrets);
}

/* The envelope carries secret_files after files; the digest covers only the config text,
 * which names the file's path and not its value. */
static void envelope_shape_and_digest(void)
{
    struct rt t;
    CHECK_INT(render_env(&t, "      DB_PASSWORD_FILE: $S:db/password\n"), 0);
    json_error_t je;
    json_t *env = jsonx_loadb(t.envelope, strlen(t.envelope), &je);
    const char *order[] = {"config", "digest", "warnings", "files", "secret_files", "secrets"};
    size_t i = 0;
    const char *k;
    json_t *v;
    json_object_foreach(env, k, v)
    {
        CHECK(i < 6 && strcmp(k, order[i]) == 0);
        i++;
    }
    CHECK_INT((int)i, 6);
    CHECK(json_equal(json_object_get(env, "secret_files"), t.secret_files));
    char hex[65], want[80];
    CHECK_INT(digest_sha256_hex(t.text, strlen(t.text), hex), 0);
    snprintf(want, sizeof(want), "sha256:%s", hex);
    CHECK_STR(jsonx_get_str(env, "digest"), want);
    CHECK(!text_has(t.text, PASSWORD));
    json_decref(env);
    rt_free(&t);

    /* without file secrets the envelope has no secret_files member */
    CHECK_INT(render_env(&t, "      API_KEY: $S:api-key\n"), 0);
    CHECK(!text_has(t.envelope, "secret_files"));
    rt_free(&t);
}

static void placeholder_render_keeps_the_shape(void)
{
    struct rt t;
    struct render_settings set = {.placeholder_secrets = true};
    const char *spec = SPEC "      DB_PASSWORD_FILE: $S:db/password\n";
    struct rt_in in = {.spec = spec, .settings = &set};
    CHECK_INT(rt_render(&t, &in), 0);
    CHECK_STR(rt_env(t.config, "DB_PASSWORD_FILE"), "/run/secrets/DB_PASSWORD");
    CHECK(rt_mount(t.config, "/run/secrets") != NULL);
    rt_free(&t);
}

RT_MAIN(TEST(file_secret_becomes_a_path_and_an_entry), TEST(other_file_values_stay_plain_env),
        TEST(user_name_and_root_ids), TEST(spec_mount_on_run_secrets_gives_way),
        TEST(missing_value_names_the_env_path), TEST(envelope_shape_and_digest),
        TEST(placeholder_render_keeps_the_shape))
