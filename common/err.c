#include "err.h"

#include <stdarg.h>
#include <stdio.h>

const char *mo_err_name(mo_err err)
{
    switch (err) {
    case MO_OK:
        return "ok";
    case MO_ERR_INVALID:
        return "invalid";
    case MO_ERR_TRANSIENT:
        return "transient";
    case MO_ERR_PERMANENT:
        return "permanent";
    case MO_ERR_TOO_LARGE:
        return "too_large";
    case MO_ERR_CONFIG:
        return "config";
    case MO_ERR_NOMEM:
        return "nomem";
    case MO_ERR_CREDENTIAL:
        return "credential";
    }
    return "unknown";
}

mo_err mo_seterr(mo_err err, char *errstr, size_t errstr_size, const char *fmt, ...)
{
    va_list ap;
    if (errstr && errstr_size) {
        va_start(ap, fmt);
        vsnprintf(errstr, errstr_size, fmt, ap);
        va_end(ap);
    }
    return err;
}
