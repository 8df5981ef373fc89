/* The floor for the agent benchmark: a bare ping-pong server in its own process, as little as
 * a Unix-socket server can do. It answers every line it reads with a fixed reply of the
 * agent's size, one thread per connection, blocking reads and writes, no parsing.
 *
 *   floor SOCKET REPLY_BYTES
 *
 * Prints "ready\n" on stdout once listening. Built by benches/agent.rs with the system's C
 * compiler (cc -O2), so the benchmark compares the agent with the socket and nothing else. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static char *reply;
static size_t reply_len;

static int write_all(int fd, const char *p, size_t n) {
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w <= 0) return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static void *serve(void *arg) {
    int fd = (int)(long)arg;
    char buf[65536];
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n <= 0) break;
        for (ssize_t i = 0; i < n; i++) {
            if (buf[i] == '\n' && write_all(fd, reply, reply_len) != 0) goto done;
        }
    }
done:
    close(fd);
    return NULL;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: floor SOCKET REPLY_BYTES\n");
        return 2;
    }
    reply_len = (size_t)atol(argv[2]);
    if (reply_len < 1) return 2;
    reply = malloc(reply_len);
    memset(reply, 'x', reply_len - 1);
    reply[reply_len - 1] = '\n';
    int listener = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    strncpy(addr.sun_path, argv[1], sizeof addr.sun_path - 1);
    unlink(argv[1]);
    if (bind(listener, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(listener, 4096) != 0) {
        perror("floor");
        return 1;
    }
    printf("ready\n");
    fflush(stdout);
    for (;;) {
        int fd = accept(listener, NULL, NULL);
        if (fd < 0) continue;
        pthread_t t;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setstacksize(&attr, 256 * 1024);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        if (pthread_create(&t, &attr, serve, (void *)(long)fd) != 0) close(fd);
        pthread_attr_destroy(&attr);
    }
}
