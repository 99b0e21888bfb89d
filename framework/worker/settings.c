/*
 * What a worker takes from the configuration for the request side, and
 * fw_setting(): the application's [app] settings, from the configuration
 * the worker was forked with (the master's copy, re-read at SIGHUP).
 */
#include "http/hooks.h"
#include "config/app_settings.h"
#include "config/current.h"
#include "http/form.h"
#include "http/resp.h"
#include "worker/settings.h"
#include "worker/worker.h"

void fw_worker_request_side(const struct fw_config *cfg)
{
	fw_form_configure((size_t)cfg->max_form_fields);
	fw_resp_configure(cfg->default_type);
	fw_config_set_current(cfg); /* for the modules beside worker/: [pg] */
}

FW_API const char *fw_setting(const char *name)
{
	if (fw_current_worker == NULL || name == NULL)
		return NULL;
	return fw_app_settings_get(&fw_current_worker->cfg->app, name);
}

void fw_worker_exiting(struct fw_worker *w)
{
	/* Cancel callbacks first: they may still use what the exit hooks close. */
	fw_conn_close_all(w);
	/* The pool's threads too (idle ones end; one still in its work dies with the process). */
	fw_threads_stop(&w->threads);
	fw_hooks_worker_exit();
}
