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
#include "sceplab/web.h"
#include "sceplab/workers.h"
#include "sceplab/intune.h"
#include "sceplab/artifacts.h"
#include "sceplab/version.h"

#endif
