/* check — the tests' assertion macros. A failed EXPECT prints where and why and the test
 * program exits 1 at the end; REQUIRE stops the test at once. */
#ifndef USBPO_CHECK_H
#define USBPO_CHECK_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int check_failures;
static int check_count;

#define EXPECT(cond, ...)                                                                          \
  do {                                                                                             \
    check_count++;                                                                                 \
    if (!(cond)) {                                                                                 \
      check_failures++;                                                                            \
      fprintf(stderr, "%s:%d: FAILED %s: ", __FILE__, __LINE__, #cond);                            \
      fprintf(stderr, __VA_ARGS__);                                                                \
      fputc('\n', stderr);                                                                         \
    }                                                                                              \
  } while (0)

#define REQUIRE(cond, ...)                                                                         \
  do {                                                                                             \
    int ok_ = (cond) ? 1 : 0; /* evaluated once: conditions may have side effects */               \
    EXPECT(ok_, __VA_ARGS__);                                                                      \
    if (!ok_) exit(1);                                                                             \
  } while (0)

#define EXPECT_NEAR(a, b, tol, what)                                                               \
  do {                                                                                             \
    double ea_ = (double)(a), eb_ = (double)(b);                                                   \
    EXPECT(fabs(ea_ - eb_) <= (tol), "%s: %.12g vs %.12g (tol %g)", what, ea_, eb_,                \
           (double)(tol));                                                                         \
  } while (0)

#define RUN(fn)                                                                                    \
  do {                                                                                             \
    int before_ = check_failures;                                                                  \
    fn();                                                                                          \
    fprintf(stderr, "%-44s %s\n", #fn, check_failures == before_ ? "ok" : "FAILED");               \
  } while (0)

#define CHECK_DONE()                                                                               \
  do {                                                                                             \
    fprintf(stderr, "%d checks, %d failed\n", check_count, check_failures);                        \
    return check_failures ? 1 : 0;                                                                 \
  } while (0)

#endif
