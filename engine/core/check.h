// Internal invariant checks. These guard the engine's own logic, never user
// input: a failed CHECK is a Lumen bug. It throws lumen::InternalError with
// file:line so that the caller (CLI, GUI worker) can report it instead of dying.
#pragma once

#include <stdexcept>
#include <string>

namespace lumen {

struct InternalError : std::logic_error {
    using std::logic_error::logic_error;
};

}  // namespace lumen

#define LUMEN_CHECK(cond)                                                                         \
    do {                                                                                          \
        if (!(cond))                                                                              \
            throw ::lumen::InternalError(std::string(__FILE__) + ":" + std::to_string(__LINE__) + \
                                         ": check failed: " #cond);                               \
    } while (0)
