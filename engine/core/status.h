// Status and Result<T>: how every engine call reports failure.
// Library code never aborts on user input; it returns one of these, with a
// message that names what was wrong and what was expected (llama_decode's contract).
#pragma once

#include <optional>
#include <string>
#include <utility>

namespace lumen {

enum class StatusCode {
    ok,
    recoverable,  // the call did nothing harmful and may be retried (e.g. KV pool full)
    error,        // invalid input or state; the message says what and why
};

class [[nodiscard]] Status {
public:
    Status() = default;
    static Status ok() { return {}; }
    static Status error(std::string message) { return Status(StatusCode::error, std::move(message)); }
    static Status recoverable(std::string message) { return Status(StatusCode::recoverable, std::move(message)); }

    bool is_ok() const { return code_ == StatusCode::ok; }
    explicit operator bool() const { return is_ok(); }
    StatusCode code() const { return code_; }
    const std::string& message() const { return message_; }

    // Prefix the message with context ("file.gguf: " + message).
    Status with_context(const std::string& context) const {
        if (is_ok()) return *this;
        return Status(code_, context + ": " + message_);
    }

private:
    Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}
    StatusCode code_ = StatusCode::ok;
    std::string message_;
};

// A value or the Status explaining why there is none.
template <typename T>
class [[nodiscard]] Result {
public:
    Result(T value) : value_(std::move(value)) {}
    Result(Status status) : status_(std::move(status)) {}

    bool is_ok() const { return value_.has_value(); }
    explicit operator bool() const { return is_ok(); }
    const Status& status() const { return status_; }
    T& value() & { return *value_; }
    const T& value() const& { return *value_; }
    T&& value() && { return std::move(*value_); }
    T* operator->() { return &*value_; }
    const T* operator->() const { return &*value_; }
    T& operator*() { return *value_; }

private:
    std::optional<T> value_;
    Status status_;
};

}  // namespace lumen

// Early-return helpers for Status-returning code.
#define LUMEN_TRY(expr)                                           \
    do {                                                          \
        ::lumen::Status lumen_try_status_ = (expr);               \
        if (!lumen_try_status_.is_ok()) return lumen_try_status_; \
    } while (0)
