#include "config/config.h"

#include <ctype.h>
#include <errno.h>
#include <grp.h>
#include <ini.h>
#include <limits.h>
#include <pwd.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/cpus.h"
#include "core/str.h"

extern char **environ;

enum key_type {
	K_INT,
	K_WORKERS,
	K_MODE,
	K_LISTEN,
	K_LISTEN_OPT,
	K_LEVEL,
	K_PATH,
	K_PROTO,
	K_CIDRS,
	K_NAME,
	K_FILE,
	K_LOG,
	K_BOOL,
	K_FORMAT,
	K_MIME,
	K_TEXT
};

struct key {
	const char *section;
	const char *name;
	enum key_type type;
	size_t offset;
	const char *def;
	long min, max;
};

#define SERVER(name, type, def, min, max)                                              \
	{                                                                              \
		"server", #name, type, offsetof(struct fw_config, name), def, min, max \
	}
#define PG(name, type, def, min, max)                                                 \
	{                                                                             \
		"pg", #name, type, offsetof(struct fw_config, pg.name), def, min, max \
	}

/* Every key fw knows; docs/configuration.md describes each one. */
static const struct key keys[] = {
	SERVER(listen, K_LISTEN, "127.0.0.1:9000", 0, 0),
	SERVER(protocol, K_PROTO, "fastcgi", 0, 0),
	SERVER(allowed_clients, K_CIDRS, "127.0.0.1, ::1", 0, 0),
	SERVER(socket_owner, K_NAME, "", 0, 63),
	SERVER(socket_group, K_NAME, "", 0, 63),
	SERVER(workers, K_WORKERS, "auto", 1, 512),
	SERVER(max_body_kb, K_INT, "1024", 0, 4 * 1024 * 1024),
	SERVER(socket_mode, K_MODE, "0660", 0, 0777),
	SERVER(backlog, K_INT, "511", 1, 65535),
	SERVER(max_conns, K_INT, "1024", 1, 1000000),
	SERVER(graceful_timeout, K_INT, "30", 1, 86400),
	SERVER(log_level, K_LEVEL, "info", 0, 0),
	SERVER(max_requests, K_INT, "0", 0, 1000000000),
	SERVER(max_requests_jitter, K_INT, "0", 0, 1000000000),
	SERVER(rss_limit_mb, K_INT, "0", 0, 1024 * 1024),
	SERVER(rss_soft_limit_mb, K_INT, "0", 0, 1024 * 1024),
	SERVER(timeout, K_INT, "60", 0, 86400),
	SERVER(recycle_concurrency, K_INT, "1", 1, 64),
	SERVER(status_path, K_PATH, "", 0, 255),
	SERVER(status_listen, K_LISTEN_OPT, "", 0, 0),
	SERVER(max_params_kb, K_INT, "64", 1, 16 * 1024),
	SERVER(max_params, K_INT, "512", 1, 100000),
	SERVER(max_param_kb, K_INT, "16", 1, 16 * 1024),
	SERVER(max_headers, K_INT, "100", 1, 100000),
	SERVER(request_timeout, K_INT, "30", 1, 86400),
	SERVER(send_timeout, K_INT, "60", 1, 86400),
	SERVER(idle_timeout, K_INT, "75", 1, 86400),
	SERVER(buffer_keep_kb, K_INT, "64", 0, 1024 * 1024),
	SERVER(state_path, K_FILE, "", 0, 255),
	SERVER(error_log, K_LOG, "stderr", 0, 255),
	SERVER(access_log, K_LOG, "", 0, 255),
	SERVER(access_log_format, K_FORMAT, "combined", 0, 0),
	SERVER(fcgi_stderr, K_BOOL, "off", 0, 1),
	SERVER(user, K_NAME, "", 0, 63),
	SERVER(group, K_NAME, "", 0, 63),
	SERVER(dumpable, K_BOOL, "off", 0, 1),
	SERVER(default_type, K_MIME, "text/plain; charset=utf-8", 0, 127),
	SERVER(max_form_fields, K_INT, "1000", 1, 1000000),
	SERVER(max_stream_body_mb, K_INT, "0", 0, 16 * 1024 * 1024),
	SERVER(offload_threads, K_INT, "4", 0, 1024),
	SERVER(heap_release_kb, K_INT, "4096", 0, 4 * 1024 * 1024),
	PG(conninfo, K_TEXT, "", 0, 1023),
	PG(pool_size, K_INT, "4", 1, 1000),
	PG(connect_timeout_ms, K_INT, "5000", 100, 600000),
	PG(query_timeout_ms, K_INT, "30000", 0, 86400000),
	PG(max_waiting, K_INT, "1024", 0, 1000000),
	PG(reconnect_max_ms, K_INT, "5000", 100, 600000),
};

#define NKEYS (sizeof(keys) / sizeof(keys[0]))

static int parse_long(const char *v, int base, long *out)
{
	char *end;

	errno = 0;
	*out = strtol(v, &end, base);
	return errno == 0 && end != v && *end == '\0' && !isspace((unsigned char)v[0]) ? 0 : -1;
}

/* Parse value for key into c. 0, or -1 with a message in err. */
/* A string key's value into its field, if it fits. */
static int copy_text(const struct key *k, void *dst, const char *v, char *err, size_t errlen)
{
	if (strlen(v) > (size_t)k->max) {
		snprintf(err, errlen, "longer than %ld characters", k->max);
		return -1;
	}
	snprintf(dst, (size_t)k->max + 1, "%s", v);
	return 0;
}

static int key_set(struct fw_config *c, const struct key *k, const char *v, char *err, size_t errlen)
{
	void *dst = (char *)c + k->offset;
	long n;

	switch (k->type) {
	case K_LISTEN:
		return fw_listen_list_parse(v, dst, err, errlen);
	case K_LISTEN_OPT: /* the same, or empty */
		if (v[strspn(v, " \t,")] == '\0') {
			memset(dst, 0, sizeof(struct fw_listen_list));
			return 0;
		}
		return fw_listen_list_parse(v, dst, err, errlen);
	case K_CIDRS:
		return fw_cidr_list_parse(v, dst, err, errlen);
	case K_PROTO:
		if (fw_proto_parse(v, dst) == 0)
			return 0;
		snprintf(err, errlen, "'%s' is not fastcgi or scgi", v);
		return -1;
	case K_FILE: /* an absolute path, or empty */
	case K_LOG:  /* the same, or stderr or stdout */
		if (v[0] != '\0' && v[0] != '/' &&
		    (k->type == K_FILE || (strcmp(v, "stderr") != 0 && strcmp(v, "stdout") != 0))) {
			snprintf(err, errlen,
				 k->type == K_FILE ? "'%s' is not an absolute path"
						   : "'%s' is not stderr, stdout or an absolute path",
				 v);
			return -1;
		}
		return copy_text(k, dst, v, err, errlen);
	case K_BOOL:
		if (strcmp(v, "on") == 0 || strcmp(v, "yes") == 0 || strcmp(v, "true") == 0 ||
		    strcmp(v, "1") == 0)
			*(int *)dst = 1;
		else if (strcmp(v, "off") == 0 || strcmp(v, "no") == 0 || strcmp(v, "false") == 0 ||
			 strcmp(v, "0") == 0)
			*(int *)dst = 0;
		else {
			snprintf(err, errlen, "'%s' is not on or off", v);
			return -1;
		}
		return 0;
	case K_FORMAT:
		if (strcmp(v, "combined") == 0)
			*(enum fw_access_format *)dst = FW_ACCESS_COMBINED;
		else if (strcmp(v, "json") == 0)
			*(enum fw_access_format *)dst = FW_ACCESS_JSON;
		else {
			snprintf(err, errlen, "'%s' is not combined or json", v);
			return -1;
		}
		return 0;
	case K_NAME:
		if (strlen(v) > (size_t)k->max || strpbrk(v, " \t:/") != NULL) {
			snprintf(err, errlen, "'%s' is not a user or group name", v);
			return -1;
		}
		snprintf(dst, (size_t)k->max + 1, "%s", v);
		return 0;
	case K_PATH:
		if (v[0] != '\0' &&
		    (v[0] != '/' || strlen(v) > (size_t)k->max || strpbrk(v, "?# \t") != NULL)) {
			snprintf(err, errlen, "'%s' is not a path (/status), or longer than %ld", v,
				 k->max);
			return -1;
		}
		snprintf(dst, (size_t)k->max + 1, "%s", v);
		return 0;
	case K_MIME: /* type/subtype[; parameters], a header value, or empty */
		if (strlen(v) > (size_t)k->max ||
		    (v[0] != '\0' && (strchr(v, '/') == NULL || strpbrk(v, "\r\n\t\x7f") != NULL ||
				      v[0] == '/' || v[0] == ' '))) {
			snprintf(err, errlen,
				 "'%s' is not a media type (text/html; charset=utf-8) of at most %ld "
				 "characters",
				 v, k->max);
			return -1;
		}
		snprintf(dst, (size_t)k->max + 1, "%s", v);
		return 0;
	case K_TEXT: /* any text without control characters (a libpq connection string) */
		for (const char *p = v; *p != '\0'; p++)
			if ((unsigned char)*p < 0x20 || *p == 0x7f) {
				snprintf(err, errlen, "a control character in the value");
				return -1;
			}
		return copy_text(k, dst, v, err, errlen);
	case K_LEVEL:
		if (fw_log_level_parse(v, dst) == 0)
			return 0;
		snprintf(err, errlen, "'%s' is not one of error, warn, info, debug", v);
		return -1;
	case K_WORKERS:
		if (strcmp(v, "auto") == 0) {
			n = fw_cpus_available();
			*(int *)dst = n > k->max ? (int)k->max : (int)n;
			return 0;
		}
		/* fall through */
	case K_INT:
	case K_MODE:
		if (parse_long(v, k->type == K_MODE ? 8 : 10, &n) != 0) {
			snprintf(err, errlen,
				 k->type == K_MODE      ? "'%s' is not an octal mode (0660)"
				 : k->type == K_WORKERS ? "'%s' is not a number or \"auto\""
							: "'%s' is not a whole number",
				 v);
			return -1;
		}
		if (n < k->min || n > k->max) {
			snprintf(err, errlen,
				 k->type == K_MODE ? "%s is out of range (%lo to %lo)"
						   : "%s is out of range (%ld to %ld)",
				 v, k->min, k->max);
			return -1;
		}
		*(int *)dst = (int)n;
		return 0;
	}
	return -1;
}

static const struct key *key_find(const char *section, const char *name)
{
	for (size_t i = 0; i < NKEYS; i++) {
		if (strcmp(keys[i].section, section) == 0 && strcmp(keys[i].name, name) == 0)
			return &keys[i];
	}
	return NULL;
}

static bool section_known(const char *section)
{
	if (strcmp(section, "app") == 0)
		return true; /* the application's own keys, any name */
	for (size_t i = 0; i < NKEYS; i++) {
		if (strcmp(keys[i].section, section) == 0)
			return true;
	}
	return false;
}

/* ---- the file ---- */

struct load {
	struct fw_config *c;
	struct fw_buf *errors;
	FILE *fp;
	const char *file;
	int line; /* line being parsed */
	int lines_done;
	int seen[NKEYS]; /* line where each key was set, 0 if not yet */
	int nerrors;
	bool indented; /* the line read last starts with blanks */
};

static void load_error(struct load *l, int line, const char *msg)
{
	fw_buf_printf(l->errors, "%s:%d: %s\n", l->file, line, msg);
	l->nerrors++;
}

/*
 * inih's own line counter is not passed to handlers in Debian's build
 * (INI_HANDLER_LINENO is 0), so lines are counted here as they are read.
 * inih also cuts lines at INI_MAX_LINE and would parse the rest as a new
 * line; such a line is reported and skipped instead.
 */
/*
 * inih (built without INI_CALL_HANDLER_ON_NEW_SECTION) never reports a
 * section that has no keys, so section lines are checked as they are read.
 */
static void section_line(struct load *l, const char *t)
{
	char name[64], err[128];
	size_t n = strcspn(t + 1, "]");

	if (t[1 + n] != ']' || n >= sizeof(name))
		return; /* inih reports the syntax error */
	memcpy(name, t + 1, n);
	name[n] = '\0';
	if (!section_known(name)) {
		snprintf(err, sizeof(err), "unknown section [%s]", name);
		load_error(l, l->line, err);
	}
}

static char *load_reader(char *str, int num, void *stream)
{
	struct load *l = stream;
	const char *t = str;
	size_t n;

	if (fgets(str, num, l->fp) == NULL)
		return NULL;
	l->line = ++l->lines_done;
	while (*t == ' ' || *t == '\t')
		t++;
	l->indented = t != str && strchr(";#\r\n", *t) == NULL;
	if (*t == '[')
		section_line(l, t);
	n = strlen(str);
	if (n > 0 && str[n - 1] != '\n' && !feof(l->fp)) {
		int ch;

		while ((ch = fgetc(l->fp)) != EOF && ch != '\n')
			;
		char msg[64];
		snprintf(msg, sizeof(msg), "line longer than %d characters", num - 2);
		load_error(l, l->line, msg);
		str[0] = '\0';
	}
	return str;
}

static int load_handler(void *user, const char *section, const char *name, const char *value)
{
	struct load *l = user;
	const struct key *k = key_find(section, name);
	char err[256];

	if (section[0] == '\0') {
		snprintf(err, sizeof(err), "'%s' is outside any section (put it under [server])", name);
		load_error(l, l->line, err);
		return 1;
	}
	if (!section_known(section))
		return 1; /* reported on the section's own line */
	if (strcmp(section, "app") == 0) {
		if (fw_app_settings_add(&l->c->app, name, value, err, sizeof(err)) != 0)
			load_error(l, l->line, err);
		return 1;
	}
	if (k != NULL && l->indented && l->seen[k - keys] != 0) {
		/* INI_ALLOW_MULTILINE: inih glued this line to the key above it. */
		snprintf(err, sizeof(err),
			 "indented line: it reads as more of the value of '%s' (line %d); remove the "
			 "indentation",
			 name, l->seen[k - keys]);
		load_error(l, l->line, err);
		return 1;
	}
	if (k == NULL) {
		snprintf(err, sizeof(err), "unknown key '%s' in [%s]", name, section);
		load_error(l, l->line, err);
		return 1;
	}
	if (l->seen[k - keys] != 0) {
		snprintf(err, sizeof(err), "'%s' is set twice (first on line %d)", name,
			 l->seen[k - keys]);
		load_error(l, l->line, err);
		return 1;
	}
	l->seen[k - keys] = l->line;
	if (key_set(l->c, k, value, err, sizeof(err)) != 0) {
		char msg[320];
		snprintf(msg, sizeof(msg), "%s: %s", name, err);
		load_error(l, l->line, msg);
	}
	return 1;
}

static int load_file(struct fw_config *c, const char *file, struct fw_buf *errors)
{
	struct load l = {.c = c, .errors = errors, .file = file};
	int r;

	if ((l.fp = fopen(file, "r")) == NULL) {
		fw_buf_printf(errors, "%s: cannot open: %s\n", file, strerror(errno));
		return -1;
	}
	r = ini_parse_stream(load_reader, &l, load_handler, &l);
	fclose(l.fp);
	if (r > 0)
		load_error(&l, r, "syntax error: expected [section] or key = value");
	else if (r < 0)
		load_error(&l, 0, "cannot parse (out of memory)");
	return l.nerrors > 0 ? -1 : 0;
}

/* ---- the environment ---- */

static void env_name(const struct key *k, char *out, size_t len)
{
	size_t n = (size_t)snprintf(out, len, "FW_%s_%s", k->section, k->name);

	for (size_t i = 0; i < n && i < len; i++)
		out[i] = (char)toupper((unsigned char)out[i]);
}

/* A FW_SERVER_* or FW_PG_* variable that names no key is a typo worth stopping for. */
static int env_unknown(struct fw_buf *errors)
{
	int bad = 0;

	for (char **e = environ; e != NULL && *e != NULL; e++) {
		char name[128];
		bool known = false;

		if (strncmp(*e, "FW_SERVER_", 10) != 0 && strncmp(*e, "FW_PG_", 6) != 0)
			continue;
		for (size_t i = 0; i < NKEYS && !known; i++) {
			env_name(&keys[i], name, sizeof(name));
			size_t n = strlen(name);
			known = strncmp(*e, name, n) == 0 && (*e)[n] == '=';
		}
		if (!known) {
			fw_buf_printf(errors, "environment %.*s: unknown key\n", (int)strcspn(*e, "="),
				      *e);
			bad = -1;
		}
	}
	return bad;
}

static int load_env(struct fw_config *c, struct fw_buf *errors)
{
	int r = env_unknown(errors);

	for (size_t i = 0; i < NKEYS; i++) {
		char name[128], err[256];
		const char *v;

		env_name(&keys[i], name, sizeof(name));
		if ((v = getenv(name)) == NULL)
			continue;
		if (key_set(c, &keys[i], v, err, sizeof(err)) != 0) {
			fw_buf_printf(errors, "environment %s: %s\n", name, err);
			r = -1;
		}
	}
	return r;
}

/* Cross-key rules, checked after the file and the environment. */
static int validate(struct fw_config *c, struct fw_buf *errors)
{
	int r = 0;

	for (int i = 0; i < c->listen.n; i++)
		if (!c->listen.l[i].proto_given)
			c->listen.l[i].proto = c->protocol;
	for (int i = 0; i < c->status_listen.n; i++) {
		if (!c->status_listen.l[i].proto_given)
			c->status_listen.l[i].proto = c->protocol;
		for (int j = 0; j < c->listen.n; j++)
			if (strcmp(c->status_listen.l[i].addr.text, c->listen.l[j].addr.text) == 0) {
				fw_buf_printf(errors, "%s: status_listen: '%s' is in listen too\n",
					      c->file[0] ? c->file : "configuration",
					      c->listen.l[j].addr.text);
				r = -1;
			}
	}
	if (c->listen.n + c->status_listen.n > FW_MAX_LISTENERS) {
		fw_buf_printf(errors, "%s: listen and status_listen: more than %d addresses together\n",
			      c->file[0] ? c->file : "configuration", FW_MAX_LISTENERS);
		r = -1;
	}
	if (c->status_listen.n > 0 && c->status_path[0] == '\0') {
		fw_buf_printf(errors, "%s: status_listen needs status_path\n",
			      c->file[0] ? c->file : "configuration");
		r = -1;
	}
	if (c->socket_owner[0] != '\0' && getpwnam(c->socket_owner) == NULL) {
		fw_buf_printf(errors, "%s: socket_owner: no user '%s'\n",
			      c->file[0] ? c->file : "configuration", c->socket_owner);
		r = -1;
	}
	if (c->user[0] != '\0' && getpwnam(c->user) == NULL) {
		fw_buf_printf(errors, "%s: user: no user '%s'\n", c->file[0] ? c->file : "configuration",
			      c->user);
		r = -1;
	}
	if (c->group[0] != '\0' && getgrnam(c->group) == NULL) {
		fw_buf_printf(errors, "%s: group: no group '%s'\n",
			      c->file[0] ? c->file : "configuration", c->group);
		r = -1;
	}
	if (strcmp(c->error_log, "stdout") == 0 || c->error_log[0] == '\0') {
		fw_buf_printf(errors, "%s: error_log: stderr or a file\n",
			      c->file[0] ? c->file : "configuration");
		r = -1;
	}
	if (c->socket_group[0] != '\0' && getgrnam(c->socket_group) == NULL) {
		fw_buf_printf(errors, "%s: socket_group: no group '%s'\n",
			      c->file[0] ? c->file : "configuration", c->socket_group);
		r = -1;
	}

	if (c->rss_soft_limit_mb > 0 && c->rss_limit_mb > 0 && c->rss_soft_limit_mb >= c->rss_limit_mb) {
		fw_buf_printf(errors, "%s: rss_soft_limit_mb (%d) must be below rss_limit_mb (%d)\n",
			      c->file[0] ? c->file : "configuration", c->rss_soft_limit_mb,
			      c->rss_limit_mb);
		r = -1;
	}
	return r;
}

const char *fw_config_restart_needed(const struct fw_config *old, const struct fw_config *new)
{
	if (old->listen.n != new->listen.n)
		return "listen";
	if (old->status_listen.n != new->status_listen.n)
		return "status_listen";
	for (int i = 0; i < old->status_listen.n; i++)
		if (strcmp(old->status_listen.l[i].addr.text, new->status_listen.l[i].addr.text) != 0 ||
		    old->status_listen.l[i].proto != new->status_listen.l[i].proto)
			return "status_listen";
	for (int i = 0; i < old->listen.n; i++)
		if (strcmp(old->listen.l[i].addr.text, new->listen.l[i].addr.text) != 0 ||
		    old->listen.l[i].proto != new->listen.l[i].proto)
			return "listen";
	if (strcmp(old->socket_owner, new->socket_owner) != 0)
		return "socket_owner";
	if (strcmp(old->socket_group, new->socket_group) != 0)
		return "socket_group";
	if (strcmp(old->user, new->user) != 0)
		return "user";
	if (strcmp(old->group, new->group) != 0)
		return "group";
	if (strcmp(old->state_path, new->state_path) != 0)
		return "state_path";
	if (old->socket_mode != new->socket_mode)
		return "socket_mode";
	if (old->backlog != new->backlog)
		return "backlog";
	return NULL;
}

void fw_config_keep_restart_keys(struct fw_config *next, const struct fw_config *cur)
{
	next->listen = cur->listen;
	next->status_listen = cur->status_listen;
	next->protocol = cur->protocol;
	next->socket_mode = cur->socket_mode;
	memcpy(next->socket_owner, cur->socket_owner, sizeof(next->socket_owner));
	memcpy(next->socket_group, cur->socket_group, sizeof(next->socket_group));
	next->backlog = cur->backlog;
	memcpy(next->user, cur->user, sizeof(next->user));
	memcpy(next->group, cur->group, sizeof(next->group));
	memcpy(next->state_path, cur->state_path, sizeof(next->state_path));
}

int fw_config_load(struct fw_config *c, const char *file, struct fw_buf *errors)
{
	char err[256];
	int r = 0;

	memset(c, 0, sizeof(*c));
	for (size_t i = 0; i < NKEYS; i++) {
		if (key_set(c, &keys[i], keys[i].def, err, sizeof(err)) != 0) {
			fw_buf_printf(errors, "built-in default of %s: %s\n", keys[i].name, err);
			r = -1;
		}
	}
	if (file != NULL) {
		snprintf(c->file, sizeof(c->file), "%s", file);
		if (load_file(c, file, errors) != 0)
			r = -1;
	}
	if (load_env(c, errors) != 0)
		r = -1;
	if (fw_app_settings_env(&c->app, errors) != 0)
		r = -1;
	if (r == 0 && validate(c, errors) != 0)
		r = -1;
	return r;
}

static uint32_t fnv1a(uint32_t h, const char *s)
{
	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

void fw_config_state_path(const struct fw_config *c, char *out, size_t len)
{
	uint32_t h = 2166136261u; /* FNV-1a over the listen list */
	struct stat st;

	if (c->state_path[0] != '\0') {
		snprintf(out, len, "%s", c->state_path);
		return;
	}
	for (int i = 0; i < c->listen.n; i++) {
		const struct fw_addr *a = &c->listen.l[i].addr;
		char cwd[PATH_MAX];

		/* ./app.sock in two directories is two servers: hash where it is. */
		if (a->family == AF_UNIX && a->path[0] != '/' && getcwd(cwd, sizeof(cwd)) != NULL)
			h = fnv1a(h, cwd);
		h = fnv1a(h, a->text);
		h = (h ^ (unsigned char)c->listen.l[i].proto) * 16777619u;
	}
	/* In a directory of the server's user: /dev/shm itself is anyone's (master/state.c). */
	snprintf(out, len, "%s/fw-%ld/fw-%08x.state",
		 stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) ? "/dev/shm" : "/tmp",
		 (long)fw_config_server_uid(c), h);
}

uid_t fw_config_server_uid(const struct fw_config *c)
{
	struct passwd *pw;

	if (geteuid() == 0 && c->user[0] != '\0' && (pw = getpwnam(c->user)) != NULL)
		return pw->pw_uid;
	return geteuid();
}

bool fw_config_state_owner_ok(const struct fw_config *c, uid_t owner)
{
	struct passwd *pw;

	return owner == 0 || owner == geteuid() ||
	       (c->user[0] != '\0' && (pw = getpwnam(c->user)) != NULL && owner == pw->pw_uid);
}
