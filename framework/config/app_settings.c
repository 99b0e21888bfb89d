#include "config/app_settings.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

extern char **environ;

static bool name_ok(const char *n)
{
	if (*n == '\0' || strlen(n) > 255)
		return false;
	for (; *n != '\0'; n++) {
		if (!isalnum((unsigned char)*n) && *n != '_' && *n != '.' && *n != '-')
			return false;
	}
	return true;
}

/* The byte of a name as its environment variable has it. */
static char env_char(char c)
{
	return c == '.' || c == '-' ? '_' : (char)toupper((unsigned char)c);
}

/* Do a and b name the same setting (the same environment variable)? */
static bool same_name(const char *a, const char *b)
{
	for (; *a != '\0' && *b != '\0'; a++, b++) {
		if (env_char(*a) != env_char(*b))
			return false;
	}
	return *a == *b;
}

/* The pair whose name is `name` (any case, '.' and '-' as '_'): the offset of its name, or -1. */
static long find(const struct fw_app_settings *s, const char *name)
{
	for (size_t off = 0; off < s->len;) {
		const char *n = s->data + off, *v = n + strlen(n) + 1;

		if (same_name(n, name))
			return (long)off;
		off = (size_t)(v + strlen(v) + 1 - s->data);
	}
	return -1;
}

static int append(struct fw_app_settings *s, const char *name, const char *value)
{
	size_t nl = strlen(name) + 1, vl = strlen(value) + 1;

	if (nl + vl > sizeof(s->data) - s->len)
		return -1;
	memcpy(s->data + s->len, name, nl);
	memcpy(s->data + s->len + nl, value, vl);
	s->len += nl + vl;
	return 0;
}

static void drop(struct fw_app_settings *s, size_t off)
{
	const char *n = s->data + off, *v = n + strlen(n) + 1;
	size_t end = (size_t)(v + strlen(v) + 1 - s->data);

	memmove(s->data + off, s->data + end, s->len - end);
	s->len -= end - off;
}

int fw_app_settings_add(struct fw_app_settings *s, const char *name, const char *value, char *err,
			size_t errlen)
{
	if (!name_ok(name)) {
		snprintf(err, errlen,
			 "[app] key '%.64s': use up to 255 letters, digits, '_', '.' and '-'", name);
		return -1;
	}
	if (find(s, name) >= 0) {
		snprintf(err, errlen, "[app] key '%s' is set twice", name);
		return -1;
	}
	if (append(s, name, value) != 0) {
		snprintf(err, errlen, "[app] holds more than %d KiB of keys and values",
			 FW_APP_SETTINGS_MAX / 1024);
		return -1;
	}
	return 0;
}

/* Does the variable name e (up to '=') name the setting n? */
static bool env_names(const char *e, size_t elen, const char *n)
{
	size_t i = 0;

	for (; n[i] != '\0' && i < elen; i++) {
		if (e[i] != env_char(n[i]))
			return false;
	}
	return n[i] == '\0' && i == elen;
}

static int env_one(struct fw_app_settings *s, const char *var, struct fw_buf *errors)
{
	const char *key = var + 7, *eq = strchr(key, '=');
	size_t klen = (size_t)(eq - key);
	char name[256];

	for (size_t off = 0; off < s->len;) {
		const char *n = s->data + off, *v = n + strlen(n) + 1;

		if (env_names(key, klen, n)) {
			memcpy(name, n, strlen(n) + 1); /* at most 255 bytes: name_ok() */
			drop(s, off);
			return append(s, name, eq + 1) == 0 ? 0 : -1;
		}
		off = (size_t)(v + strlen(v) + 1 - s->data);
	}
	if (klen == 0 || klen >= sizeof(name)) {
		fw_buf_printf(errors, "environment %.*s: no setting name, or longer than 255\n",
			      (int)(eq - var), var);
		return 1;
	}
	for (size_t i = 0; i < klen; i++)
		name[i] = (char)tolower((unsigned char)key[i]);
	name[klen] = '\0';
	return append(s, name, eq + 1) == 0 ? 0 : -1;
}

int fw_app_settings_env(struct fw_app_settings *s, struct fw_buf *errors)
{
	int r = 0;

	for (char **e = environ; e != NULL && *e != NULL; e++) {
		int rc;

		if (strncmp(*e, "FW_APP_", 7) != 0 || strchr(*e, '=') == NULL)
			continue;
		if ((rc = env_one(s, *e, errors)) < 0)
			fw_buf_printf(errors, "environment %.*s: [app] holds more than %d KiB\n",
				      (int)strcspn(*e, "="), *e, FW_APP_SETTINGS_MAX / 1024);
		if (rc != 0)
			r = -1;
	}
	return r;
}

const char *fw_app_settings_get(const struct fw_app_settings *s, const char *name)
{
	long off = find(s, name);

	return off < 0 ? NULL : s->data + off + strlen(s->data + off) + 1;
}
