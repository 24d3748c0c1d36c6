#include "common/digest.h"

#include <pthread.h>

#include <openssl/evp.h>

static EVP_MD *fetched_sha256;
static pthread_once_t fetch_once = PTHREAD_ONCE_INIT;

static void fetch_sha256(void)
{
    fetched_sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
}

/* OpenSSL 3 looks EVP_sha256() up in its provider store on every use, under a lock: about
 * 0.2 µs a digest. The implementation fetched once is used instead (it lives as long as the
 * process), and EVP_sha256() remains the fallback if the fetch failed. */
static const EVP_MD *sha256(void)
{
    pthread_once(&fetch_once, fetch_sha256);
    return fetched_sha256 ? fetched_sha256 : EVP_sha256();
}

int digest_sha256_hex(const void *buf, size_t len, char out[65])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (!EVP_Digest(buf, len, md, &mdlen, sha256(), NULL) || mdlen != 32) {
        return -1;
    }
    for (unsigned i = 0; i < mdlen; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[64] = '\0';
    return 0;
}
