/*
 * metrics_endpoint.c - serving libaof's metrics to Prometheus from the host program.
 *
 *   ./metrics_endpoint DIR PORT     serve http://127.0.0.1:PORT/metrics until killed, while
 *                                   a writer thread appends to the log in DIR
 *   ./metrics_endpoint [DIR]        self-test: pick a free port, scrape it once from a
 *                                   client thread, print the response's first lines, exit
 *
 * libaof has no HTTP server of its own: aof_metrics_prometheus() (one log) or
 * aof_manager_metrics_prometheus() (every log of a manager) renders the text exposition
 * format into the caller's buffer, and the host serves it however it serves HTTP. Here, a
 * minimal HTTP/1.0 responder on a blocking socket.
 */
#define _POSIX_C_SOURCE 200809L

#include <arpa/inet.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "aof.h"

static void check(int32_t status, const char *what) {
    if (status != AOF_OK) {
        fprintf(stderr, "error: %s: %s (%d)\n  detail: %s\n", what, aof_errstr(status),
                (int)status, aof_last_error_message());
        exit(1);
    }
}

/* The metrics text in a malloc'd buffer: ask for the size, then render (retrying if the
 * text grew in between, as values can). */
static char *render(aof_log_t *log, size_t *len) {
    size_t cap = 0;
    char *buf = NULL;
    for (;;) {
        size_t needed = 0;
        int32_t s = aof_metrics_prometheus(log, buf, cap, &needed);
        if (s == AOF_OK) {
            *len = needed - 1; /* without the NUL */
            return buf;
        }
        if (s != AOF_ERR_BUFFER_TOO_SMALL) {
            check(s, "aof_metrics_prometheus");
        }
        free(buf);
        cap = needed + 256;
        buf = malloc(cap);
        if (buf == NULL) {
            exit(1);
        }
    }
}

static void write_all(int fd, const char *p, size_t n) {
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w <= 0) {
            return; /* the client went away */
        }
        p += w;
        n -= (size_t)w;
    }
}

/* Answers one HTTP request on `fd`: the metrics for GET /metrics, 404 otherwise. */
static void serve_one(int fd, aof_log_t *log) {
    char req[1024];
    ssize_t n = read(fd, req, sizeof req - 1);
    if (n <= 0) {
        return;
    }
    req[n] = '\0';
    if (strncmp(req, "GET /metrics", 12) != 0) {
        const char *nf = "HTTP/1.0 404 Not Found\r\nContent-Length: 0\r\n\r\n";
        write_all(fd, nf, strlen(nf));
        return;
    }
    size_t len = 0;
    char *body = render(log, &len);
    char head[256];
    int h = snprintf(head, sizeof head,
                     "HTTP/1.0 200 OK\r\nContent-Type: text/plain; version=0.0.4; "
                     "charset=utf-8\r\nContent-Length: %zu\r\n\r\n",
                     len);
    write_all(fd, head, (size_t)h);
    write_all(fd, body, len);
    free(body);
}

struct writer {
    aof_log_t *log;
    volatile int stop;
};

static void *write_events(void *arg) {
    struct writer *w = (struct writer *)arg;
    for (uint64_t i = 0; !w->stop; i++) {
        char event[64];
        int n = snprintf(event, sizeof event, "event %" PRIu64, i);
        check(aof_append(w->log, (const uint8_t *)event, (size_t)n, NULL), "aof_append");
        struct timespec ts = {0, 1000000}; /* 1 ms */
        nanosleep(&ts, NULL);
    }
    return NULL;
}

/* The self-test's client: scrapes the endpoint once and prints the start of the answer. */
static void *scrape(void *arg) {
    int port = *(int *)arg;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
        perror("connect");
        exit(1);
    }
    const char *req = "GET /metrics HTTP/1.0\r\n\r\n";
    write_all(fd, req, strlen(req));
    static char resp[1 << 20];
    size_t got = 0;
    ssize_t n;
    while ((n = read(fd, resp + got, sizeof resp - 1 - got)) > 0) {
        got += (size_t)n;
    }
    resp[got] = '\0';
    close(fd);
    if (strncmp(resp, "HTTP/1.0 200 OK", 15) != 0 ||
        strstr(resp, "# TYPE aof_appends_total counter") == NULL ||
        strstr(resp, "aof_append_latency_seconds{") == NULL) {
        fprintf(stderr, "unexpected response:\n%s\n", resp);
        exit(1);
    }
    /* The status line, then a few samples. */
    int lines = 0;
    for (char *p = resp; *p && lines < 12; p++) {
        putchar(*p);
        lines += *p == '\n';
    }
    printf("... (%zu bytes)\n", got);
    return NULL;
}

int main(int argc, char **argv) {
    const char *dir = argc > 1 ? argv[1] : "./metrics-endpoint-data";
    int port = argc > 2 ? atoi(argv[2]) : 0;
    int self_test = argc <= 2;

    aof_log_t *log = NULL;
    check(aof_open(dir, NULL, &log), "aof_open");
    struct writer w = {log, 0};
    pthread_t writer;
    pthread_create(&writer, NULL, write_events, &w);

    int srv = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(srv, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t alen = sizeof addr;
    if (srv < 0 || bind(srv, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(srv, 16) != 0 ||
        getsockname(srv, (struct sockaddr *)&addr, &alen) != 0) {
        perror("listen");
        return 1;
    }
    port = ntohs(addr.sin_port);
    printf("serving http://127.0.0.1:%d/metrics for the log in %s\n", port, dir);
    fflush(stdout);

    pthread_t client;
    if (self_test) {
        struct timespec ts = {0, 50000000}; /* let the writer append a little first */
        nanosleep(&ts, NULL);
        pthread_create(&client, NULL, scrape, &port);
    }
    do {
        int fd = accept(srv, NULL, NULL);
        if (fd < 0) {
            perror("accept");
            break;
        }
        serve_one(fd, log);
        close(fd);
    } while (!self_test);

    if (self_test) {
        pthread_join(client, NULL);
    }
    w.stop = 1;
    pthread_join(writer, NULL);
    close(srv);
    check(aof_close(log), "aof_close");
    return 0;
}
