// Progress reporting for long loads. Libraries report (done, total) through a callback; only the
// command line decides whether and how to draw it.
#pragma once

#include <cstdint>
#include <functional>
#include <string_view>

namespace sculpt {

// Called with monotonically increasing `done` <= `total` for the named phase.
using ProgressFn = std::function<void(std::string_view phase, uint64_t done, uint64_t total)>;

}  // namespace sculpt
