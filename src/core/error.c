/* corio_strerror: static descriptions, never errno. */
#include <corio.h>

#include <errno.h>
#include <string.h>

const char *corio_strerror(int err)
{
    switch (err) {
    case 0:
        return "Success";
    case CORIO_EEOF:
        return "End of stream";
    case CORIO_ETOOLONG:
        return "Delimiter not found within the length limit";
    case CORIO_ESHUTDOWN:
        return "Shut down";
    case CORIO_ECLOSED:
        return "Channel closed";
    case CORIO_ENOTFOUND:
        return "Host not found";
    case CORIO_ETLS:
        return "TLS handshake or protocol error";
    case CORIO_ECERT:
        return "Certificate verification failed";
    case CORIO_EBROKEN:
        return "Barrier broken (aborted or reset)";
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
