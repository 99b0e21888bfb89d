/*
 * The session cookie is signed, not encrypted: the user name is readable,
 * and only the server can make a valid one. The secret comes from the
 * configuration (fw_setting("session_secret"), or FW_APP_SESSION_SECRET),
 * the same in every worker and across restarts and reloads: a secret made
 * up per worker (say, random bytes in a start-up hook) would make every
 * other worker, and the next one after a recycle, reject the cookie.
 * nettle's HMAC works in a caller-owned context: no allocation per request.
 */
#include "session.h"

#include <nettle/hmac.h>
#include <nettle/memops.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct hmac_sha256_ctx keyed; /* the key schedule, set once; copied per MAC */

int session_init(const char *secret)
{
	if (secret == NULL || strlen(secret) < 32)
		return -1;
	hmac_sha256_set_key(&keyed, strlen(secret), (const uint8_t *)secret);
	return 0;
}

int session_user_ok(const char *user)
{
	size_t n = strlen(user);

	if (n == 0 || n > SESSION_USER_MAX)
		return 0;
	return strspn(user, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") == n;
}

static void mac_hex(const char *msg, size_t len, char *hex)
{
	struct hmac_sha256_ctx ctx = keyed;
	uint8_t mac[SHA256_DIGEST_SIZE];

	hmac_sha256_update(&ctx, len, (const uint8_t *)msg);
	hmac_sha256_digest(&ctx, sizeof(mac), mac);
	for (size_t i = 0; i < sizeof(mac); i++)
		sprintf(hex + 2 * i, "%02x", mac[i]);
}

void session_make(const char *user, time_t until, char *out, size_t outlen)
{
	int n = snprintf(out, outlen, "%s.%lld.", user, (long long)until);

	if (n > 0 && (size_t)n + 2 * SHA256_DIGEST_SIZE < outlen)
		mac_hex(out, (size_t)n - 1, out + n);
}

int session_check(const char *value, time_t now, char *user)
{
	const char *dot1 = strchr(value, '.'), *dot2 = dot1 ? strchr(dot1 + 1, '.') : NULL;
	char want[2 * SHA256_DIGEST_SIZE + 1], *end;
	long long until;

	if (dot2 == NULL || (size_t)(dot1 - value) > SESSION_USER_MAX ||
	    strlen(dot2 + 1) != 2 * SHA256_DIGEST_SIZE)
		return -1;
	mac_hex(value, (size_t)(dot2 - value), want);
	/* Constant time: how much of a forged MAC matches must not show in the timing. */
	if (!memeql_sec(want, dot2 + 1, sizeof(want) - 1))
		return -1;
	until = strtoll(dot1 + 1, &end, 10);
	if (end != dot2 || until < now)
		return -1;
	memcpy(user, value, (size_t)(dot1 - value));
	user[dot1 - value] = '\0';
	return session_user_ok(user) ? 0 : -1;
}
