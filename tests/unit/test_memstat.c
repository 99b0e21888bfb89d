/* core/memstat.c: parsing smaps_rollup, and reading our own. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "core/memstat.h"

static const char rollup[] =
	"55f3d1523000-7fffa2f37000 ---p 00000000 00:00 0                          [rollup]\n"
	"Rss:                8064 kB\n"
	"Pss:                2795 kB\n"
	"Pss_Dirty:          2226 kB\n"
	"Shared_Clean:       3828 kB\n"
	"Shared_Dirty:       4004 kB\n"
	"Private_Clean:         8 kB\n"
	"Private_Dirty:       224 kB\n"
	"Referenced:         8064 kB\n"
	"Anonymous:          4224 kB\n"
	"Swap:                 12 kB\n"
	"SwapPss:               3 kB\n";

static void test_parse(void)
{
	struct fw_memstat m;

	CHECK_EQ_INT(fw_memstat_parse(rollup, &m), 0);
	CHECK_EQ_UINT(m.rss_kb, 8064);
	CHECK_EQ_UINT(m.private_kb, 8 + 224);
	CHECK_EQ_UINT(m.shared_kb, 3828 + 4004);
	CHECK_EQ_UINT(m.swap_kb, 12); /* not SwapPss */
}

static void test_parse_rejects(void)
{
	struct fw_memstat m;

	CHECK_EQ_INT(fw_memstat_parse("", &m), -1);
	CHECK_EQ_INT(fw_memstat_parse("Rss: 10 kB\nPrivate_Clean: 1 kB\n", &m), -1);
	/* A name is matched whole: Pss_Dirty is not Private_Dirty. */
	CHECK_EQ_INT(fw_memstat_parse("Rss: 10 kB\nPrivate_Clean: 1 kB\nPss_Dirty: 3 kB\n", &m), -1);
	CHECK_EQ_INT(fw_memstat_parse("Rss: x kB\nPrivate_Clean: 1 kB\nPrivate_Dirty: 2 kB\n", &m), -1);
	CHECK_EQ_INT(fw_memstat_parse("Rss: -4 kB\nPrivate_Clean: 1 kB\nPrivate_Dirty: 2 kB\n", &m), -1);
	/* Without the optional fields. */
	CHECK_EQ_INT(fw_memstat_parse("Rss: 10 kB\nPrivate_Clean: 1 kB\nPrivate_Dirty: 2 kB\n", &m), 0);
	CHECK_EQ_UINT(m.private_kb, 3);
	CHECK_EQ_UINT(m.shared_kb, 0);
}

/* Writing 8 MiB of fresh memory shows up as that much more private memory. */
static void test_read_self(void)
{
	struct fw_memstat before, after;
	size_t n = 8 << 20;
	char *p;

	if (!CHECK_EQ_INT(fw_memstat_read(0, &before), 0))
		return;
	p = malloc(n);
	if (!CHECK(p != NULL))
		return;
	memset(p, 0x5a, n);
	/* Read back, or the compiler may drop the malloc and memset pair. */
	CHECK_EQ_INT(((volatile char *)p)[n - 1], 0x5a);
	CHECK_EQ_INT(fw_memstat_read(0, &after), 0);
	/*
	 * Pages of shared libraries count as private until another process
	 * maps them: a test starting beside this one can move some from
	 * private to shared between the two reads. What moved is added back.
	 */
	CHECK(after.private_kb +
		      (after.shared_kb > before.shared_kb ? after.shared_kb - before.shared_kb : 0) >=
	      before.private_kb + 7 * 1024);
	CHECK(after.rss_kb >= after.private_kb);
#ifdef FW_HAVE_TCMALLOC
	/* Under AddressSanitizer mallinfo2() reports zeros: only tcmalloc's counters are checked. */
	CHECK(fw_heap_mapped_bytes() >= 8u << 20);
	CHECK(fw_heap_used_bytes() >= 8u << 20);
#endif
	free(p);
	CHECK_EQ_INT(fw_memstat_read(getpid(), &after), 0);
	CHECK_EQ_INT(fw_memstat_read(-1, &after), -1);
}

int main(void)
{
	test_parse();
	test_parse_rejects();
	test_read_self();
	return check_done();
}
