/*
 * {{name}}: a WAGI/CGI command module.
 *
 * The request body arrives on stdin and the request's method, path, query and
 * headers in CGI variables (REQUEST_METHOD, PATH_INFO, QUERY_STRING, HTTP_*).
 * What it writes to stdout is the response: headers, a blank line, the body.
 */
#include <stdio.h>
#include <stdlib.h>

int main(void) {
    const char *method = getenv("REQUEST_METHOD");
    const char *query = getenv("QUERY_STRING");
    char buf[4096];
    size_t total = 0, n;

    printf("Content-Type: text/plain; charset=utf-8\n\n");
    printf("Hello from {{name}}!\n");
    if (method) printf("method: %s\n", method);
    if (query && *query) printf("query: %s\n", query);
    while ((n = fread(buf, 1, sizeof buf, stdin)) > 0) total += n;
    printf("body: %zu bytes\n", total);
    return 0;
}
