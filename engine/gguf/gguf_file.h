// GGUF v2/v3 reader: memory-maps a file, parses and validates the header,
// every metadata key/value and every tensor descriptor before anything is used.
// Any byte sequence yields either a valid GgufFile or one error that names the
// file, the field or tensor, and expected vs found.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "core/dtype.h"
#include "core/status.h"

namespace lumen {

enum class GgufValueType : uint32_t {
    UINT8 = 0,
    INT8 = 1,
    UINT16 = 2,
    INT16 = 3,
    UINT32 = 4,
    INT32 = 5,
    FLOAT32 = 6,
    BOOL = 7,
    STRING = 8,
    ARRAY = 9,
    UINT64 = 10,
    INT64 = 11,
    FLOAT64 = 12,
};
const char* gguf_type_name(GgufValueType type);

// One metadata value. Arrays keep their element type and hold scalars or strings.
struct GgufValue {
    GgufValueType type = GgufValueType::UINT8;
    GgufValueType array_type = GgufValueType::UINT8;  // element type when type == ARRAY
    std::variant<uint64_t, int64_t, double, bool, std::string> scalar;
    std::vector<std::string> strings;  // ARRAY of STRING
    std::vector<double> numbers;       // ARRAY of numbers/bools (exact for |x| < 2^53)
    std::vector<int64_t> integers;     // ARRAY of integer types, exact

    bool is_integer() const;
    bool is_float() const { return type == GgufValueType::FLOAT32 || type == GgufValueType::FLOAT64; }
    int64_t as_int() const;    // integer or bool scalars
    double as_double() const;  // any numeric scalar
    size_t array_size() const;
    std::string to_display_string(size_t max_items = 8) const;
};

struct GgufTensorInfo {
    std::string name;
    std::vector<int64_t> dims;  // ggml order: dims[0] is the contiguous (row) length
    DType type = DType::F32;
    uint64_t offset = 0;  // relative to the start of the data section
    uint64_t n_bytes = 0;
    const uint8_t* data = nullptr;  // inside the mapping

    int64_t n_elements() const;
    std::string shape_string() const;  // "[576, 49152]"
};

// Read-only view of a mapped file (or of an owned buffer, for tests).
class MappedFile {
public:
    static Result<std::shared_ptr<MappedFile>> open(const std::string& path);
    static std::shared_ptr<MappedFile> from_bytes(std::vector<uint8_t> bytes);
    ~MappedFile();
    MappedFile(const MappedFile&) = delete;
    MappedFile& operator=(const MappedFile&) = delete;
    const uint8_t* data() const { return data_; }
    uint64_t size() const { return size_; }

private:
    MappedFile() = default;
    const uint8_t* data_ = nullptr;
    uint64_t size_ = 0;
    void* mapping_ = nullptr;
    std::vector<uint8_t> owned_;
};

class GgufFile {
public:
    static Result<GgufFile> open(const std::string& path);
    // Parse bytes already in memory; `name` appears in error messages.
    static Result<GgufFile> parse(std::shared_ptr<MappedFile> file, const std::string& name);

    const std::string& path() const { return path_; }
    uint32_t version() const { return version_; }
    uint64_t alignment() const { return alignment_; }
    uint64_t file_size() const { return file_->size(); }

    const std::map<std::string, GgufValue>& metadata() const { return metadata_; }
    const std::vector<std::string>& metadata_order() const { return metadata_order_; }
    const GgufValue* find(const std::string& key) const;
    const std::vector<GgufTensorInfo>& tensors() const { return tensors_; }
    const GgufTensorInfo* find_tensor(const std::string& name) const;

    // Typed getters: error if present with the wrong type; fallback if absent.
    Result<std::string> get_string(const std::string& key) const;
    Result<int64_t> get_int(const std::string& key) const;
    int64_t get_int_or(const std::string& key, int64_t fallback) const;
    double get_float_or(const std::string& key, double fallback) const;
    bool get_bool_or(const std::string& key, bool fallback) const;
    std::string get_string_or(const std::string& key, const std::string& fallback) const;

private:
    std::shared_ptr<MappedFile> file_;
    std::string path_;
    uint32_t version_ = 0;
    uint64_t alignment_ = 32;
    std::map<std::string, GgufValue> metadata_;
    std::vector<std::string> metadata_order_;
    std::vector<GgufTensorInfo> tensors_;
    std::map<std::string, size_t> tensor_index_;
};

}  // namespace lumen
