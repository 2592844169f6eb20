/*
 * cfloor: the floor reader (package floor, ../floor.go) written in C, to
 * check that the Go floor costs no more than a minimal C reader in the
 * same guest, and to show what any userspace reader on a packet socket
 * reaches beside the kernel driver. One thread, one packet socket
 * (PACKET_IGNORE_OUTGOING, an 8 MiB receive buffer), a fixed window of
 * READ SECTORS EXT (LBA48) requests sent with sendmmsg(2), replies taken
 * with recvmmsg(2) (blocking, MSG_WAITFORONE: one call a wake-up; -P:
 * poll(2) first, then recvmmsg without waiting), each reply's data copied
 * once to its place and answered with the next request. No
 * retransmission: a lost frame ends the run (exit 3).
 *
 * For benchmarks and tests only (make bench-vm's guest, TestCFloor).
 * Written from the AoE specification (the byte layout is in ../floor.go);
 * MIT, like the rest of the project.
 *
 *   cfloor -i IF -target MAC -e SHELF.SLOT -length BYTES
 *          [-offset BYTES] [-window N] [-buffer BYTES] [-o FILE] [-P]
 *
 * Sizes are bytes, or with K, M or G (powers of 1024). Without -buffer
 * the whole read is kept in memory and, with -o, written to FILE.
 * It prints one line like the Go floor's.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

enum {
	ETHER_TYPE = 0x88a2,
	HDR_LEN = 36,
	SECTOR = 512,
	BATCH = 64,
	RCVBUF = 8 << 20,
	REQ_LEN = 60, /* the Ethernet minimum, zero-padded */
	ATA_READ_EXT = 0x24,
	ATA_STATUS_BAD = 0x01 | 0x20, /* ERR, DF */
};
#define TAG_USERSPACE 0x80000000u

static void die(const char *what)
{
	fprintf(stderr, "cfloor: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void usage(void)
{
	fprintf(stderr, "usage: cfloor -i IF -target MAC -e SHELF.SLOT -length BYTES [-offset BYTES] [-window N] [-buffer BYTES] [-o FILE] [-P]\n");
	exit(2);
}

static long long size_arg(const char *s)
{
	char *end;
	long long v = strtoll(s, &end, 10);
	switch (*end) {
	case 'K': v <<= 10; end++; break;
	case 'M': v <<= 20; end++; break;
	case 'G': v <<= 30; end++; break;
	}
	if (*end != 0 || v < 0)
		usage();
	return v;
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* The run's state. */
static int fd;
static unsigned char target[6], self[6];
static unsigned shelf, slot;
static long long nframes, next, got, slots;
static int per;			/* bytes per full frame */
static long long total;		/* bytes to read, whole sectors */
static unsigned long long first;	/* first sector */
static unsigned char *dst, *done;
static long long send_calls, recv_calls, poll_calls;

static unsigned char reqs[BATCH][REQ_LEN];
static struct iovec siov[BATCH];
static struct mmsghdr smsg[BATCH];

/* send sends requests for the next n frames. */
static void send_reqs(long long n)
{
	if (n > nframes - next)
		n = nframes - next;
	while (n > 0) {
		int k = n > BATCH ? BATCH : (int)n;
		for (int i = 0; i < k; i++) {
			unsigned char *q = reqs[i];
			uint32_t tag = htonl(TAG_USERSPACE | (uint32_t)next);
			long long left = total - next * per;
			unsigned long long lba = first + (unsigned long long)next * (per / SECTOR);
			memcpy(q + 20, &tag, 4);
			q[26] = (unsigned char)((left < per ? left : per) / SECTOR);
			for (int b = 0; b < 6; b++)
				q[28 + b] = (unsigned char)(lba >> (8 * b));
			next++;
		}
		for (int sent = 0; sent < k;) {
			int r = sendmmsg(fd, smsg + sent, k - sent, 0);
			send_calls++;
			if (r < 0) {
				if (errno == EINTR || errno == EAGAIN || errno == ENOBUFS)
					continue;
				die("sendmmsg");
			}
			sent += r;
		}
		n -= k;
	}
}

/* take places one frame's data; it returns 1 when it was a reply the
 * run still waited for. */
static int take(const unsigned char *b, int len)
{
	uint16_t et, sh;
	uint32_t tag;
	memcpy(&et, b + 12, 2);
	memcpy(&sh, b + 16, 2);
	if (len < HDR_LEN || ntohs(et) != ETHER_TYPE || (b[14] & 0x0c) != 0x08 || b[19] != 0 ||
	    ntohs(sh) != shelf || b[18] != slot || memcmp(b + 6, target, 6) != 0)
		return 0;
	memcpy(&tag, b + 20, 4);
	tag = ntohl(tag);
	long long idx = tag & ~TAG_USERSPACE;
	if (!(tag & TAG_USERSPACE) || idx >= nframes || done[idx])
		return 0;
	long long left = total - idx * per;
	int n = left < per ? (int)left : per;
	if (len < HDR_LEN + n)
		return 0;
	if (b[27] & ATA_STATUS_BAD) {
		fprintf(stderr, "cfloor: the target reported an ATA error\n");
		exit(1);
	}
	memcpy(dst + idx % slots * per, b + HDR_LEN, n);
	done[idx] = 1;
	got++;
	return 1;
}

int main(int argc, char **argv)
{
	const char *ifname = "eth0", *out = NULL;
	long long length = -1, offset = 0, buffer = 0;
	int window = 16, pollfirst = 0, have_target = 0, have_addr = 0;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "-P") == 0) {
			pollfirst = 1;
			continue;
		}
		if (i + 1 >= argc)
			usage();
		const char *v = argv[++i];
		if (strcmp(a, "-i") == 0)
			ifname = v;
		else if (strcmp(a, "-target") == 0) {
			if (sscanf(v, "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &target[0], &target[1], &target[2],
				   &target[3], &target[4], &target[5]) != 6)
				usage();
			have_target = 1;
		} else if (strcmp(a, "-e") == 0) {
			if (sscanf(v, "e%u.%u", &shelf, &slot) != 2 || shelf > 0xfffe || slot > 0xfe)
				usage();
			have_addr = 1;
		} else if (strcmp(a, "-length") == 0)
			length = size_arg(v);
		else if (strcmp(a, "-offset") == 0)
			offset = size_arg(v);
		else if (strcmp(a, "-window") == 0)
			window = atoi(v);
		else if (strcmp(a, "-buffer") == 0)
			buffer = size_arg(v);
		else if (strcmp(a, "-o") == 0)
			out = v;
		else
			usage();
	}
	if (!have_target || !have_addr || length <= 0 || offset % SECTOR != 0 || window <= 0)
		usage();

	/* Protocol 0: nothing is received until bound to the interface. */
	fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
	if (fd < 0)
		die("socket");
	struct ifreq ifr = {0};
	snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", ifname);
	if (ioctl(fd, SIOCGIFHWADDR, &ifr) < 0)
		die(ifname);
	memcpy(self, ifr.ifr_hwaddr.sa_data, 6);
	if (ioctl(fd, SIOCGIFMTU, &ifr) < 0)
		die(ifname);
	int mtu = ifr.ifr_mtu;
	int ifindex = (int)if_nametoindex(ifname);
	if (ifindex == 0)
		die(ifname);
	int one = 1, rcv = RCVBUF;
#ifdef PACKET_IGNORE_OUTGOING
	setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof one);
#endif
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcv, sizeof rcv) < 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof rcv);
	struct sockaddr_ll sll = {.sll_family = AF_PACKET, .sll_protocol = htons(ETHER_TYPE), .sll_ifindex = ifindex};
	if (bind(fd, (struct sockaddr *)&sll, sizeof sll) < 0)
		die("bind");
	struct timeval tv = {.tv_sec = 2};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);

	int sectors = (mtu - (HDR_LEN - 14)) / SECTOR;
	if (sectors > 255)
		sectors = 255;
	per = sectors * SECTOR;
	first = (unsigned long long)offset / SECTOR;
	nframes = (length + per - 1) / per;
	total = (length + SECTOR - 1) / SECTOR * SECTOR;
	slots = nframes;
	if (buffer > 0 && buffer < total)
		slots = (buffer + per - 1) / per;
	long long dlen = slots * (long long)per < total ? slots * (long long)per : total;
	dst = malloc(dlen);
	done = calloc(nframes, 1);
	if (!dst || !done)
		die("malloc");
	for (long long i = 0; i < dlen; i += 4096)
		dst[i] = 0; /* fault the pages in before the clock starts */

	for (int i = 0; i < BATCH; i++) {
		unsigned char *q = reqs[i];
		uint16_t et = htons(ETHER_TYPE), sh = htons((uint16_t)shelf);
		memcpy(q, target, 6);
		memcpy(q + 6, self, 6);
		memcpy(q + 12, &et, 2);
		q[14] = 0x10;
		memcpy(q + 16, &sh, 2);
		q[18] = (unsigned char)slot;
		q[24] = 0x40;
		q[27] = ATA_READ_EXT;
		siov[i].iov_base = q;
		siov[i].iov_len = REQ_LEN;
		smsg[i].msg_hdr.msg_iov = &siov[i];
		smsg[i].msg_hdr.msg_iovlen = 1;
	}
	static unsigned char rbuf[BATCH][HDR_LEN + 255 * SECTOR + 64];
	static struct iovec riov[BATCH];
	static struct mmsghdr rmsg[BATCH];
	for (int i = 0; i < BATCH; i++) {
		riov[i].iov_base = rbuf[i];
		riov[i].iov_len = HDR_LEN + per + 64;
		rmsg[i].msg_hdr.msg_iov = &riov[i];
		rmsg[i].msg_hdr.msg_iovlen = 1;
	}

	double start = now();
	send_reqs(window);
	while (got < nframes) {
		int flags = MSG_WAITFORONE;
		if (pollfirst) {
			struct pollfd p = {.fd = fd, .events = POLLIN};
			int r = poll(&p, 1, 2000);
			poll_calls++;
			if (r < 0 && errno == EINTR)
				continue;
			if (r < 0)
				die("poll");
			if (r == 0)
				goto lost;
			flags = MSG_DONTWAIT;
		}
		int n = recvmmsg(fd, rmsg, BATCH, flags, NULL);
		recv_calls++;
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN && !pollfirst)
				goto lost;
			if (errno == EAGAIN)
				continue;
			die("recvmmsg");
		}
		int answered = 0;
		for (int i = 0; i < n; i++)
			answered += take(rbuf[i], (int)rmsg[i].msg_len);
		send_reqs(answered);
	}
	double elapsed = now() - start;
	long long syscalls = send_calls + recv_calls + poll_calls;
	printf("c-%s: %lld bytes in %.3fs = %.1f MB/s; %lld frames, %.1f per send call, %.1f per receive call, %.1f system calls per MiB\n",
	       pollfirst ? "poll" : "socket", total, elapsed, total / elapsed / 1e6, nframes,
	       (double)nframes / send_calls, (double)nframes / recv_calls, syscalls / ((double)total / (1 << 20)));
	if (out) {
		int o = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (o < 0)
			die(out);
		long long want = slots < nframes ? dlen : length;
		for (long long off = 0; off < want;) {
			ssize_t w = write(o, dst + off, want - off);
			if (w < 0)
				die(out);
			off += w;
		}
		close(o);
	}
	return 0;
lost:
	fprintf(stderr, "cfloor: no reply within 2s (a frame was lost: the floor does not retransmit)\n");
	return 3;
}
