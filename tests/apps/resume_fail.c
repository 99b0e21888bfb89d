/*
 * LD_PRELOAD shim for e2e-upgrade: the master's new image cannot read the
 * table its old image left (a read() of the memory file fails), as a new
 * build with a bug there would, so that the way back to the running build
 * is tested. Armed only in an image started to take a table over
 * ($FW_MASTER_IMAGE without "back"), and only while the file named by
 * $FW_TEST_RESUME_FAIL exists: the old build taken back reads its table.
 */
#include <dlfcn.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static bool armed;

__attribute__((constructor)) static void arm(void)
{
	const char *image = getenv("FW_MASTER_IMAGE"), *marker = getenv("FW_TEST_RESUME_FAIL");

	armed = image != NULL && strstr(image, "back") == NULL && marker != NULL &&
		access(marker, F_OK) == 0;
}

static bool the_image(int fd)
{
	char path[64], target[64];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, target, sizeof(target) - 1);
	if (n <= 0)
		return false;
	target[n] = '\0';
	return strncmp(target, "/memfd:fw-master-image", 22) == 0;
}

ssize_t read(int fd, void *buf, size_t len)
{
	static ssize_t (*real)(int, void *, size_t);

	if (real == NULL)
		*(void **)&real = dlsym(RTLD_NEXT, "read");
	if (real == NULL)
		abort();
	if (armed && the_image(fd)) {
		errno = EIO;
		return -1;
	}
	return real(fd, buf, len);
}
