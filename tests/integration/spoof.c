#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <netinet/ip.h>
#include <netinet/udp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
static unsigned short csum(unsigned short *p, int n) {
    unsigned long s = 0;
    while (n > 1) { s += *p++; n -= 2; }
    s = (s >> 16) + (s & 0xffff);
    s += s >> 16;
    return (unsigned short)~s;
}
/* spoof PORT: "SPOOFED" over UDP to 127.0.0.1:PORT, in a frame sent to the default gateway's MAC. */
int main(int argc, char **argv) {
    int port = atoi(argv[1]);
    char line[256], ifn[32] = "";
    unsigned gw = 0;
    FILE *f = fopen("/proc/net/route", "r");
    if (!f || !fgets(line, sizeof line, f)) return 2;
    while (fgets(line, sizeof line, f)) {
        unsigned dst, g;
        if (sscanf(line, "%31s %x %x", ifn, &dst, &g) == 3 && dst == 0) { gw = g; break; }
    }
    int u = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(9), .sin_addr.s_addr = gw}, me;
    socklen_t ml = sizeof me;
    connect(u, (void *)&a, sizeof a);
    send(u, "x", 1, 0);
    getsockname(u, (void *)&me, &ml);
    usleep(300000);
    unsigned char mac[6] = {0};
    char ip[32], hw[32];
    struct in_addr gwa = {gw};
    char gws[32];
    strcpy(gws, inet_ntoa(gwa));
    FILE *arp = fopen("/proc/net/arp", "r");
    if (!arp || !fgets(line, sizeof line, arp)) return 3;
    while (fgets(line, sizeof line, arp))
        if (sscanf(line, "%31s %*s %*s %31s", ip, hw) == 2 && !strcmp(ip, gws))
            sscanf(hw, "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &mac[0], &mac[1], &mac[2], &mac[3], &mac[4], &mac[5]);
    int s = socket(AF_PACKET, SOCK_DGRAM, htons(ETH_P_IP));
    struct sockaddr_ll ll = {.sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_IP),
                             .sll_ifindex = if_nametoindex(ifn), .sll_halen = 6};
    memcpy(ll.sll_addr, mac, 6);
    unsigned char pkt[64] = {0};
    struct iphdr *ih = (void *)pkt;
    struct udphdr *uh = (void *)(pkt + 20);
    int len = 20 + 8 + 7;
    ih->version = 4; ih->ihl = 5; ih->ttl = 64; ih->protocol = 17; ih->tot_len = htons(len);
    ih->saddr = me.sin_addr.s_addr; ih->daddr = inet_addr("127.0.0.1");
    ih->check = csum((void *)ih, 20);
    uh->source = htons(4444); uh->dest = htons(port); uh->len = htons(8 + 7);
    memcpy(pkt + 28, "SPOOFED", 7);
    printf("%ld\n", (long)sendto(s, pkt, len, 0, (void *)&ll, sizeof ll));
    return 0;
}
