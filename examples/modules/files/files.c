/*
 * files: a WAGI/CGI command that reads, lists and writes files in the directories
 * its call was given (a version's read-only assets, a call's scratch directory).
 *
 * The file is the first argument that is an absolute path (a route's
 * args = ["{assets}/words.txt"]), else the request's PATH_INFO
 * (POST /v1/run/ns/files/assets/words.txt opens /assets/words.txt).
 * The parameters below come from "name=value" arguments (what `wasmgrid run
 * ... -- op=ls` sends) or else from QUERY_STRING (?op=ls):
 *   (none)          write the file's bytes as the body (404 when it does not exist)
 *   op=ls           list the directory's entries, sorted, one per line
 *   op=write        write the request body to the file (create or truncate)
 *   op=fill&n=N     write N bytes (0x78) to the file in 64 KiB writes
 * A failed operation answers "<op> <path>: <strerror>" with the status of whose fault
 * it is: 404 for a path that does not exist, 403 for one the call may not touch (outside
 * its directories, or in the read-only assets), 400 for a directory read as a file or a
 * name too long, 500 for anything else (the module's own failure).
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char buf[65536];

static int arg_count;
static char **arg_values;

static const char *param(const char *query, const char *name) {
    size_t n = strlen(name);
    for (int i = 1; i < arg_count; i++) {
        if (strncmp(arg_values[i], name, n) == 0 && arg_values[i][n] == '=') return arg_values[i] + n + 1;
    }
    for (const char *p = query; p && *p;) {
        if (strncmp(p, name, n) == 0 && p[n] == '=') return p + n + 1;
        p = strchr(p, '&');
        if (p) p++;
    }
    return NULL;
}

static int is_op(const char *query, const char *op) {
    const char *v = param(query, "op");
    size_t n = strlen(op);
    return v && strncmp(v, op, n) == 0 && (v[n] == '\0' || v[n] == '&');
}

static const char *status_for(int err) {
    switch (err) {
    case ENOENT:
    case ENOTDIR:
        return "404 Not Found";
    case EACCES:
    case EPERM:
    case EROFS:
    case ENOTCAPABLE:
        return "403 Forbidden";
    case EISDIR:
    case ENAMETOOLONG:
    case EILSEQ:
        return "400 Bad Request";
    default:
        return "500 Internal Server Error";
    }
}

static int fail(const char *op, const char *path) {
    int err = errno;
    printf("Status: %s\r\nContent-Type: text/plain\r\n\r\n", status_for(err));
    printf("%s %s: %s\n", op, path, strerror(err));
    return 0;
}

static int cmp(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int list(const char *path) {
    DIR *dir = opendir(path);
    if (!dir) return fail("ls", path);
    char *names[1024];
    size_t count = 0;
    struct dirent *e;
    while ((e = readdir(dir)) && count < 1024) {
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) names[count++] = strdup(e->d_name);
    }
    closedir(dir);
    qsort(names, count, sizeof *names, cmp);
    printf("Content-Type: text/plain\r\n\r\n");
    for (size_t i = 0; i < count; i++) printf("%s\n", names[i]);
    return 0;
}

static int cat(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        if (errno == ENOENT) {
            printf("Status: 404 Not Found\r\nContent-Type: text/plain\r\n\r\nno file %s\n", path);
            return 0;
        }
        return fail("read", path);
    }
    printf("Content-Type: application/octet-stream\r\n\r\n");
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) fwrite(buf, 1, n, stdout);
    fclose(f);
    return 0;
}

static int write_body(const char *path) {
    FILE *f = fopen(path, "wb");
    if (!f) return fail("write", path);
    size_t n, total = 0;
    while ((n = fread(buf, 1, sizeof buf, stdin)) > 0) {
        if (fwrite(buf, 1, n, f) != n) return fail("write", path);
        total += n;
    }
    if (fclose(f) != 0) return fail("write", path);
    printf("Content-Type: text/plain\r\n\r\nwrote %zu bytes to %s\n", total, path);
    return 0;
}

static int fill(const char *path, unsigned long long n) {
    FILE *f = fopen(path, "wb");
    if (!f) return fail("fill", path);
    memset(buf, 'x', sizeof buf);
    for (unsigned long long done = 0; done < n;) {
        size_t step = n - done < sizeof buf ? (size_t)(n - done) : sizeof buf;
        if (fwrite(buf, 1, step, f) != step || fflush(f) != 0) return fail("fill", path);
        done += step;
    }
    if (fclose(f) != 0) return fail("fill", path);
    printf("Content-Type: text/plain\r\n\r\nwrote %llu bytes to %s\n", n, path);
    return 0;
}

int main(int argc, char **argv) {
    arg_count = argc;
    arg_values = argv;
    const char *query = getenv("QUERY_STRING");
    const char *path = getenv("PATH_INFO");
    for (int i = 1; i < argc; i++) {
        if (argv[i][0] == '/') {
            path = argv[i];
            break;
        }
    }
    if (!path || !*path) path = "/assets";
    if (!query) query = "";
    if (is_op(query, "ls")) return list(path);
    if (is_op(query, "write")) return write_body(path);
    if (is_op(query, "fill")) {
        const char *n = param(query, "n");
        return fill(path, n ? strtoull(n, NULL, 10) : 0);
    }
    return cat(path);
}
