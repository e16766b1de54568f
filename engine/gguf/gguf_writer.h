// GGUF v3 writer: metadata of every value type and tensors with their raw
// (already encoded) bytes, aligned as the spec requires. Tensor bytes are either
// given up front or produced at write time by a callback, so that quantize and
// synth can write files far larger than memory. Used by convert, quantize, synth,
// and by tests to build valid and deliberately broken files.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/status.h"
#include "gguf/gguf_file.h"

namespace lumen {

// Receives a run of bytes; an error status stops the write.
using ByteSink = std::function<Status(const void* data, size_t n_bytes)>;
// Hands a tensor's bytes to the sink, in order, in as many pieces as it likes.
using TensorProducer = std::function<Status(const ByteSink& sink)>;

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
    // A tensor whose bytes `produce` hands over while the file is written; it must hand
    // exactly the bytes the type and shape call for, or the write fails.
    Status add_tensor_streamed(const std::string& name, const std::vector<int64_t>& dims, DType type,
                               TensorProducer produce);

    // The whole file in memory (tests); empty if a tensor producer fails.
    std::vector<uint8_t> to_bytes() const;
    // Streams the file to `path` (through a temporary name, renamed when complete).
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
        const void* data;        // bytes given up front, or
        TensorProducer produce;  // bytes produced at write time
        size_t n_bytes;
    };
    void put(const std::string& key, std::vector<uint8_t> encoded);
    Result<size_t> checked_tensor_bytes(const std::string& name, const std::vector<int64_t>& dims, DType type) const;
    std::vector<uint8_t> header_bytes() const;  // everything before the first tensor's data, padded
    Status emit(const ByteSink& out) const;
    std::vector<Entry> entries_;
    std::vector<Tensor> tensors_;
    uint64_t alignment_ = 32;
};

}  // namespace lumen
