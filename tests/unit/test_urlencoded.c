/* http/urlencoded: splitting and decoding in place. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "http/urlencoded.h"

/* Split a copy of s (with room for the NUL); the pairs point into *copy. */
static size_t split(const char *s, size_t len, char **copy, struct fw_pair *out, size_t max)
{
	*copy = malloc(len + 1);
	if (*copy == NULL)
		abort();
	memcpy(*copy, s, len);
	return fw_urlencoded_split(*copy, len, out, max);
}

static void test_count(void)
{
	CHECK_EQ_UINT(fw_urlencoded_count("", 0), 1);
	CHECK_EQ_UINT(fw_urlencoded_count("a=1", 3), 1);
	CHECK_EQ_UINT(fw_urlencoded_count("a&b&&", 5), 4);
	CHECK_EQ_UINT(fw_urlencoded_count("a\0&b", 4), 2); /* bytes, not a C string */
}

static void test_split(void)
{
	static const char in[] = "title=Hello+world%21&tag=a&tag=b&&empty=&flag&=anon&x=%zz%4"
				 "&pct=100%25&eq=a=b";
	struct fw_pair p[16];
	char *copy;
	size_t n = split(in, sizeof(in) - 1, &copy, p, 16);

	if (!CHECK_EQ_UINT(n, 9))
		return;
	CHECK_EQ_STR(p[0].name, "title");
	CHECK_EQ_STR(p[0].value, "Hello world!");
	CHECK_EQ_STR(p[1].name, "tag");
	CHECK_EQ_STR(p[1].value, "a");
	CHECK_EQ_STR(p[2].value, "b");
	CHECK_EQ_STR(p[3].name, "empty");
	CHECK_EQ_STR(p[3].value, "");
	CHECK_EQ_STR(p[4].name, "flag");
	CHECK_EQ_STR(p[4].value, "");
	CHECK_EQ_STR(p[5].name, "");
	CHECK_EQ_STR(p[5].value, "anon");
	CHECK_EQ_STR(p[6].value, "%zz%4"); /* broken escapes stay as they are */
	CHECK_EQ_STR(p[7].value, "100%");
	CHECK_EQ_STR(p[8].name, "eq");
	CHECK_EQ_STR(p[8].value, "a=b");
	free(copy);
}

static void test_limits_and_nul(void)
{
	static const char in[] = "a=1&b=2&c=3";
	static const char nul[] = "n%00ame=v%00alue&raw=x\0y&z";
	struct fw_pair p[4];
	char *copy;

	/* More pairs than room: the count says so, the first ones are filled. */
	CHECK_EQ_UINT(split(in, sizeof(in) - 1, &copy, p, 2), 3);
	CHECK_EQ_STR(p[1].name, "b");
	free(copy);
	CHECK_EQ_UINT(split(in, sizeof(in) - 1, &copy, NULL, 0), 3);
	free(copy);
	/* A NUL (decoded or raw) ends the C string; the next pair is intact. */
	if (CHECK_EQ_UINT(split(nul, sizeof(nul) - 1, &copy, p, 4), 3)) {
		CHECK_EQ_STR(p[0].name, "n");
		CHECK_EQ_STR(p[0].value, "v");
		CHECK_EQ_STR(p[1].name, "raw");
		CHECK_EQ_STR(p[1].value, "x");
		CHECK_EQ_STR(p[2].name, "z");
		CHECK_EQ_STR(p[2].value, "");
	}
	free(copy);
	CHECK_EQ_UINT(split("", 0, &copy, p, 4), 0);
	CHECK_EQ_UINT((unsigned char)copy[0], 0);
	free(copy);
}

int main(void)
{
	test_count();
	test_split();
	test_limits_and_nul();
	return check_done();
}
