// GGUF v3 writer: metadata of every value type and tensors with their raw
// (already encoded) bytes, aligned as the spec requires. Used by convert,
// and by tests to build valid and deliberately broken files.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/status.h"
#include "gguf/gguf_file.h"

namespace lumen {

class GgufWriter {
public:
    void set_u32(const std::string& key, uint32_t v);
    void set_i32(const std::string& key, int32_t v);
    void set_u64(const std::string& key, uint64_t v);
    void set_f32(const std::string& key, float v);
    void set_bool(const std::string& key, bool v);
    void set_string(const std::string& key, const std::string& v);
    void set_string_array(const std::string& key, const std::vector<std::string>& v);
    void set_f32_array(const std::string& key, const std::vector<float>& v);
    void set_i32_array(const std::string& key, const std::vector<int32_t>& v);
    // Copies a value read from another file, keeping its type.
    void set_value(const std::string& key, const GgufValue& v);

    // dims in ggml order (dims[0] contiguous). `bytes` must match the type and shape.
    Status add_tensor(const std::string& name, const std::vector<int64_t>& dims, DType type, const void* data,
                      size_t n_bytes);

    std::vector<uint8_t> to_bytes() const;
    Status write(const std::string& path) const;
    uint64_t alignment() const { return alignment_; }

private:
    struct Entry {
        std::string key;
        std::vector<uint8_t> encoded;  // type + value, as in the file
    };
    struct Tensor {
        std::string name;
        std::vector<int64_t> dims;
        DType type;
        const void* data;
        size_t n_bytes;
    };
    void put(const std::string& key, std::vector<uint8_t> encoded);
    std::vector<Entry> entries_;
    std::vector<Tensor> tensors_;
    uint64_t alignment_ = 32;
};

}  // namespace lumen
