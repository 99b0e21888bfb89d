/*
 * notes: a small notes service on fw's request side. An HTML page with a
 * form (urlencoded), uploads (multipart), a JSON API, and a signed
 * session cookie; hooks for the session (fw_before), metrics (fw_after),
 * error pages in HTML or JSON (fw_on_error); settings from [app]
 * (fw_setting); the store closed when a worker exits (fw_on_worker_exit).
 *
 * [app] settings: data_dir (where notes are kept, shared by the workers)
 * and session_secret (32 bytes or more, the same in every worker: see
 * session.c). Every route is under /notes, as conf/nginx.conf passes it.
 */
#include <errno.h>
#include <fcntl.h>
#include <fw.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "session.h"
#include "store.h"

#define SESSION_COOKIE "notes_session"
#define SESSION_SECONDS (7 * 24 * 3600)

static unsigned long served[6]; /* answers by class (1xx..5xx), for the exit line */

static const char *user_of(fw_req *req)
{
	return fw_data(req, "user");
}

static int is_api(fw_req *req)
{
	return strncmp(fw_path(req), "/notes/api/", 11) == 0;
}

/* ---- hooks ---- */

/* The session, for every route; writes need one. */
static int load_session(fw_req *req, void *arg)
{
	const char *cookie = fw_cookie(req, SESSION_COOKIE);
	const char *m = fw_method(req);
	char *user = fw_alloc(req, SESSION_USER_MAX + 1);

	(void)arg;
	if (cookie != NULL && user != NULL && session_check(cookie, time(NULL), user) == 0)
		fw_set_data(req, "user", user);
	if (user_of(req) != NULL || strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0 ||
	    strcmp(fw_path(req), "/notes/login") == 0)
		return 0;
	if (is_api(req))
		return fw_error(req, 401, "log in first: POST /notes/login");
	return fw_redirect(req, 303, "/notes/login");
}

static void count(fw_req *req, int status, void *arg)
{
	(void)arg;
	served[status / 100 % 6]++;
	fw_log(FW_LOG_DEBUG, "notes: %s %s %d user=%s", fw_method(req), fw_path(req), status,
	       user_of(req) ? user_of(req) : "-");
}

static int error_page(fw_req *req, int status, void *arg)
{
	const char *msg = fw_error_message(req);
	fw_json j;

	(void)arg;
	if (is_api(req)) {
		fw_json_init_response(&j, req);
		fw_json_object(&j);
		fw_json_key(&j, "status");
		fw_json_int(&j, status);
		fw_json_key(&j, "error");
		fw_json_str(&j, msg != NULL ? msg : status == 404 ? "no such note or route" : "failed");
		fw_json_close(&j);
		return status;
	}
	fw_set_header(req, "Content-Type", "text/html; charset=utf-8");
	fw_printf(req, "<!doctype html><title>%d</title><h1>%d</h1>", status, status);
	if (msg != NULL) {
		fw_write(req, "<p>", 3);
		fw_write_html(req, msg, strlen(msg));
	}
	fw_write(req, "<p><a href=\"/notes\">back to the notes</a>\n", 42);
	return status;
}

static int worker_start(void *arg)
{
	(void)arg;
	if (session_init(fw_setting("session_secret")) != 0) {
		fw_log(FW_LOG_ERROR, "notes: set session_secret in [app] (or FW_APP_SESSION_SECRET), "
				     "32 bytes or more, the same for every worker");
		return -1;
	}
	return store_open(fw_setting("data_dir"));
}

static void worker_exit(void *arg)
{
	(void)arg;
	fw_log(FW_LOG_INFO,
	       "notes: worker exiting; %lu notes written, answers 2xx %lu 3xx %lu "
	       "4xx %lu 5xx %lu",
	       store_writes(), served[2], served[3], served[4], served[5]);
	store_close();
}

/* ---- HTML ---- */

static void html(fw_req *req, const char *s)
{
	fw_write_html(req, s, strlen(s));
}

static int page(fw_req *req, void *arg)
{
	json_t *list = store_list(), *note;
	size_t i;

	(void)arg;
	fw_set_header(req, "Content-Type", "text/html; charset=utf-8");
	fw_printf(req, "<!doctype html><meta charset=utf-8><title>notes</title><h1>Notes</h1>\n");
	if (user_of(req) != NULL) {
		fw_write(req, "<p>Logged in as ", 16);
		html(req, user_of(req));
		fw_printf(req,
			  ". <form method=post action=/notes/logout><button>log out</button></form>\n"
			  "<form method=post action=/notes><input name=title placeholder=title>"
			  "<textarea name=body></textarea><button>add</button></form>\n");
	} else {
		fw_printf(req, "<p><a href=/notes/login>log in</a> to write.\n");
	}
	json_array_foreach(list, i, note)
	{
		long long id = (long long)json_integer_value(json_object_get(note, "id"));
		json_t *file = json_object_get(note, "file");

		fw_write(req, "<article><h2>", 13);
		html(req, json_string_value(json_object_get(note, "title")));
		fw_write(req, "</h2><p>", 8);
		html(req, json_string_value(json_object_get(note, "body")));
		fw_write(req, "<p><small>by ", 13);
		html(req, json_string_value(json_object_get(note, "user")));
		fw_write(req, "</small>", 8);
		if (file != NULL) {
			fw_printf(req, "<p><a href=/notes/files/%lld>", id);
			html(req, json_string_value(json_object_get(file, "name")));
			fw_write(req, "</a>", 4);
		} else if (user_of(req) != NULL) {
			fw_printf(req,
				  "<form method=post action=/notes/%lld/attachment "
				  "enctype=multipart/form-data><input type=file name=file>"
				  "<button>attach</button></form>",
				  id);
		}
		fw_write(req, "</article>\n", 11);
	}
	json_decref(list);
	return 200;
}

static int login_form(fw_req *req, void *arg)
{
	(void)arg;
	fw_set_header(req, "Content-Type", "text/html; charset=utf-8");
	fw_printf(req, "<!doctype html><title>log in</title><form method=post action=/notes/login>"
		       "<input name=user placeholder=name><button>log in</button></form>\n");
	return 200;
}

/* POST /notes/login, user=NAME (a form or JSON {"user": NAME}): a demo, no password. */
static int login(fw_req *req, void *arg)
{
	char value[128];
	const char *user;
	json_t *in;
	int st;

	(void)arg;
	if (is_api(req) || (fw_header(req, "Content-Type") != NULL &&
			    strncasecmp(fw_header(req, "Content-Type"), "application/json", 16) == 0)) {
		if ((st = fw_json_body(req, &in)) != 0)
			return st;
		user = json_string_value(json_object_get(in, "user"));
	} else {
		if ((st = fw_form_parse(req)) != 0)
			return st;
		user = fw_form(req, "user");
	}
	if (user == NULL || !session_user_ok(user))
		return fw_error(req, 422, "user: 1 to 32 letters, digits, '_' or '-'");
	session_make(user, time(NULL) + SESSION_SECONDS, value, sizeof(value));
	if (fw_set_cookie(req, SESSION_COOKIE, value,
			  &(fw_cookie_opts){.path = "/notes", .max_age = SESSION_SECONDS}) != 0)
		return 500;
	return fw_redirect(req, 303, "/notes");
}

static int logout(fw_req *req, void *arg)
{
	(void)arg;
	fw_set_cookie(req, SESSION_COOKIE, "", &(fw_cookie_opts){.path = "/notes", .max_age = -1});
	return fw_redirect(req, 303, "/notes");
}

/* POST /notes: the HTML form, urlencoded or multipart (with an optional file). */
static int add_form(fw_req *req, void *arg)
{
	const char *title, *body;
	const fw_upload *f;
	long long id;
	int st;

	(void)arg;
	if ((st = fw_form_parse(req)) != 0)
		return st;
	title = fw_form(req, "title");
	body = fw_form(req, "body");
	if (title == NULL || title[0] == '\0')
		return fw_error(req, 422, "a note needs a title");
	if ((id = store_add(user_of(req), title, body != NULL ? body : "")) < 0)
		return 500;
	if ((f = fw_form_file(req, "file")) != NULL && f->filename[0] != '\0' &&
	    store_attach(id, f->data, f->len, f->filename, f->content_type) != 0)
		return 500;
	return fw_redirect(req, 303, "/notes");
}

static long long id_param(fw_req *req)
{
	char *end;
	long long id = strtoll(fw_param(req, "id"), &end, 10);

	return *end == '\0' && id > 0 ? id : -1;
}

/* POST /notes/:id/attachment: multipart with a "file" part. */
static int attach(fw_req *req, void *arg)
{
	const fw_upload *f;
	long long id = id_param(req);
	int st;

	(void)arg;
	if ((st = fw_form_parse(req)) != 0)
		return st;
	if ((f = fw_form_file(req, "file")) == NULL || f->filename[0] == '\0')
		return fw_error(req, 422, "send a file in the part \"file\"");
	if (id < 0 || store_attach(id, f->data, f->len, f->filename, f->content_type) != 0)
		return 404;
	return fw_redirect(req, 303, "/notes");
}

/* GET /notes/files/:id: the attachment, as a download (never rendered as a page of this site). */
static int download(fw_req *req, void *arg)
{
	char path[4096], chunk[16384];
	json_t *note, *file;
	fw_buf *b = fw_scratch(req);
	long long id = id_param(req);
	ssize_t n;
	int fd;

	(void)arg;
	if (id < 0 || b == NULL || (note = store_get(id)) == NULL)
		return 404;
	file = json_object_get(note, "file");
	if (file == NULL || store_file(id, path) != 0 || (fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		json_decref(note);
		return 404;
	}
	while ((n = read(fd, chunk, sizeof(chunk))) > 0 && fw_buf_append(b, chunk, (size_t)n) == 0)
		;
	close(fd);
	fw_set_header(req, "Content-Type", "application/octet-stream");
	fw_set_header(req, "Content-Disposition", "attachment");
	fw_set_header(req, "X-Content-Type-Options", "nosniff");
	json_decref(note);
	fw_respond_with(req, b);
	return 200;
}

/* ---- JSON API ---- */

static int api_list(fw_req *req, void *arg)
{
	json_t *list = store_list();
	fw_json j;
	int r;

	(void)arg;
	fw_json_init_response(&j, req);
	fw_json_value(&j, list);
	r = fw_json_end(&j);
	json_decref(list);
	return r == 0 ? 200 : 500;
}

/* POST /notes/api/notes {"title": "...", "body": "..."}: reading JSON and writing it back. */
static int api_add(fw_req *req, void *arg)
{
	json_t *in;
	const char *title, *body = "";
	long long id;
	fw_json j;
	int st;

	(void)arg;
	if ((st = fw_json_body(req, &in)) != 0)
		return st; /* 400 or 415, with the reason for the error page */
	if ((title = json_string_value(json_object_get(in, "title"))) == NULL || title[0] == '\0')
		return fw_error(req, 422, "\"title\" must be a non-empty string");
	if (json_object_get(in, "body") != NULL &&
	    (body = json_string_value(json_object_get(in, "body"))) == NULL)
		return fw_error(req, 422, "\"body\" must be a string");
	if ((id = store_add(user_of(req), title, body)) < 0)
		return 500;
	fw_json_init_response(&j, req);
	fw_json_object(&j);
	fw_json_key(&j, "id");
	fw_json_int(&j, id);
	fw_json_key(&j, "title");
	fw_json_str(&j, title);
	fw_json_close(&j);
	return fw_json_end(&j) == 0 ? 201 : 500;
}

static int api_get(fw_req *req, void *arg)
{
	long long id = id_param(req);
	json_t *note = id > 0 ? store_get(id) : NULL;
	fw_json j;
	int r;

	(void)arg;
	if (note == NULL)
		return fw_error(req, 404, "no note %s", fw_param(req, "id"));
	fw_json_init_response(&j, req);
	fw_json_value(&j, note);
	r = fw_json_end(&j);
	json_decref(note);
	return r == 0 ? 200 : 500;
}

static int api_delete(fw_req *req, void *arg)
{
	long long id = id_param(req);

	(void)arg;
	if (id < 0 || store_delete(id) != 0)
		return fw_error(req, 404, "no note %s", fw_param(req, "id"));
	return 204;
}

int main(int argc, char **argv)
{
	fw_route("GET", "/notes", page, NULL);
	fw_route("POST", "/notes", add_form, NULL);
	fw_route("GET", "/notes/login", login_form, NULL);
	fw_route("POST", "/notes/login", login, NULL);
	fw_route("POST", "/notes/logout", logout, NULL);
	fw_route("POST", "/notes/:id/attachment", attach, NULL);
	fw_route("GET", "/notes/files/:id", download, NULL);
	fw_route("GET", "/notes/api/notes", api_list, NULL);
	fw_route("POST", "/notes/api/notes", api_add, NULL);
	fw_route("GET", "/notes/api/notes/:id", api_get, NULL);
	fw_route("DELETE", "/notes/api/notes/:id", api_delete, NULL);
	fw_before(load_session, NULL);
	fw_after(count, NULL);
	fw_on_error(error_page, NULL);
	fw_on_worker_start(worker_start, NULL);
	fw_on_worker_exit(worker_exit, NULL);
	return fw_main(argc, argv);
}
