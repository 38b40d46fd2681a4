/* racer MS: for MS milliseconds, reads every /proc/<pid>/status it can and
 * prints "STRONGER <pid> <CapEff> <Seccomp>" for a process holding
 * capabilities beyond this one's or no seccomp filter: what a container
 * process could attach to (with CAP_SYS_PTRACE) while ketch sets up an exec. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
static int field(const char *path, unsigned long long *cap, int *sec) {
    FILE *f = fopen(path, "r");
    char line[256];
    int got = 0;
    if (!f) return 0;
    while (fgets(line, sizeof line, f)) {
        if (!strncmp(line, "CapEff:", 7)) { *cap = strtoull(line + 7, 0, 16); got |= 1; }
        if (!strncmp(line, "Seccomp:", 8)) { *sec = atoi(line + 8); got |= 2; }
    }
    fclose(f);
    return got == 3;
}
int main(int argc, char **argv) {
    unsigned long long mine, cap;
    int mysec, sec;
    char path[64];
    if (!field("/proc/self/status", &mine, &mysec)) return 2;
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    long ms = atol(argv[1]);
    for (;;) {
        clock_gettime(CLOCK_MONOTONIC, &t);
        if ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000 > ms) break;
        DIR *d = opendir("/proc");
        struct dirent *e;
        while (d && (e = readdir(d))) {
            if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
            snprintf(path, sizeof path, "/proc/%s/status", e->d_name);
            if (field(path, &cap, &sec) && ((cap & ~mine) || sec == 0)) {
                printf("STRONGER %s %llx %d\n", e->d_name, cap, sec);
                fflush(stdout);
            }
        }
        if (d) closedir(d);
    }
    printf("done\n");
    return 0;
}
