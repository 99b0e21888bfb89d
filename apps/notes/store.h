/*
 * Notes on disk, shared by every worker: DIR/notes/ID.json, the
 * attachment in DIR/files/ID. Written to a temporary file and renamed,
 * so a reader never sees half a note.
 */
#ifndef NOTES_STORE_H
#define NOTES_STORE_H

#include <jansson.h>

int store_open(const char *dir);
void store_close(void);

/* Add a note; its id (> 0), or -1 with errno. */
long long store_add(const char *user, const char *title, const char *body);

/* A note as a new jansson object (json_decref it), or NULL. */
json_t *store_get(long long id);

/* Every note, newest first, as a new array. */
json_t *store_list(void);

int store_delete(long long id);

/* Attach a file to a note: its bytes, name and type. 0 or -1. */
int store_attach(long long id, const void *data, size_t len, const char *name, const char *type);

/* The attachment's path (into path[4096]), 0 or -1. */
int store_file(long long id, char *path);

/* Notes written by this worker (for its exit hook). */
unsigned long store_writes(void);

#endif
