/* common/: transport parameters and the error value with its issue list. */
#include <stdint.h>
#include <string.h>

#include "common/err.h"
#include "common/param.h"
#include "tests/harness.h"

static void params_parse_or_name_the_parameter(void)
{
    struct err err;
    uint64_t n = 99;
    bool b = false;
    err_init(&err);
    CHECK_INT(param_u64("replica", "4294967295", UINT32_MAX, &n, &err), 0);
    CHECK(n == UINT32_MAX && !err_is_set(&err));
    CHECK_INT(param_u64("node_id", "0", INT64_MAX, &n, &err), 0);
    CHECK(n == 0);
    const char *bad[] = {"4294967296", "-1", "+1", "1x", "", " 1", "0x10"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err_init(&err);
        n = 7;
        CHECK_INT(param_u64("replica", bad[i], UINT32_MAX, &n, &err), -1);
        CHECK_INT(err.code, ERR_BAD_REQUEST);
        CHECK_STR(err_path(&err), "replica");
        CHECK(n == 7); /* untouched on failure */
    }
    err_init(&err);
    CHECK_INT(param_u64("replica", "zero", UINT32_MAX, &n, &err), -1);
    CHECK_STR(err_message(&err), "replica must be an integer in 0..4294967295, got 'zero'");

    err_init(&err);
    CHECK_INT(param_bool("host_network", "true", &b, &err), 0);
    CHECK(b);
    CHECK_INT(param_bool("host_network", "false", &b, &err), 0);
    CHECK(!b);
    CHECK_INT(param_bool("host_network", "TRUE", &b, &err), -1);
    CHECK_INT(err.code, ERR_BAD_REQUEST);
    CHECK_STR(err_path(&err), "host_network");
    CHECK_STR(err_message(&err), "host_network must be true or false, got 'TRUE'");
}

HARNESS_MAIN(TEST(params_parse_or_name_the_parameter))
