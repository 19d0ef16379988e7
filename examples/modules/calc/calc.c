/*
 * calc: a WAGI/CGI command that evaluates an integer expression from the request body
 * (+ - * / %, unary minus, parentheses; 64-bit, overflow checked) and answers its value.
 *
 * A recursive-descent parser reports an error from any depth by longjmp back to main,
 * which answers 400 naming the problem and the column. Built with WebAssembly exception
 * handling (see the Makefile): setjmp becomes a try_table/catch and longjmp a throw of
 * the __c_longjmp tag, so the program needs a runtime with the exceptions feature.
 */
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define MAX_INPUT 4096
#define MAX_DEPTH 200

static char input[MAX_INPUT + 1];
static size_t pos;
static int depth;
static jmp_buf on_error;
static const char *error_message;
static size_t error_column;

static void fail(const char *message) {
    error_message = message;
    error_column = pos + 1;
    longjmp(on_error, 1);
}

static void skip_spaces(void) {
    while (input[pos] == ' ' || input[pos] == '\t' || input[pos] == '\n' || input[pos] == '\r') pos++;
}

static int64_t expression(void);

static int64_t primary(void) {
    skip_spaces();
    char c = input[pos];
    if (c == '(') {
        if (++depth > MAX_DEPTH) fail("parentheses nested too deeply");
        pos++;
        int64_t value = expression();
        skip_spaces();
        if (input[pos] != ')') fail("expected ')'");
        pos++;
        depth--;
        return value;
    }
    if (c == '-') {
        pos++;
        int64_t value = primary();
        if (value == INT64_MIN) fail("integer overflow");
        return -value;
    }
    if (c < '0' || c > '9') fail(c ? "expected a number or '('" : "unexpected end of input");
    int64_t value = 0;
    while (input[pos] >= '0' && input[pos] <= '9') {
        if (__builtin_mul_overflow(value, 10, &value) ||
            __builtin_add_overflow(value, input[pos] - '0', &value))
            fail("number too large");
        pos++;
    }
    return value;
}

static int64_t term(void) {
    int64_t value = primary();
    for (;;) {
        skip_spaces();
        char op = input[pos];
        if (op != '*' && op != '/' && op != '%') return value;
        size_t at = pos++;
        int64_t right = primary();
        if (op == '*') {
            if (__builtin_mul_overflow(value, right, &value)) fail("integer overflow");
            continue;
        }
        if (right == 0) {
            pos = at;
            fail("division by zero");
        }
        if (value == INT64_MIN && right == -1) fail("integer overflow");
        value = op == '/' ? value / right : value % right;
    }
}

static int64_t expression(void) {
    int64_t value = term();
    for (;;) {
        skip_spaces();
        char op = input[pos];
        if (op != '+' && op != '-') return value;
        pos++;
        int64_t right = term();
        if (op == '+' ? __builtin_add_overflow(value, right, &value)
                      : __builtin_sub_overflow(value, right, &value))
            fail("integer overflow");
    }
}

int main(void) {
    size_t n = fread(input, 1, MAX_INPUT + 1, stdin);
    if (n > MAX_INPUT) {
        printf("Status: 413 Content Too Large\r\nContent-Type: text/plain\r\n\r\n"
               "expression longer than %d bytes\n", MAX_INPUT);
        return 0;
    }
    input[n] = '\0';
    if (strlen(input) != n) {
        printf("Status: 400 Bad Request\r\nContent-Type: text/plain\r\n\r\nNUL byte in the expression\n");
        return 0;
    }
    if (setjmp(on_error)) {
        printf("Status: 400 Bad Request\r\nContent-Type: text/plain\r\n\r\n%s at column %zu\n",
               error_message, error_column);
        return 0;
    }
    int64_t value = expression();
    skip_spaces();
    if (input[pos]) fail("unexpected character");
    printf("Content-Type: text/plain\r\n\r\n%lld\n", (long long)value);
    return 0;
}
