// genplug host — where the running program lives (plugins are searched relative to it).
#pragma once
#include <filesystem>

namespace genplug::host {
std::filesystem::path program_directory();
}
