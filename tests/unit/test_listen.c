/* config/listen.c: listen lists with protocols, allowed_clients. */
#include <arpa/inet.h>
#include <string.h>
#include <sys/un.h>

#include "check.h"
#include "config/listen.h"

static void test_lists(void)
{
	struct fw_listen_list l;
	char err[256];

	CHECK_EQ_INT(fw_listen_list_parse("/run/a.sock, scgi:127.0.0.1:4000 fastcgi:[::1]:9000", &l, err,
					  sizeof(err)),
		     0);
	CHECK_EQ_INT(l.n, 3);
	CHECK_EQ_INT(l.l[0].addr.family, AF_UNIX);
	CHECK(!l.l[0].proto_given);
	CHECK_EQ_INT(l.l[1].proto, FW_PROTO_SCGI);
	CHECK(l.l[1].proto_given);
	CHECK_EQ_INT(l.l[1].addr.family, AF_INET);
	CHECK_EQ_INT(l.l[2].proto, FW_PROTO_FASTCGI);
	CHECK_EQ_INT(l.l[2].addr.family, AF_INET6);
	/* scgi: in front of unix: */
	CHECK_EQ_INT(fw_listen_list_parse("scgi:unix:/run/b.sock", &l, err, sizeof(err)), 0);
	CHECK_EQ_INT(l.l[0].proto, FW_PROTO_SCGI);
	CHECK_EQ_STR(l.l[0].addr.path, "/run/b.sock");
	/* Errors. */
	CHECK_EQ_INT(fw_listen_list_parse("", &l, err, sizeof(err)), -1);
	CHECK_EQ_STR(err, "no address");
	CHECK_EQ_INT(fw_listen_list_parse("/a.sock, /a.sock", &l, err, sizeof(err)), -1);
	CHECK_EQ_STR(err, "'/a.sock' is listed twice");
	CHECK_EQ_INT(fw_listen_list_parse("http:127.0.0.1:80", &l, err, sizeof(err)), -1);
	CHECK_EQ_INT(fw_listen_list_parse("/1,/2,/3,/4,/5,/6,/7,/8,/9", &l, err, sizeof(err)), -1);
	CHECK_EQ_STR(err, "more than 8 addresses");
}

static struct sockaddr_storage v4(const char *ip)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *in = (struct sockaddr_in *)&ss;

	memset(&ss, 0, sizeof(ss));
	in->sin_family = AF_INET;
	inet_pton(AF_INET, ip, &in->sin_addr);
	return ss;
}

static struct sockaddr_storage v6(const char *ip)
{
	struct sockaddr_storage ss;
	struct sockaddr_in6 *in = (struct sockaddr_in6 *)&ss;

	memset(&ss, 0, sizeof(ss));
	in->sin6_family = AF_INET6;
	inet_pton(AF_INET6, ip, &in->sin6_addr);
	return ss;
}

#define ALLOWS(l, ss) fw_cidr_allows((l), (const struct sockaddr *)&(ss))

static void test_cidrs(void)
{
	struct fw_cidr_list l;
	struct sockaddr_storage a;
	struct sockaddr_un un = {.sun_family = AF_UNIX};
	char err[256];

	CHECK_EQ_INT(fw_cidr_list_parse("127.0.0.1, 10.0.0.0/8 fd00::/8", &l, err, sizeof(err)), 0);
	CHECK_EQ_INT(l.n, 3);
	a = v4("127.0.0.1");
	CHECK(ALLOWS(&l, a));
	a = v4("127.0.0.2");
	CHECK(!ALLOWS(&l, a));
	a = v4("10.200.3.4");
	CHECK(ALLOWS(&l, a));
	a = v4("11.0.0.1");
	CHECK(!ALLOWS(&l, a));
	a = v6("fd12::1");
	CHECK(ALLOWS(&l, a));
	a = v6("fe80::1");
	CHECK(!ALLOWS(&l, a));
	/* An IPv4 client on a dual-stack socket matches as IPv4. */
	a = v6("::ffff:10.1.1.1");
	CHECK(ALLOWS(&l, a));
	a = v6("::ffff:12.1.1.1");
	CHECK(!ALLOWS(&l, a));
	CHECK(fw_cidr_allows(&l, (const struct sockaddr *)&un));
	/* Odd prefix lengths compare the right bits. */
	CHECK_EQ_INT(fw_cidr_list_parse("192.168.1.128/25", &l, err, sizeof(err)), 0);
	a = v4("192.168.1.200");
	CHECK(ALLOWS(&l, a));
	a = v4("192.168.1.100");
	CHECK(!ALLOWS(&l, a));
	CHECK_EQ_INT(fw_cidr_list_parse("0.0.0.0/0", &l, err, sizeof(err)), 0);
	a = v4("8.8.8.8");
	CHECK(ALLOWS(&l, a));
	CHECK_EQ_INT(fw_cidr_list_parse("any", &l, err, sizeof(err)), 0);
	CHECK(l.any);
	/* Errors. */
	CHECK_EQ_INT(fw_cidr_list_parse("300.1.1.1", &l, err, sizeof(err)), -1);
	CHECK_EQ_STR(err, "'300.1.1.1' is not an IP address (names are not resolved)");
	CHECK_EQ_INT(fw_cidr_list_parse("10.0.0.0/33", &l, err, sizeof(err)), -1);
	CHECK_EQ_STR(err, "'10.0.0.0/33': the prefix length must be 0 to 32");
	CHECK_EQ_INT(fw_cidr_list_parse("::1/129", &l, err, sizeof(err)), -1);
	CHECK_EQ_INT(fw_cidr_list_parse("", &l, err, sizeof(err)), -1);
	CHECK_EQ_STR(err, "empty: list addresses, or say any");
	CHECK_EQ_INT(fw_cidr_list_parse("localhost", &l, err, sizeof(err)), -1);
}

int main(void)
{
	test_lists();
	test_cidrs();
	return check_done();
}
