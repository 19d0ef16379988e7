/*
 * wagi-echo: a WAGI/CGI command, built as a core WASI module and wrapped as a
 * WebAssembly component (WASI 0.2) with the WASI preview 1 adapter.
 *
 * Answers a CGI response on stdout describing the request it was given:
 *
 *   Content-Type: text/plain; charset=utf-8
 *   <blank line>
 *   method: <REQUEST_METHOD>
 *   path: <PATH_INFO>
 *   query: <QUERY_STRING>
 *   argv: <argv[1]> <argv[2]> ...
 *   body: <stdin, copied unchanged>
 *
 * Exits 0; a query parameter `fail=N` (1..255) exits with N after the response
 * header, so a gateway sees a failed command.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void put(const char *s, size_t n) {
    while (n > 0) {
        ssize_t w = write(1, s, n);
        if (w <= 0) _exit(1);
        s += w;
        n -= (size_t)w;
    }
}

static void puts_str(const char *s) { put(s, strlen(s)); }

static void field(const char *label, const char *name) {
    const char *value = getenv(name);
    puts_str(label);
    puts_str(value ? value : "");
    puts_str("\n");
}

/* The N of a `fail=N` query parameter, or 0. */
static int fail_code(void) {
    const char *q = getenv("QUERY_STRING");
    while (q && *q) {
        size_t len = strcspn(q, "&");
        if (len > 5 && strncmp(q, "fail=", 5) == 0) {
            int n = atoi(q + 5);
            return n > 0 && n < 256 ? n : 0;
        }
        q += len;
        if (*q) q++;
    }
    return 0;
}

int main(int argc, char **argv) {
    char buf[4096];
    ssize_t n;
    puts_str("Content-Type: text/plain; charset=utf-8\n\n");
    field("method: ", "REQUEST_METHOD");
    field("path: ", "PATH_INFO");
    field("query: ", "QUERY_STRING");
    puts_str("argv:");
    for (int i = 1; i < argc; i++) {
        puts_str(" ");
        puts_str(argv[i]);
    }
    puts_str("\nbody: ");
    while ((n = read(0, buf, sizeof buf)) > 0) put(buf, (size_t)n);
    return fail_code();
}
