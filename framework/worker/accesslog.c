/*
 * The access log (access_log, off by default): one line per answered
 * request, written by the worker that answered it with one write(2) to a
 * file opened for appending (whole lines from every worker, never mixed).
 *
 * combined: nginx's combined format, then the duration in seconds and the
 * worker's pid:
 *   127.0.0.1 - - [25/Nov/2026:20:50:30 +0000] "GET /hello?x=1 HTTP/1.1" 200 6 "-" "curl/7.88.1" 0.000 12345
 * json: one object per line with the same fields:
 *   {"time":"2026-11-25T20:50:30.123Z","remote_addr":"127.0.0.1","remote_user":null,
 *    "method":"GET","uri":"/hello?x=1","protocol":"HTTP/1.1","status":200,"bytes":6,
 *    "referer":null,"user_agent":"curl/7.88.1","duration":0.000123,"pid":12345}
 * Strings are escaped (combined: " \ and control bytes as \xHH, as nginx
 * does; json: JSON escapes), so a client cannot forge lines.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/json.h"
#include "core/log.h"
#include "worker/worker.h"

int fw_access_open(struct fw_worker *w)
{
	const char *path = w->cfg->access_log;
	int fd;

	w->pid = (long)getpid();
	if (path[0] == '\0') {
		w->access_fd = -1;
		return 0;
	}
	if (strcmp(path, "stderr") == 0 || strcmp(path, "stdout") == 0) {
		w->access_fd = strcmp(path, "stderr") == 0 ? STDERR_FILENO : STDOUT_FILENO;
		return 0;
	}
	if ((fd = fw_log_file_open(path, true)) < 0) {
		fw_log_errno(FW_LOG_ERROR, "open(%s) for the access log", path);
		return -1;
	}
	if (w->access_fd > STDERR_FILENO)
		close(w->access_fd);
	w->access_fd = fd;
	return 0;
}

/* SIGUSR1 (through the master): the file was moved away; write to a new one. */
void fw_access_reopen(struct fw_worker *w)
{
	if (w->access_fd > STDERR_FILENO)
		fw_access_open(w);
}

/* "[25/Nov/2026:20:50:30 +0000]" (and the JSON time), made once a second. */
static const char *clock_text(bool json, long *ms)
{
	static time_t cached;
	static char local[40], iso[32];
	struct timespec ts;
	struct tm tm;

	clock_gettime(CLOCK_REALTIME, &ts);
	*ms = ts.tv_nsec / 1000000L;
	if (ts.tv_sec != cached) {
		cached = ts.tv_sec;
		localtime_r(&ts.tv_sec, &tm);
		strftime(local, sizeof(local), "[%d/%b/%Y:%H:%M:%S %z]", &tm);
		gmtime_r(&ts.tv_sec, &tm);
		strftime(iso, sizeof(iso), "%Y-%m-%dT%H:%M:%S", &tm);
	}
	return json ? iso : local;
}

/* A quoted field of the combined format: "-" when missing. */
static void combined_str(struct fw_buf *b, const char *s, bool quote)
{
	if (quote)
		fw_buf_putc(b, '"');
	if (s == NULL || s[0] == '\0') {
		fw_buf_putc(b, '-');
	} else {
		for (; *s != '\0'; s++) {
			unsigned char c = (unsigned char)*s;
			if (c < 0x20 || c == '"' || c == '\\' || c >= 0x7f)
				fw_buf_printf(b, "\\x%02X", c);
			else
				fw_buf_putc(b, (char)c);
		}
	}
	if (quote)
		fw_buf_putc(b, '"');
}

static void json_field(struct fw_buf *b, const char *name, const char *s)
{
	fw_buf_printf(b, ",\"%s\":", name);
	if (s == NULL || s[0] == '\0')
		fw_buf_puts(b, "null");
	else
		fw_json_string(b, s, strlen(s));
}

void fw_access_log(struct fw_worker *w, fw_req *req, int status, size_t bytes, uint64_t us)
{
	struct fw_buf *b = &w->access_line;
	const char *uri = fw_env(req, "REQUEST_URI");
	long ms;

	if (w->access_fd < 0)
		return;
	fw_buf_clear(b);
	if (uri == NULL)
		uri = req->path;
	if (w->cfg->access_log_format == FW_ACCESS_JSON) {
		const char *t = clock_text(true, &ms);

		fw_buf_printf(b, "{\"time\":\"%s.%03ldZ\"", t, ms);
		json_field(b, "remote_addr", fw_env(req, "REMOTE_ADDR"));
		json_field(b, "remote_user", fw_env(req, "REMOTE_USER"));
		json_field(b, "method", req->method);
		json_field(b, "uri", uri);
		json_field(b, "protocol", fw_env(req, "SERVER_PROTOCOL"));
		fw_buf_printf(b, ",\"status\":%d,\"bytes\":%zu", status, bytes);
		json_field(b, "referer", fw_header(req, "Referer"));
		json_field(b, "user_agent", fw_header(req, "User-Agent"));
		fw_buf_printf(b, ",\"duration\":%.6f,\"pid\":%ld}\n", (double)us / 1e6, w->pid);
	} else {
		combined_str(b, fw_env(req, "REMOTE_ADDR"), false);
		fw_buf_puts(b, " - ");
		combined_str(b, fw_env(req, "REMOTE_USER"), false);
		fw_buf_printf(b, " %s \"", clock_text(false, &ms));
		combined_str(b, req->method, false);
		fw_buf_putc(b, ' ');
		combined_str(b, uri, false);
		fw_buf_putc(b, ' ');
		combined_str(b, fw_env(req, "SERVER_PROTOCOL"), false);
		fw_buf_printf(b, "\" %d %zu ", status, bytes);
		combined_str(b, fw_header(req, "Referer"), true);
		fw_buf_putc(b, ' ');
		combined_str(b, fw_header(req, "User-Agent"), true);
		fw_buf_printf(b, " %.3f %ld\n", (double)us / 1e6, w->pid);
	}
	if (b->len > 0 && write(w->access_fd, b->data, b->len) < 0) {
		static int warned;
		if (!warned++)
			fw_log_errno(FW_LOG_ERROR, "write(access log)");
	}
}
