/*
 * echo: returns what it was sent.
 *   any method /echo        the request body, byte for byte, with its Content-Type
 *   GET /echo/env           every FastCGI param as a JSON object
 *   GET /echo/status/:code  an empty response with that status (default bodies)
 */
#include <fw.h>
#include <stdlib.h>
#include <string.h>

static int echo(fw_req *req, void *arg)
{
	const char *type = fw_header(req, "Content-Type");
	size_t len;
	const void *body = fw_body(req, &len);

	(void)arg;
	fw_set_header(req, "Content-Type", type != NULL ? type : "application/octet-stream");
	if (len > 0 && fw_write(req, body, len) != 0)
		return 500;
	return 200;
}

static int env(fw_req *req, void *arg)
{
	const char *name, *value;

	(void)arg;
	fw_set_header(req, "Content-Type", "application/json");
	fw_write(req, "{", 1);
	for (size_t i = 0; fw_env_at(req, i, &name, &value) == 0; i++) {
		fw_printf(req, "%s\n  ", i > 0 ? "," : "");
		fw_write_json(req, name, strlen(name));
		fw_write(req, ": ", 2);
		fw_write_json(req, value, strlen(value));
	}
	fw_write(req, "\n}\n", 3);
	return 200;
}

static int status(fw_req *req, void *arg)
{
	char *end;
	long code = strtol(fw_param(req, "code"), &end, 10);

	(void)arg;
	return *end == '\0' && code >= 200 && code <= 599 ? (int)code : 400;
}

int main(int argc, char **argv)
{
	if (fw_route("*", "/echo", echo, NULL) != 0 || fw_route("GET", "/echo/env", env, NULL) != 0 ||
	    fw_route("GET", "/echo/status/:code", status, NULL) != 0)
		return 1;
	return fw_main(argc, argv);
}
