/*
 * {{name}}: a function module (a WASI reactor): no _start; the host calls its
 * exports directly with typed numbers (i32, i64, f32, f64).
 */
#include <stdint.h>

#define EXPORT(name) __attribute__((export_name(name)))

EXPORT("add") int32_t add(int32_t a, int32_t b) {
    return (int32_t)((uint32_t)a + (uint32_t)b);
}

EXPORT("fib") int64_t fib(int64_t n) {
    uint64_t a = 0, b = 1;
    for (int64_t i = 0; i < n; i++) {
        uint64_t t = a + b;
        a = b;
        b = t;
    }
    return (int64_t)a;
}

EXPORT("average") double average(double x, double y) {
    return (x + y) / 2;
}
