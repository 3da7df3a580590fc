/* INCRBYFLOAT and HINCRBYFLOAT arithmetic as Redis 7.0 does it (util.c: string2ld and
 * ld2string in LD_STR_HUMAN mode): the operands are read with strtold, added in C's long double
 * and printed with "%.17Lf", trailing zeros removed. Rust has no long double, and Redis's replies
 * depend on its precision (5000 + 1.1 is "5001.10000000000000009" on x86-64), so the platform's
 * C library does the work and Rust holds the values as opaque bytes (`util::num`). */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

_Static_assert(sizeof(long double) <= 16, "long double must fit the 16 bytes Rust reserves");

/* Redis's MAX_LONG_DOUBLE_CHARS: longer operands are not floats, and every finite result fits. */
#define MAX_LONG_DOUBLE_CHARS (5 * 1024)

/* string2ld: 1 and *out set if s[0..len) is a whole long double (no leading space, no trailing
 * bytes, no NaN, no overflow, no underflow to zero); 0 otherwise. */
int eddy_ld_parse(const char *s, size_t len, long double *out) {
    char buf[MAX_LONG_DOUBLE_CHARS];
    char *end;
    long double v;
    if (len == 0 || len >= sizeof(buf)) return 0;
    memcpy(buf, s, len);
    buf[len] = '\0';
    errno = 0;
    v = strtold(buf, &end);
    if (isspace((unsigned char)buf[0]) || end[0] != '\0' || (size_t)(end - buf) != len ||
        (errno == ERANGE && (v == HUGE_VALL || v == -HUGE_VALL || fpclassify(v) == FP_ZERO)) ||
        errno == EINVAL || isnan(v))
        return 0;
    *out = v;
    return 1;
}

int eddy_ld_is_finite(const long double *v) {
    return isfinite(*v);
}

/* *a + *b printed as Redis prints it into out (at least MAX_LONG_DOUBLE_CHARS bytes); returns the
 * length, or -1 when the sum is NaN or infinite. */
long eddy_ld_add_text(const long double *a, const long double *b, char *out, size_t cap) {
    long double v = *a + *b;
    int l;
    if (isnan(v) || isinf(v)) return -1;
    l = snprintf(out, cap, "%.17Lf", v);
    if (l < 0 || (size_t)l + 1 > cap) return 0;
    if (strchr(out, '.') != NULL) {
        char *p = out + l - 1;
        while (*p == '0') {
            p--;
            l--;
        }
        if (*p == '.') l--;
    }
    if (l == 2 && out[0] == '-' && out[1] == '0') {
        out[0] = '0';
        l = 1;
    }
    return l;
}
