/* corio_strerror: static descriptions, never errno. corio's own codes and
 * their words come from CORIO_ERRNO_MAP in include/corio.h. */
#include <corio.h>

#include <errno.h>
#include <string.h>

const char *corio_strerror(int err)
{
    switch (err) {
    case 0:
        return "Success";
#define CORIO__ERRNO_CASE(name, value, text, when) \
    case CORIO_##name:                       \
        return text;
        CORIO_ERRNO_MAP(CORIO__ERRNO_CASE)
#undef CORIO__ERRNO_CASE
    /* errno's own words are about connections; in corio these two mean
     * what a task sees when its deadline passes or it is cancelled. */
    case -ETIMEDOUT:
        return "Timed out";
    case -ECANCELED:
        return "Cancelled";
    default:
        break;
    }
    if (err < 0 && err > -4096) {
        /* strerrordesc_np is thread-safe and returns static strings. */
        const char *s = strerrordesc_np(-err);
        if (s)
            return s;
    }
    return "Unknown error";
}
