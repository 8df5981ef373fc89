/* The client of the agent benchmark's unpinned round trip: a process of its own, as a vendor's
 * app is, so that the scheduler places it apart from the benchmark. It sends requests (the
 * agent's `status`, or the lines given, in turn) and reads each answer to its newline, one at
 * a time.
 *
 *   client SOCKET ROUND_TRIPS [REQUEST...]
 *
 * Warms up with a tenth as many, then prints the mean round trip in nanoseconds (both counts
 * whole cycles of the requests). Built by
 * benches/agent.rs with the system's C compiler (cc -O2), like the floor. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define MAX_REQUESTS 8
static char requests[MAX_REQUESTS][4096] = {"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"status\"}\n"};
static size_t request_lens[MAX_REQUESTS];
static int request_count = 1;

/* Round trip `i`: 0, or -1 if the connection failed or closed, or the answer is a JSON-RPC
 * error (a refused call is no figure: it would only look fast). */
static int ask(int fd, long i) {
    static char line[65536];
    const char *request = requests[i % request_count];
    size_t request_len = request_lens[i % request_count];
    if (send(fd, request, request_len, MSG_NOSIGNAL) != (ssize_t)request_len) return -1;
    size_t got = 0;
    for (;;) {
        ssize_t n = recv(fd, line + got, sizeof line - 1 - got, 0);
        if (n <= 0) return -1;
        got += (size_t)n;
        if (line[got - 1] == '\n') break;
        if (got == sizeof line - 1) return -1;
    }
    line[got] = '\0';
    if (strstr(line, "\"error\":") != NULL) {
        fprintf(stderr, "client: answered with an error: %s", line);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 3 || argc > 3 + MAX_REQUESTS) {
        fprintf(stderr, "usage: client SOCKET ROUND_TRIPS [REQUEST...] (at most %d)\n", MAX_REQUESTS);
        return 2;
    }
    if (argc > 3) request_count = argc - 3;
    for (int r = 0; r < argc - 3; r++) {
        if (strlen(argv[3 + r]) + 2 > sizeof requests[r]) {
            fprintf(stderr, "client: request %d is longer than %zu bytes\n", r + 1, sizeof requests[r] - 2);
            return 2;
        }
        snprintf(requests[r], sizeof requests[r], "%s\n", argv[3 + r]);
    }
    for (int r = 0; r < request_count; r++) request_lens[r] = strlen(requests[r]);
    /* Whole cycles of the requests, the warm-up's too (a checkout is always followed by its
     * release). */
    long n = (atol(argv[2]) + request_count - 1) / request_count * request_count;
    long warm = n / 10 / request_count * request_count;
    if (n < 1) {
        fprintf(stderr, "client: ROUND_TRIPS must be at least 1\n");
        return 2;
    }
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    strncpy(addr.sun_path, argv[1], sizeof addr.sun_path - 1);
    if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
        perror("client");
        return 1;
    }
    for (long i = 0; i < warm; i++) {
        if (ask(fd, i) != 0) return 1;
    }
    struct timespec start, end;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (long i = 0; i < n; i++) {
        if (ask(fd, i) != 0) return 1;
    }
    clock_gettime(CLOCK_MONOTONIC, &end);
    long long ns = (end.tv_sec - start.tv_sec) * 1000000000LL + (end.tv_nsec - start.tv_nsec);
    printf("%lld\n", ns / n);
    return 0;
}
