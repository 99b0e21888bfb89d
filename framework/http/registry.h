/*
 * What the application registered before fw_main(): routes and worker
 * start-up hooks. The public fw_route() API has no context argument, so
 * this is the one process-wide registry; it is filled in main() before
 * fw_main() and is read-only afterwards (workers inherit it by fork).
 */
#ifndef FW_HTTP_REGISTRY_H
#define FW_HTTP_REGISTRY_H

#include <stdbool.h>

#include "http/router.h"

const struct fw_router *fw_registry_router(void);

/* Run the worker start-up hooks in order. 0, or the first non-zero result. */
int fw_registry_run_worker_hooks(void);

/* After this, fw_route() and fw_on_worker_start() refuse (fw_main started). */
void fw_registry_seal(void);
bool fw_registry_sealed(void);

#endif
