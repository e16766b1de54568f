// GGUF v3 serialization. Tensor data offsets are aligned to general.alignment (32).
// The header is built in memory; tensor bytes go straight to the output as they come.
#include "gguf/gguf_writer.h"

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace lumen {

namespace {

template <typename T>
void append(std::vector<uint8_t>& out, const T& v) {
    // resize + memcpy rather than insert: GCC 12 warns (falsely) on insert into an empty vector.
    const size_t at = out.size();
    out.resize(at + sizeof(T));
    std::memcpy(out.data() + at, &v, sizeof(T));
}

void append_string(std::vector<uint8_t>& out, const std::string& s) {
    append(out, uint64_t(s.size()));
    out.insert(out.end(), s.begin(), s.end());
}

uint64_t aligned(uint64_t x, uint64_t alignment) {
    return (x + alignment - 1) / alignment * alignment;
}

std::vector<uint8_t> typed(GgufValueType t) {
    std::vector<uint8_t> out;
    append(out, uint32_t(t));
    return out;
}

}  // namespace

void GgufWriter::put(const std::string& key, std::vector<uint8_t> encoded) {
    for (auto& e : entries_)
        if (e.key == key) {
            e.encoded = std::move(encoded);
            return;
        }
    entries_.push_back({key, std::move(encoded)});
}

void GgufWriter::set_u32(const std::string& key, uint32_t v) {
    auto e = typed(GgufValueType::UINT32);
    append(e, v);
    put(key, e);
}
void GgufWriter::set_i32(const std::string& key, int32_t v) {
    auto e = typed(GgufValueType::INT32);
    append(e, v);
    put(key, e);
}
void GgufWriter::set_u64(const std::string& key, uint64_t v) {
    auto e = typed(GgufValueType::UINT64);
    append(e, v);
    put(key, e);
}
void GgufWriter::set_f32(const std::string& key, float v) {
    auto e = typed(GgufValueType::FLOAT32);
    append(e, v);
    put(key, e);
}
void GgufWriter::set_bool(const std::string& key, bool v) {
    auto e = typed(GgufValueType::BOOL);
    append(e, uint8_t(v));
    put(key, e);
}
void GgufWriter::set_string(const std::string& key, const std::string& v) {
    auto e = typed(GgufValueType::STRING);
    append_string(e, v);
    put(key, e);
}

void GgufWriter::set_string_array(const std::string& key, const std::vector<std::string>& v) {
    auto e = typed(GgufValueType::ARRAY);
    append(e, uint32_t(GgufValueType::STRING));
    append(e, uint64_t(v.size()));
    for (const auto& s : v) append_string(e, s);
    put(key, e);
}

void GgufWriter::set_f32_array(const std::string& key, const std::vector<float>& v) {
    auto e = typed(GgufValueType::ARRAY);
    append(e, uint32_t(GgufValueType::FLOAT32));
    append(e, uint64_t(v.size()));
    for (float f : v) append(e, f);
    put(key, e);
}

void GgufWriter::set_i32_array(const std::string& key, const std::vector<int32_t>& v) {
    auto e = typed(GgufValueType::ARRAY);
    append(e, uint32_t(GgufValueType::INT32));
    append(e, uint64_t(v.size()));
    for (int32_t i : v) append(e, i);
    put(key, e);
}

void GgufWriter::set_value(const std::string& key, const GgufValue& v) {
    auto scalar_bytes = [](std::vector<uint8_t>& e, GgufValueType t, double num, int64_t integer,
                           const std::string* s) {
        switch (t) {
            case GgufValueType::UINT8: append(e, uint8_t(integer)); break;
            case GgufValueType::INT8: append(e, int8_t(integer)); break;
            case GgufValueType::UINT16: append(e, uint16_t(integer)); break;
            case GgufValueType::INT16: append(e, int16_t(integer)); break;
            case GgufValueType::UINT32: append(e, uint32_t(integer)); break;
            case GgufValueType::INT32: append(e, int32_t(integer)); break;
            case GgufValueType::UINT64: append(e, uint64_t(integer)); break;
            case GgufValueType::INT64: append(e, int64_t(integer)); break;
            case GgufValueType::FLOAT32: append(e, float(num)); break;
            case GgufValueType::FLOAT64: append(e, num); break;
            case GgufValueType::BOOL: append(e, uint8_t(integer != 0)); break;
            case GgufValueType::STRING: append_string(e, *s); break;
            default: break;
        }
    };
    auto e = typed(v.type);
    if (v.type == GgufValueType::ARRAY) {
        append(e, uint32_t(v.array_type));
        append(e, uint64_t(v.array_size()));
        for (size_t i = 0; i < v.array_size(); ++i) {
            if (v.array_type == GgufValueType::STRING)
                scalar_bytes(e, v.array_type, 0, 0, &v.strings[i]);
            else
                scalar_bytes(e, v.array_type, v.numbers[i],
                             i < v.integers.size() ? v.integers[i] : int64_t(v.numbers[i]), nullptr);
        }
    } else {
        const std::string* s = std::get_if<std::string>(&v.scalar);
        scalar_bytes(e, v.type, v.as_double(), v.as_int(), s);
    }
    put(key, e);
}

Result<size_t> GgufWriter::checked_tensor_bytes(const std::string& name, const std::vector<int64_t>& dims,
                                                DType type) const {
    const auto& t = traits(type);
    int64_t n = 1;
    for (auto d : dims) {
        if (d <= 0) return Status::error("tensor '" + name + "': dimensions must be positive");
        n *= d;
    }
    if (dims.empty() || dims[0] % t.block_elements != 0)
        return Status::error("tensor '" + name + "': row length is not a multiple of the " + t.name + " block size");
    return size_t(n / t.block_elements) * size_t(t.block_bytes);
}

Status GgufWriter::add_tensor(const std::string& name, const std::vector<int64_t>& dims, DType type, const void* data,
                              size_t n_bytes) {
    auto expected = checked_tensor_bytes(name, dims, type);
    if (!expected) return expected.status();
    if (expected.value() != n_bytes)
        return Status::error("tensor '" + name + "': " + std::to_string(n_bytes) + " bytes given, expected " +
                             std::to_string(expected.value()));
    tensors_.push_back({name, dims, type, data, {}, n_bytes});
    return Status::ok();
}

Status GgufWriter::add_tensor_streamed(const std::string& name, const std::vector<int64_t>& dims, DType type,
                                       TensorProducer produce) {
    auto expected = checked_tensor_bytes(name, dims, type);
    if (!expected) return expected.status();
    tensors_.push_back({name, dims, type, nullptr, std::move(produce), expected.value()});
    return Status::ok();
}

std::vector<uint8_t> GgufWriter::header_bytes() const {
    std::vector<uint8_t> out;
    append(out, uint32_t(0x46554747));
    append(out, uint32_t(3));
    append(out, uint64_t(tensors_.size()));
    append(out, uint64_t(entries_.size()));
    for (const auto& e : entries_) {
        append_string(out, e.key);
        out.insert(out.end(), e.encoded.begin(), e.encoded.end());
    }
    uint64_t offset = 0;
    for (const auto& t : tensors_) {
        append_string(out, t.name);
        append(out, uint32_t(t.dims.size()));
        for (auto d : t.dims) append(out, uint64_t(d));
        append(out, uint32_t(t.type));
        append(out, offset);
        offset = aligned(offset + t.n_bytes, alignment_);
    }
    out.resize(size_t(aligned(out.size(), alignment_)), 0);
    return out;
}

Status GgufWriter::emit(const ByteSink& out) const {
    const std::vector<uint8_t> header = header_bytes();
    LUMEN_TRY(out(header.data(), header.size()));
    const std::vector<uint8_t> zeros(size_t(alignment_), 0);
    for (const auto& t : tensors_) {
        if (t.produce) {
            size_t produced = 0;
            LUMEN_TRY(t.produce([&](const void* data, size_t n) {
                produced += n;
                if (produced > t.n_bytes)
                    return Status::error("tensor '" + t.name + "': produced more than its " +
                                         std::to_string(t.n_bytes) + " bytes");
                return out(data, n);
            }));
            if (produced != t.n_bytes)
                return Status::error("tensor '" + t.name + "': produced " + std::to_string(produced) +
                                     " bytes, expected " + std::to_string(t.n_bytes));
        } else {
            LUMEN_TRY(out(t.data, t.n_bytes));
        }
        LUMEN_TRY(out(zeros.data(), size_t(aligned(t.n_bytes, alignment_) - t.n_bytes)));
    }
    return Status::ok();
}

std::vector<uint8_t> GgufWriter::to_bytes() const {
    std::vector<uint8_t> bytes;
    Status s = emit([&](const void* data, size_t n) {
        const auto* p = static_cast<const uint8_t*>(data);
        bytes.insert(bytes.end(), p, p + n);
        return Status::ok();
    });
    if (!s.is_ok()) bytes.clear();
    return bytes;
}

Status GgufWriter::write(const std::string& path) const {
    // Write to a temporary name and rename, so a failed write never leaves a partial file.
    const std::string tmp = path + ".partial";
    FILE* f = std::fopen(tmp.c_str(), "wb");
    if (!f) return Status::error(path + ": cannot create: " + std::strerror(errno));
    std::setvbuf(f, nullptr, _IOFBF, size_t(1) << 20);
    Status s = emit([&](const void* data, size_t n) {
        if (std::fwrite(data, 1, n, f) != n) return Status::error(path + ": write failed (disk full?)");
        return Status::ok();
    });
    if (std::fclose(f) != 0 && s.is_ok()) s = Status::error(path + ": write failed (disk full?)");
    if (!s.is_ok()) {
        std::remove(tmp.c_str());
        return s;
    }
    if (std::rename(tmp.c_str(), path.c_str()) != 0) {
        std::remove(tmp.c_str());
        return Status::error(path + ": cannot rename the finished file into place: " + std::strerror(errno));
    }
    return Status::ok();
}

}  // namespace lumen
