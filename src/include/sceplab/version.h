/* sceplab: the API version and the versions of the libraries a process runs with. */
#ifndef SCEPLAB_VERSION_H
#define SCEPLAB_VERSION_H

#include "sceplab/value.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SCEPLAB_API_VERSION "0.1.0"

/* The versions of the libraries this process runs with, as they report them: {openssl, libcurl,
 * libxml2, sqlite, libevent, libarchive, libevtx, unavailable = {name: why}}. The libraries opened
 * on first use are opened for it: a report, not something to call on a fast path. NULL: no memory. */
sceplab_val *sceplab_versions(void);

#ifdef __cplusplus
}
#endif
#endif
