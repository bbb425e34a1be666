// CHECK macros: for programmer errors only (STYLE.md rule 6). Bad input from users or files
// must travel as a Status instead.
#pragma once

#include <cstdio>
#include <cstdlib>

#define SCULPT_CHECK(cond)                                                              \
  do {                                                                                  \
    if (!(cond)) {                                                                      \
      std::fprintf(stderr, "sculpt: internal error: %s:%d: CHECK(%s) failed\n", __FILE__, \
                   __LINE__, #cond);                                                    \
      std::abort();                                                                     \
    }                                                                                   \
  } while (0)
