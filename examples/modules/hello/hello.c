/*
 * hello: a WAGI/CGI command module.
 *
 * Reads the request body from stdin and answers a CGI response on stdout:
 *
 *   Content-Type: text/plain; charset=utf-8
 *   <blank line>
 *   <the body, ASCII letters uppercased>
 *   [when QUERY_STRING has the parameter env=1: the CGI variables it
 *    received, one NAME=value per line, sorted by name]
 *
 * The body is streamed through a fixed 4 KiB buffer, so memory use does not
 * grow with the request size. An empty stdin gives an empty body. Bytes
 * outside ASCII are copied unchanged, so UTF-8 input stays valid UTF-8.
 * Exits 0; exits 1 (with a line on stderr) only if stdin/stdout fail.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern char **environ;

static const char HEADER[] = "Content-Type: text/plain; charset=utf-8\n\n";

/* RFC 3875 meta-variables; every HTTP_* variable is listed as well. */
static const char *const CGI_VARS[] = {
    "AUTH_TYPE",       "CONTENT_LENGTH",  "CONTENT_TYPE",    "GATEWAY_INTERFACE",
    "PATH_INFO",       "PATH_TRANSLATED", "QUERY_STRING",    "REMOTE_ADDR",
    "REMOTE_HOST",     "REMOTE_IDENT",    "REMOTE_USER",     "REQUEST_METHOD",
    "SCRIPT_NAME",     "SERVER_NAME",     "SERVER_PORT",     "SERVER_PROTOCOL",
    "SERVER_SOFTWARE",
};

static void die(const char *msg) {
    (void)write(2, msg, strlen(msg));
    _exit(1);
}

static void write_all(const char *p, size_t n) {
    while (n > 0) {
        ssize_t w = write(1, p, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            die("hello: write to stdout failed\n");
        }
        p += w;
        n -= (size_t)w;
    }
}

/* True when the query string has a parameter exactly equal to "env=1". */
static int wants_env(void) {
    const char *q = getenv("QUERY_STRING");
    if (!q) return 0;
    while (*q) {
        size_t len = strcspn(q, "&;");
        if (len == 5 && memcmp(q, "env=1", 5) == 0) return 1;
        q += len;
        if (*q) q++;
    }
    return 0;
}

static int is_cgi_var(const char *entry) {
    size_t name_len = strcspn(entry, "=");
    if (name_len > 5 && memcmp(entry, "HTTP_", 5) == 0) return 1;
    for (size_t i = 0; i < sizeof CGI_VARS / sizeof CGI_VARS[0]; i++) {
        if (strlen(CGI_VARS[i]) == name_len && memcmp(entry, CGI_VARS[i], name_len) == 0)
            return 1;
    }
    return 0;
}

/* Sort by name (the part before '='), then by the whole entry. */
static int cmp_entry(const void *a, const void *b) {
    const char *x = *(const char *const *)a, *y = *(const char *const *)b;
    for (;; x++, y++) {
        unsigned char cx = (*x == '=') ? 0 : (unsigned char)*x;
        unsigned char cy = (*y == '=') ? 0 : (unsigned char)*y;
        if (cx != cy) return cx < cy ? -1 : 1;
        if (cx == 0) return strcmp(x, y);
    }
}

static void write_env(void) {
    size_t n = 0;
    for (char **e = environ; e && *e; e++)
        if (is_cgi_var(*e)) n++;
    if (n == 0) return;
    const char **list = malloc(n * sizeof *list);
    if (!list) die("hello: out of memory\n");
    size_t i = 0;
    for (char **e = environ; e && *e; e++)
        if (is_cgi_var(*e)) list[i++] = *e;
    qsort(list, n, sizeof *list, cmp_entry);
    for (i = 0; i < n; i++) {
        write_all(list[i], strlen(list[i]));
        write_all("\n", 1);
    }
    free(list);
}

int main(void) {
    static char buf[4096];
    char last = '\n';
    write_all(HEADER, sizeof HEADER - 1);
    for (;;) {
        ssize_t r = read(0, buf, sizeof buf);
        if (r < 0) {
            if (errno == EINTR) continue;
            die("hello: read from stdin failed\n");
        }
        if (r == 0) break;
        for (ssize_t i = 0; i < r; i++)
            if (buf[i] >= 'a' && buf[i] <= 'z') buf[i] = (char)(buf[i] - 'a' + 'A');
        write_all(buf, (size_t)r);
        last = buf[r - 1];
    }
    if (wants_env()) {
        if (last != '\n') write_all("\n", 1); /* env list starts on its own line */
        write_env();
    }
    return 0;
}
