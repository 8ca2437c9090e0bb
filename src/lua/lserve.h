/* The sceplab.core.serve binding's private header: lserve.c (the server, its policy callback,
 * spawn) and lserve_ca.c (the CA userdata, the certificate profile) share it. */
#ifndef SCEPLAB_LSERVE_H
#define SCEPLAB_LSERVE_H

#include "lutil.h"

#define CA_MT "sceplab.ca"

typedef struct lca { sceplab_ca *ca; } lca;

/* Fields of the table at t; a string stays alive in the table, which the caller keeps. */
int lserve_opt_int(lua_State *L, int t, const char *k, int dflt);
const char *lserve_opt_str(lua_State *L, int t, const char *k);
/* The string field k of the table on top of the stack into out (cut to n), or "". */
void lserve_copy_field(lua_State *L, const char *k, char *out, size_t n);

/* lserve_ca.c */
lca *lserve_check_ca(lua_State *L, int idx);
/* The certificate profile of the table on top of the stack: 0, or -1 with err. */
int lserve_read_profile(lua_State *L, sceplab_cert_profile *p, sceplab_error *err);
int lserve_l_ca_init(lua_State *L);
int lserve_l_ca_open(lua_State *L);
int lserve_l_profile_check(lua_State *L);
void lserve_ca_class(lua_State *L);
/* lserve_web.c */
int lserve_l_web(lua_State *L);

/* lserve_workers.c */
int lserve_l_listen(lua_State *L);
int lserve_l_cores(lua_State *L);
int lserve_l_supervise(lua_State *L);

#endif
