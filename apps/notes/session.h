/* Signed session cookies: user.expiry.HMAC-SHA256(secret, user.expiry), in hex. */
#ifndef NOTES_SESSION_H
#define NOTES_SESSION_H

#include <stddef.h>
#include <time.h>

#define SESSION_USER_MAX 32

/* The secret the MACs are made with; at least 32 bytes. */
int session_init(const char *secret);

/* Is user 1..32 of [A-Za-z0-9_-] (so that it needs no encoding in a cookie)? */
int session_user_ok(const char *user);

/* The cookie value for user, valid until `until`, into out (at least 128 bytes). */
void session_make(const char *user, time_t until, char *out, size_t outlen);

/* The user of a valid, unexpired cookie value, copied into user[SESSION_USER_MAX + 1]; 0 or -1. */
int session_check(const char *value, time_t now, char *user);

#endif
