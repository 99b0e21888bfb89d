/*
 * Shared by the fuzz targets: the libFuzzer entry point's prototype, an
 * invariant check that survives NDEBUG, the input splitter and an event
 * hash. Header-only (static inline), so each target is one file.
 */
#ifndef FW_TESTS_FUZZ_H
#define FW_TESTS_FUZZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Called by libFuzzer, or by replay.c once per corpus file. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A broken invariant is a finding: say which and abort (libFuzzer saves the input). */
#define FZ_CHECK(cond)                                                                               \
	do {                                                                                         \
		if (!(cond)) {                                                                       \
			fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond); \
			abort();                                                                     \
		}                                                                                    \
	} while (0)

/*
 * How to cut the input into the pieces a socket might deliver. The input
 * starts with a byte whose low 3 bits give k (0..7), followed by k bytes
 * of piece sizes, used in turn; a size of 0 is a call with no bytes. k = 0,
 * or only zero sizes, means pieces of one byte. The rest is the stream.
 */
struct fz_split {
	const uint8_t *sizes;
	size_t nsizes, next;
	bool any_nonzero;
	uint8_t flags; /* the high 5 bits of the first byte, for the target's own use */
};

/* Take the split prefix off (*data, *size). false if the input is too short. */
static inline bool fz_split_init(struct fz_split *s, const uint8_t **data, size_t *size)
{
	size_t k;

	if (*size < 1)
		return false;
	k = (*data)[0] & 7;
	if (*size < 1 + k)
		return false;
	s->flags = (uint8_t)((*data)[0] >> 3);
	s->sizes = *data + 1;
	s->nsizes = k;
	s->next = 0;
	s->any_nonzero = false;
	for (size_t i = 0; i < k; i++)
		s->any_nonzero |= s->sizes[i] != 0;
	*data += 1 + k;
	*size -= 1 + k;
	return true;
}

/* The size of the next piece (may be 0), at most `left`. */
static inline size_t fz_split_next(struct fz_split *s, size_t left)
{
	size_t n;

	if (!s->any_nonzero)
		return left > 0 ? 1 : 0;
	n = s->sizes[s->next];
	s->next = (s->next + 1) % s->nsizes;
	return n < left ? n : left;
}

/*
 * A copy of buf[0..len) in a heap block of exactly len bytes, so that
 * AddressSanitizer sees any read past the piece.
 */
static inline uint8_t *fz_dup(const uint8_t *buf, size_t len)
{
	uint8_t *p = calloc(len, 1);

	if (p == NULL && (len > 0 || (p = calloc(1, 1)) == NULL))
		abort();
	if (len > 0)
		memcpy(p, buf, len);
	return p;
}

/* FNV-1a, 64 bits: a fingerprint of an event sequence. */
#define FZ_HASH_INIT 0xcbf29ce484222325ULL

static inline uint64_t fz_hash(uint64_t h, const void *p, size_t len)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < len; i++) {
		h ^= b[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

static inline uint64_t fz_hash_u64(uint64_t h, uint64_t v)
{
	uint8_t b[8];

	for (int i = 0; i < 8; i++)
		b[i] = (uint8_t)(v >> (8 * i));
	return fz_hash(h, b, sizeof(b));
}

static inline uint64_t fz_hash_str(uint64_t h, const char *s)
{
	return s != NULL ? fz_hash(fz_hash_u64(h, strlen(s)), s, strlen(s)) : fz_hash_u64(h, ~0ULL);
}

#endif
