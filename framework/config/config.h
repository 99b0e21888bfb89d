/*
 * The configuration: an ini file read with inih, then FW_<SECTION>_<KEY>
 * environment variables on top. Every key is described once, in the table
 * in config.c (name, type, default, range); loading, validation, env
 * overrides and docs/configuration.md all follow that table.
 */
#ifndef FW_CONFIG_CONFIG_H
#define FW_CONFIG_CONFIG_H

#include <stdbool.h>
#include <sys/types.h>

#include "config/addr.h"
#include "config/app_settings.h"
#include "config/listen.h"
#include "core/buf.h"
#include "core/log.h"

struct fw_config {
	char file[4096]; /* "" when started without -c */

	/* [server] */
	struct fw_listen_list listen;
	enum fw_proto protocol; /* for listen entries without a prefix */
	struct fw_cidr_list allowed_clients;
	char socket_owner[64]; /* unix sockets, when started as root */
	char socket_group[64];
	int workers;
	int max_body_kb;
	int socket_mode;
	/* what a peer may make a worker hold before the handler runs */
	int max_params_kb;
	int max_params;
	int max_param_kb;
	int max_headers;
	int request_timeout;
	int send_timeout;   /* a peer that reads none of its answer */
	int idle_timeout;   /* a kept connection with nothing in progress */
	int buffer_keep_kb; /* what a request's buffers keep for the next */
	int backlog;
	int max_conns;
	int graceful_timeout;
	enum fw_log_level log_level;

	/* recycling */
	int max_requests;
	int max_requests_jitter;
	int rss_limit_mb;
	int rss_soft_limit_mb;
	int timeout;
	int recycle_concurrency;
	char status_path[256];
	struct fw_listen_list status_listen; /* the status page only there, when not empty */
	char state_path[256]; /* the scoreboard file; "" = derived (fw_config_state_path) */

	/* logs */
	char error_log[256];  /* "stderr" or a file */
	char access_log[256]; /* "" (off), "stderr", "stdout" or a file */
	enum fw_access_format { FW_ACCESS_COMBINED, FW_ACCESS_JSON } access_log_format;
	int fcgi_stderr; /* handler log lines also to nginx (FCGI_STDERR) */

	/* privileges: the master drops to these after opening sockets (root only) */
	char user[64];
	char group[64];
	int dumpable; /* workers dumpable: core files, ptrace by their user */

	/* the request side */
	char default_type[128]; /* Content-Type of responses without one; "" = none */
	int max_form_fields;    /* fields or parts of one form body */
	int max_stream_body_mb; /* a body streamed to its handler (fw_route_stream); 0 = no limit */
	int offload_threads;    /* fw_offload's pool, per worker; 0 = none */
	int heap_release_kb;    /* free heap back to the OS after an answer this big; 0 = never */

	/* [app]: the application's settings (fw_setting), by value */
	struct fw_app_settings app;

	/* [pg]: each worker's PostgreSQL pool (framework/pg, when built with libpq) */
	struct fw_pg_settings {
		char conninfo[1024]; /* a libpq connection string; "" = libpq's defaults */
		int pool_size;       /* connections per worker */
		int connect_timeout_ms;
		int query_timeout_ms; /* 0 = none */
		int max_waiting;      /* queries of a worker waiting for a connection */
		int reconnect_max_ms; /* the longest pause between connection attempts */
	} pg;
};

/*
 * Where the scoreboard lives: state_path, or a name derived from the
 * listen list (the same server config gives the same name, which is how
 * `--probe` finds a running master) in the directory fw-UID of /dev/shm
 * (tmpfs), else of /tmp, where UID is fw_config_server_uid().
 */
void fw_config_state_path(const struct fw_config *c, char *out, size_t len);

/* The uid the server runs as: `user`'s when this process is root, else its own. */
uid_t fw_config_server_uid(const struct fw_config *c);

/*
 * May a scoreboard file owned by `owner` be believed? Anyone can create a
 * file in /dev/shm first: only one of root, of this process's user or of
 * `user` (a master that dropped to it) is.
 */
bool fw_config_state_owner_ok(const struct fw_config *c, uid_t owner);

/* Keys whose change needs a restart, not a reload; NULL if none changed. */
const char *fw_config_restart_needed(const struct fw_config *old, const struct fw_config *new);

/* Those keys of next set back to cur's (a reload or an upgrade that would change them). */
void fw_config_keep_restart_keys(struct fw_config *next, const struct fw_config *cur);

/*
 * Fill c from the defaults, then `file` (NULL for none), then the
 * environment. Returns 0, or -1 with one line per problem appended to
 * errors ("FILE:LINE: message", "environment FW_SERVER_X: message").
 */
int fw_config_load(struct fw_config *c, const char *file, struct fw_buf *errors);

#endif
