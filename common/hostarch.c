#include "common/hostarch.h"

#include <stdio.h>
#include <sys/utsname.h>

const char *host_machine(char *buf, size_t size)
{
    struct utsname u;
    if (uname(&u) != 0 || !u.machine[0]) {
        return NULL;
    }
    int n = snprintf(buf, size, "%s", u.machine);
    return n > 0 && (size_t)n < size ? buf : NULL;
}
