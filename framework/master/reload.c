/*
 * SIGHUP: the configuration file read again (with the environment the
 * master started with). Keys that need a restart keep their old values,
 * with a warning; a file with errors changes nothing. The workers are then
 * replaced, replacement first (the policy's FW_EV_RELOAD).
 */
#include <string.h>

#include "core/log.h"
#include "master/master.h"

/* SIGHUP: read the file again, then replace every worker, replacement first. */
int fw_reload(struct fw_master *m)
{
	struct fw_config next;
	struct fw_buf errors = FW_BUF_INIT;
	const char *key;

	if (fw_config_load(&next, m->cfg.file[0] ? m->cfg.file : NULL, &errors) != 0) {
		fw_log(FW_LOG_ERROR,
		       "SIGHUP: the configuration has errors; keeping the running one:\n%s",
		       errors.data != NULL ? errors.data : "");
		fw_buf_release(&errors);
		return -1;
	}
	fw_buf_release(&errors);
	if ((key = fw_config_restart_needed(&m->cfg, &next)) != NULL) {
		fw_log(FW_LOG_WARN, "SIGHUP: '%s' changed; that needs a restart, keeping the old value",
		       key);
		fw_config_keep_restart_keys(&next, &m->cfg);
	}
	if (strcmp(m->cfg.error_log, next.error_log) != 0 && fw_log_open(next.error_log) != 0) {
		fw_log_errno(FW_LOG_ERROR, "SIGHUP: opening error_log %s; keeping %s", next.error_log,
			     m->cfg.error_log);
		memcpy(next.error_log, m->cfg.error_log, sizeof(next.error_log));
	}
	/*
	 * A new access_log the workers cannot open would fail every new
	 * worker's boot, and five boot failures stop the whole server: keep
	 * the old one, as for error_log.
	 */
	if (strcmp(m->cfg.access_log, next.access_log) != 0 && fw_access_log_writable(&next) != 0) {
		fw_log(FW_LOG_ERROR, "SIGHUP: keeping access_log %s",
		       m->cfg.access_log[0] != '\0' ? m->cfg.access_log : "off");
		memcpy(next.access_log, m->cfg.access_log, sizeof(next.access_log));
	}
	m->cfg = next;
	fw_policy_settings(&m->pol, next.workers, next.recycle_concurrency, next.timeout,
			   next.graceful_timeout, next.max_conns);
	m->rss_limit_derived = false; /* the file's rss_limit_mb, unless derived again */
	fw_cgroup_budget(m);          /* again: the worker count may have changed */
	fw_slot_store(m->sb->workers_wanted, (uint32_t)next.workers);
	fw_limits_publish(m);
	fw_log_set_level(next.log_level);
	m->prefork_due = true; /* loading the file touched the master's heap */
	return 0;
}
