/* A worker started by exec, an upgrade's canary (exec_worker.c). */
#ifndef FW_MAIN_EXEC_WORKER_H
#define FW_MAIN_EXEC_WORKER_H

#include "config/config.h"
#include "ipc/boot.h"

/* env: FW_BOOT_ENV's value. Runs the worker; returns the process exit status. */
int fw_exec_worker_main(const struct fw_config *cfg, const struct fw_worker_entry *entry,
			const char *env);

#endif
