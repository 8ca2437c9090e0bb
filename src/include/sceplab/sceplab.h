/* sceplab: public C API of libsceplab. */
#ifndef SCEPLAB_H
#define SCEPLAB_H

#include "sceplab/error.h"
#include "sceplab/value.h"
#include "sceplab/codec.h"
#include "sceplab/decode.h"
#include "sceplab/scep.h"
#include "sceplab/http.h"
#include "sceplab/logs.h"
#include "sceplab/ca.h"
#include "sceplab/serve.h"
#include "sceplab/intune.h"

#define SCEPLAB_API_VERSION "0.1.0"

/* The versions of the libraries this process runs with, as they report them: {openssl, libcurl,
 * libxml2, sqlite, libevent, libarchive, libevtx, unavailable = {name: why}}. The libraries opened
 * on first use are opened for it: a report, not something to call on a fast path. NULL: no memory. */
sceplab_val *sceplab_versions(void);

#endif
