/* errors.c: messages, names and HTTP mappings for the BE_* codes (errors.h). */
#include "common/errors.h"

const char *be_strerror(int rc)
{
    switch (rc) {
    case 0: return "success";
#define X_(name, val, code, reason, msg) case val: return msg;
    BE_ERRNO_MAP(X_)
#undef X_
    }
    return "unknown error";
}

const char *be_name(int rc)
{
    switch (rc) {
    case 0: return "BE_OK";
#define X_(name, val, code, reason, msg) case val: return "BE_" #name;
    BE_ERRNO_MAP(X_)
#undef X_
    }
    return "BE_UNKNOWN";
}

const char *be_reason(int rc)
{
    switch (rc) {
#define X_(name, val, code, reason, msg) case val: return reason;
    BE_ERRNO_MAP(X_)
#undef X_
    }
    return "InternalError";
}

int be_http_code(int rc)
{
    switch (rc) {
    case 0: return 200;
#define X_(name, val, code, reason, msg) case val: return code;
    BE_ERRNO_MAP(X_)
#undef X_
    }
    return 500;
}
