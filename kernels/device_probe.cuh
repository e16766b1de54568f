// Host-side probe for a usable CUDA device. Never throws or aborts: with no
// driver or no GPU it reports why, so the engine can fall back to the CPU.
#pragma once

#include <string>

namespace lumen::cuda {

struct DeviceProbe {
    bool usable = false;
    int device_count = 0;
    std::string name;  // first device's name
    int compute_major = 0, compute_minor = 0;
    size_t total_memory = 0;
    std::string error;  // why no device is usable
};

DeviceProbe probe_devices();

}  // namespace lumen::cuda
