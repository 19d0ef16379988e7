/*
 * mathfn: a function-mode (reactor) module. No _start: the host instantiates
 * it, calls the exported `_initialize` once (wasi-libc reactor convention),
 * then calls the exports below directly with typed numeric arguments.
 *
 *   fib(i64) -> i64              n-th Fibonacci number, iterative; fib(n<=0) = 0;
 *                                wraps modulo 2^64 past fib(92)
 *   add(i32, i32) -> i32         a + b, wrapping modulo 2^32
 *   divmod(i32, i32) -> (i32, i32)  (a / b, a % b), truncating like C; a true
 *                                multi-value result. Traps when b == 0
 *                                ("integer divide by zero") and on
 *                                INT32_MIN / -1 ("integer overflow").
 *   hypot(f64, f64) -> f64       sqrt(x*x + y*y) without undue overflow
 *   scale(f32) -> f32            x * 2.5
 *
 * Built with clang's experimental multi-value ABI so that a returned struct
 * of two i32 becomes a (result i32 i32) instead of a pointer out-parameter.
 */
#include <math.h>
#include <stdint.h>

#define EXPORT(name) __attribute__((export_name(name)))

EXPORT("fib") int64_t wg_fib(int64_t n) {
    uint64_t a = 0, b = 1;
    for (int64_t i = 0; i < n; i++) {
        uint64_t t = a + b;
        a = b;
        b = t;
    }
    return (int64_t)a;
}

EXPORT("add") int32_t wg_add(int32_t a, int32_t b) {
    return (int32_t)((uint32_t)a + (uint32_t)b);
}

typedef struct {
    int32_t quot;
    int32_t rem;
} divmod_result;

EXPORT("divmod") divmod_result wg_divmod(int32_t a, int32_t b) {
    divmod_result r = {a / b, a % b};
    return r;
}

EXPORT("hypot") double wg_hypot(double x, double y) {
    return hypot(x, y);
}

EXPORT("scale") float wg_scale(float x) {
    return x * 2.5f;
}
