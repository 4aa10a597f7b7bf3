// Small file helpers with the permissions Parley's secrets need.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include "common/result.h"

namespace parley {

Result<std::string> ReadFile(const std::filesystem::path& path);

// Writes via a temporary file + fsync + rename, so readers never see a torn
// file. `mode` is applied before any byte is written (0600 for secrets).
Status WriteFileAtomic(const std::filesystem::path& path, std::string_view content, unsigned mode = 0644);

// Refuses a secret file that group or others can read (or that is missing).
Status CheckPrivateFile(const std::filesystem::path& path);

}  // namespace parley
