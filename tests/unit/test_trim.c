/* master/trim.c: zero pages go, everything else stays as it was. */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "check.h"
#include "master/trim.h"

#if defined(__SANITIZE_ADDRESS__)
#define TRIM_OFF 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TRIM_OFF 1
#endif
#endif

#define PAGES 64

static size_t page;

static bool resident(const unsigned char *p)
{
	unsigned char vec = 0;

	return mincore((void *)p, page, &vec) == 0 && (vec & 1);
}

static bool all(const unsigned char *p, unsigned char c)
{
	for (size_t i = 0; i < page; i++)
		if (p[i] != c)
			return false;
	return true;
}

#ifndef TRIM_OFF
static void test_anonymous(void)
{
	unsigned char *a = mmap(NULL, PAGES * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
				-1, 0);
	size_t dropped;

	if (!CHECK(a != MAP_FAILED))
		return;
	/* Pages 0-31 resident and zero but for 5 and 20; 40 resident, not zero; the rest never touched. */
	for (size_t i = 0; i < 32; i++)
		memset(a + i * page, 0, page);
	a[5 * page + 17] = 1;
	a[20 * page + page - 1] = 2;
	a[40 * page] = 3;
	CHECK(resident(a) && resident(a + 31 * page) && !resident(a + 50 * page));

	dropped = fw_trim_zero_pages();
	CHECK(dropped >= 30);
	for (size_t i = 0; i < 32; i++) {
		bool kept = i == 5 || i == 20;

		if (!CHECK(resident(a + i * page) == kept))
			fprintf(stderr, "  page %zu\n", i);
	}
	CHECK(resident(a + 40 * page) && a[40 * page] == 3);
	CHECK(a[5 * page + 17] == 1 && a[20 * page + page - 1] == 2);
	/* A dropped page reads as zeros and can be written again. */
	CHECK(all(a + 3 * page, 0));
	a[3 * page] = 9;
	CHECK(a[3 * page] == 9 && resident(a + 3 * page));
	/* The scan reads resident pages only: an untouched one stays unmapped. */
	CHECK(!resident(a + 60 * page));
	munmap(a, PAGES * page);
}
#endif

/*
 * A private file mapping whose page was zeroed by the program: dropping it
 * would bring back the file's bytes. It has a name, so it is left alone.
 */
static void test_file_mapping_left_alone(void)
{
	char path[] = "/tmp/fw-trim-XXXXXX";
	int fd = mkstemp(path);
	unsigned char *f, buf[4096];

	if (!CHECK(fd >= 0))
		return;
	unlink(path);
	memset(buf, 'x', sizeof(buf));
	for (size_t off = 0; off < page; off += sizeof(buf))
		CHECK(write(fd, buf, sizeof(buf)) == (ssize_t)sizeof(buf));
	f = mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	close(fd);
	if (!CHECK(f != MAP_FAILED))
		return;
	memset(f, 0, page);
	fw_trim_zero_pages();
	CHECK(resident(f) && all(f, 0));
	munmap(f, page);
}

/* The heap: zeroed blocks go back, the bytes around them stay. */
static void test_heap(void)
{
	size_t n = 64 * page;
	unsigned char *h = malloc(n);

	if (!CHECK(h != NULL))
		return;
	memset(h, 0, n);
	h[0] = 7;
	h[n - 1] = 8;
	fw_trim_zero_pages();
	CHECK(h[0] == 7 && h[n - 1] == 8);
	for (size_t i = 1; i < n - 1; i++)
		if (h[i] != 0) {
			CHECK(h[i] == 0);
			break;
		}
	free(h);
}

int main(void)
{
	page = (size_t)sysconf(_SC_PAGESIZE);
#ifdef TRIM_OFF
	/* Compiled out under AddressSanitizer: nothing is dropped. */
	CHECK_EQ_UINT(fw_trim_zero_pages(), 0);
#else
	test_anonymous();
#endif
	test_file_mapping_left_alone();
	test_heap();
	return check_done();
}
