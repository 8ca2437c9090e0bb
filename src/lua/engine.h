/* The embedded Lua engine: one state, the sceplab modules preloaded, package.path pointed at the
 * sceplab Lua tree only. */
#ifndef SCEPLAB_ENGINE_H
#define SCEPLAB_ENGINE_H

typedef struct sceplab_engine sceplab_engine;

/* Creates the engine; on failure prints the reason to stderr and returns NULL. */
sceplab_engine *sceplab_engine_new(void);
void sceplab_engine_free(sceplab_engine *e);

/* Runs lua/sceplab/cli/init.lua's main with argv[1..]; returns the process exit code. */
int sceplab_engine_run_cli(sceplab_engine *e, int argc, char **argv);

/* Exit code for an error inside sceplab itself (a bug, not bad input). */
#define SCEPLAB_EXIT_INTERNAL 70

#endif
