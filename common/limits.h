#ifndef OCIRENDER_COMMON_LIMITS_H
#define OCIRENDER_COMMON_LIMITS_H

/*
 * The bounds users meet in their requests, documents and secrets, and those two modules must
 * agree on (ARCHITECTURE.md lists them). A bound one module keeps to itself is a *_MAX constant
 * beside the code that enforces it.
 */

#define LIMIT_SPEC_DEPTH        64          /* nesting of YAML/JSON documents */
#define LIMIT_SPEC_NODES        200000      /* values in one parsed document */
#define LIMIT_BODY_DEFAULT      (1u << 20)  /* --max-body default: 1 MiB */
#define LIMIT_OUTPUT            (16u << 20) /* rendered document text */
#define LIMIT_HOSTNAME          63          /* a DNS label; sethostname(2) allows 64 */
#define LIMIT_ENV_ENTRIES       4096
#define LIMIT_GPU_COUNT         1024
#define LIMIT_SECRET_VALUE      (256u << 10) /* one resolved secret value */
#define LIMIT_VAULT_RESPONSE    (1u << 20)   /* vault response body */
#define LIMIT_FILE_READ         (16u << 20)  /* files the CLI reads */
#define LIMIT_TOKEN             4096         /* a bearer token: ocirenderd's or the vault's */

#endif
