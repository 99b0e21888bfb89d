#include "store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

static char root[3072];
static unsigned long writes;

int store_open(const char *dir)
{
	char path[4096];

	if (dir == NULL || dir[0] != '/' || strlen(dir) >= sizeof(root)) {
		fw_log(FW_LOG_ERROR, "notes: data_dir must be an absolute path");
		return -1;
	}
	snprintf(root, sizeof(root), "%s", dir);
	for (int i = 0; i < 3; i++) {
		snprintf(path, sizeof(path), "%s%s", root, i == 0 ? "" : i == 1 ? "/notes" : "/files");
		if (mkdir(path, 0750) != 0 && errno != EEXIST) {
			fw_log(FW_LOG_ERROR, "notes: mkdir %s: %s", path, strerror(errno));
			return -1;
		}
	}
	return 0;
}

void store_close(void)
{
	root[0] = '\0';
}

unsigned long store_writes(void)
{
	return writes;
}

static void note_path(char *out, long long id, const char *suffix)
{
	snprintf(out, 4096, "%s/notes/%lld.json%s", root, id, suffix);
}

/* Write the note to ID.json.tmp, then rename it into place. */
static int note_write(long long id, json_t *note)
{
	char tmp[4096], path[4096];

	note_path(tmp, id, ".tmp");
	note_path(path, id, "");
	if (json_dump_file(note, tmp, JSON_COMPACT) != 0 || rename(tmp, path) != 0) {
		fw_log(FW_LOG_ERROR, "notes: writing %s: %s", path, strerror(errno));
		unlink(tmp);
		return -1;
	}
	writes++;
	return 0;
}

long long store_add(const char *user, const char *title, const char *body)
{
	struct timeval tv;
	char path[4096];
	long long id;
	json_t *note;
	int fd = -1, r;

	gettimeofday(&tv, NULL);
	/* The microsecond as the id; O_EXCL settles two workers that take the same one. */
	for (id = (long long)tv.tv_sec * 1000000 + tv.tv_usec; fd < 0; id++) {
		note_path(path, id, "");
		if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640)) < 0 &&
		    errno != EEXIST)
			return -1;
	}
	close(fd);
	id--;
	note = json_pack("{s:I, s:s, s:s, s:s}", "id", (json_int_t)id, "title", title, "body", body,
			 "user", user);
	r = note != NULL ? note_write(id, note) : -1;
	json_decref(note);
	return r == 0 ? id : -1;
}

json_t *store_get(long long id)
{
	char path[4096];

	note_path(path, id, "");
	return json_load_file(path, 0, NULL);
}

static int newest_first(const void *a, const void *b)
{
	json_int_t x = json_integer_value(json_object_get(*(json_t *const *)a, "id"));
	json_int_t y = json_integer_value(json_object_get(*(json_t *const *)b, "id"));

	return x < y ? 1 : x > y ? -1 : 0;
}

json_t *store_list(void)
{
	char dir[4096];
	json_t *list = json_array(), **v = NULL;
	struct dirent *e;
	size_t n = 0;
	DIR *d;

	snprintf(dir, sizeof(dir), "%s/notes", root);
	if (list == NULL || (d = opendir(dir)) == NULL)
		return list;
	while ((e = readdir(d)) != NULL) {
		char *end;
		long long id = strtoll(e->d_name, &end, 10);
		json_t *note;

		if (strcmp(end, ".json") != 0 || (note = store_get(id)) == NULL)
			continue;
		json_array_append_new(list, note);
	}
	closedir(d);
	n = json_array_size(list);
	if (n > 1 && (v = malloc(n * sizeof(*v))) != NULL) {
		json_t *sorted = json_array();

		for (size_t i = 0; i < n; i++)
			v[i] = json_array_get(list, i);
		qsort(v, n, sizeof(*v), newest_first);
		for (size_t i = 0; sorted != NULL && i < n; i++)
			json_array_append(sorted, v[i]);
		free(v);
		if (sorted != NULL) {
			json_decref(list);
			list = sorted;
		}
	}
	return list;
}

int store_delete(long long id)
{
	char path[4096];

	snprintf(path, sizeof(path), "%s/files/%lld", root, id);
	unlink(path);
	note_path(path, id, "");
	return unlink(path);
}

int store_attach(long long id, const void *data, size_t len, const char *name, const char *type)
{
	char path[4096], tmp[4096 + 4];
	json_t *note = store_get(id);
	FILE *f;
	int r = -1;

	if (note == NULL)
		return -1;
	snprintf(path, sizeof(path), "%s/files/%lld", root, id);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	if ((f = fopen(tmp, "wb")) != NULL) {
		r = fwrite(data, 1, len, f) == len ? 0 : -1;
		if (fclose(f) != 0 || r != 0 || rename(tmp, path) != 0)
			r = -1;
	}
	if (r == 0) {
		json_object_set_new(note, "file",
				    json_pack("{s:s, s:s, s:I}", "name", name, "type", type, "size",
					      (json_int_t)len));
		r = note_write(id, note);
	} else {
		fw_log(FW_LOG_ERROR, "notes: writing %s: %s", tmp, strerror(errno));
		unlink(tmp);
	}
	json_decref(note);
	return r;
}

int store_file(long long id, char *path)
{
	snprintf(path, 4096, "%s/files/%lld", root, id);
	return access(path, R_OK);
}
