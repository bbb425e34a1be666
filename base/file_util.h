// Whole-file helpers. Writes go to a temporary file in the same folder and are renamed into place,
// so a failed command never leaves a half-written output.
#pragma once

#include <span>
#include <string>
#include <vector>

#include "base/status.h"

namespace sculpt {

StatusOr<std::string> ReadFile(const std::string& path);

// Writes each (path, bytes) pair to a temporary sibling; only when every write succeeded are they
// all renamed into place. On error nothing is left behind.
Status WriteFilesAtomically(const std::vector<std::pair<std::string, std::span<const char>>>& files);

}  // namespace sculpt
