// The host tests' check macro: counts failures, prints the first 20 with a printf-style note.
#pragma once

#include <cstdio>

namespace convkernels {
namespace host_test {

inline int g_failures = 0;

}  // namespace host_test
}  // namespace convkernels

#define EXPECT(cond, ...)                                                                        \
  do {                                                                                           \
    if (!(cond)) {                                                                               \
      if (++::convkernels::host_test::g_failures <= 20) {                                        \
        std::printf("%s:%d: EXPECT(%s) failed: ", __FILE__, __LINE__, #cond);                    \
        std::printf(__VA_ARGS__);                                                                \
        std::printf("\n");                                                                       \
      }                                                                                          \
    }                                                                                            \
  } while (0)
