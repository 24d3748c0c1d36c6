/* The plain response struct handlers fill: body ownership, extra headers, JSON bodies. */
#include "handlers/handlers.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/jsonx.h"
#include "common/sbuf.h"
#include "common/strutil.h"

void http_resp_init(struct http_resp *resp)
{
    memset(resp, 0, sizeof(*resp));
}

void http_resp_release(struct http_resp *resp)
{
    if (resp->body && resp->body_secret) {
        mem_wipe(resp->body, resp->body_len);
    }
    free(resp->body);
    resp->body = NULL;
    resp->body_len = 0;
}

const char *http_resp_header(const struct http_resp *resp, const char *name)
{
    for (unsigned i = 0; i < resp->n_headers; i++) {
        if (str_eq_nocase(resp->headers[i].name, name)) {
            return resp->headers[i].value;
        }
    }
    return NULL;
}

void http_resp_unset_header(struct http_resp *resp, const char *name)
{
    for (unsigned i = 0; i < resp->n_headers; i++) {
        if (str_eq_nocase(resp->headers[i].name, name)) {
            memmove(&resp->headers[i], &resp->headers[i + 1],
                    (resp->n_headers - i - 1) * sizeof(resp->headers[0]));
            resp->n_headers--;
            return;
        }
    }
}

int http_resp_set_header(struct http_resp *resp, const char *name, const char *fmt, ...)
{
    struct http_header *h = NULL;
    for (unsigned i = 0; i < resp->n_headers && !h; i++) {
        if (str_eq_nocase(resp->headers[i].name, name)) {
            h = &resp->headers[i];
        }
    }
    if (!h) {
        if (resp->n_headers >= HTTP_RESP_MAX_HEADERS) {
            return -1;
        }
        h = &resp->headers[resp->n_headers++];
    }
    h->name = name;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(h->value, sizeof(h->value), fmt, ap);
    va_end(ap);
    return 0;
}

/* Replace the body, releasing the previous one. */
static void take_body(struct http_resp *resp, char *body, size_t len)
{
    http_resp_release(resp);
    resp->body = body;
    resp->body_len = len;
    resp->body_secret = false;
}

int http_reply_json(struct http_resp *resp, int status, const json_t *body, unsigned flags)
{
    size_t len = 0;
    char *text = jsonx_dump(body, flags, &len);
    if (!text) {
        return -1;
    }
    take_body(resp, text, len);
    resp->status = status;
    resp->content_type = "application/json";
    return 0;
}

int http_reply_text(struct http_resp *resp, int status, const char *content_type, const char *text,
                    size_t len)
{
    char *copy = malloc(len + 1);
    if (!copy) {
        return -1;
    }
    memcpy(copy, text, len);
    copy[len] = '\0';
    take_body(resp, copy, len);
    resp->status = status;
    resp->content_type = content_type;
    return 0;
}
