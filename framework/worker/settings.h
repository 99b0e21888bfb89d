/* The request side of a worker's configuration, and its exit (worker/settings.c). */
#ifndef FW_WORKER_SETTINGS_H
#define FW_WORKER_SETTINGS_H

#include "config/config.h"

struct fw_worker;

/* Limits and defaults of http/ for this worker: max_form_fields, default_type. */
void fw_worker_request_side(const struct fw_config *cfg);

/* The loop ended normally: close the connections (cancel callbacks), then the exit hooks. */
void fw_worker_exiting(struct fw_worker *w);

#endif
