// GGUF parsing and validation. Every read goes through a bounds-checked
// cursor, so truncation or absurd counts at any byte become a clean error.
#include "gguf/gguf_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <sstream>

namespace lumen {

namespace {

constexpr uint32_t kGgufMagic = 0x46554747;  // "GGUF" little-endian
constexpr int kMaxDims = 4;

// ------------------------------------------------------------------ bounds-checked cursor

class Cursor {
public:
    Cursor(const uint8_t* data, uint64_t size) : data_(data), size_(size) {}
    uint64_t pos() const { return pos_; }
    uint64_t remaining() const { return size_ - pos_; }

    template <typename T>
    bool read(T* out) {
        if (remaining() < sizeof(T)) return false;
        std::memcpy(out, data_ + pos_, sizeof(T));
        pos_ += sizeof(T);
        return true;
    }
    bool read_string(std::string* out) {
        uint64_t len;
        if (!read(&len) || len > remaining()) return false;
        out->assign(reinterpret_cast<const char*>(data_ + pos_), size_t(len));
        pos_ += len;
        return true;
    }

private:
    const uint8_t* data_;
    uint64_t size_;
    uint64_t pos_ = 0;
};

int scalar_size(GgufValueType t) {
    switch (t) {
        case GgufValueType::UINT8:
        case GgufValueType::INT8:
        case GgufValueType::BOOL: return 1;
        case GgufValueType::UINT16:
        case GgufValueType::INT16: return 2;
        case GgufValueType::UINT32:
        case GgufValueType::INT32:
        case GgufValueType::FLOAT32: return 4;
        case GgufValueType::UINT64:
        case GgufValueType::INT64:
        case GgufValueType::FLOAT64: return 8;
        case GgufValueType::STRING: return 8;  // at least its length prefix
        default: return 0;
    }
}

bool valid_value_type(uint32_t t) {
    return t <= uint32_t(GgufValueType::FLOAT64);
}

// Reads one scalar of `type` into a variant-friendly form.
template <typename T>
bool read_as(Cursor& c, T* v) {
    return c.read(v);
}

bool read_scalar(Cursor& c, GgufValueType type, GgufValue* v) {
    switch (type) {
        case GgufValueType::UINT8: {
            uint8_t x;
            if (!c.read(&x)) return false;
            v->scalar = uint64_t(x);
            return true;
        }
        case GgufValueType::INT8: {
            int8_t x;
            if (!c.read(&x)) return false;
            v->scalar = int64_t(x);
            return true;
        }
        case GgufValueType::UINT16: {
            uint16_t x;
            if (!c.read(&x)) return false;
            v->scalar = uint64_t(x);
            return true;
        }
        case GgufValueType::INT16: {
            int16_t x;
            if (!c.read(&x)) return false;
            v->scalar = int64_t(x);
            return true;
        }
        case GgufValueType::UINT32: {
            uint32_t x;
            if (!c.read(&x)) return false;
            v->scalar = uint64_t(x);
            return true;
        }
        case GgufValueType::INT32: {
            int32_t x;
            if (!c.read(&x)) return false;
            v->scalar = int64_t(x);
            return true;
        }
        case GgufValueType::UINT64: {
            uint64_t x;
            if (!c.read(&x)) return false;
            v->scalar = x;
            return true;
        }
        case GgufValueType::INT64: {
            int64_t x;
            if (!c.read(&x)) return false;
            v->scalar = x;
            return true;
        }
        case GgufValueType::FLOAT32: {
            float x;
            if (!c.read(&x)) return false;
            v->scalar = double(x);
            return true;
        }
        case GgufValueType::FLOAT64: {
            double x;
            if (!c.read(&x)) return false;
            v->scalar = x;
            return true;
        }
        case GgufValueType::BOOL: {
            uint8_t x;
            if (!c.read(&x)) return false;
            v->scalar = x != 0;
            return true;
        }
        case GgufValueType::STRING: {
            std::string s;
            if (!c.read_string(&s)) return false;
            v->scalar = std::move(s);
            return true;
        }
        default: return false;
    }
}

std::string fmt_u64(uint64_t v) {
    return std::to_string(v);
}

}  // namespace

// ------------------------------------------------------------------ values

const char* gguf_type_name(GgufValueType type) {
    static const char* names[] = {"uint8", "int8",   "uint16", "int16",  "uint32", "int32",  "float32",
                                  "bool",  "string", "array",  "uint64", "int64",  "float64"};
    const auto i = uint32_t(type);
    return i < 13 ? names[i] : "unknown";
}

bool GgufValue::is_integer() const {
    switch (type) {
        case GgufValueType::UINT8:
        case GgufValueType::INT8:
        case GgufValueType::UINT16:
        case GgufValueType::INT16:
        case GgufValueType::UINT32:
        case GgufValueType::INT32:
        case GgufValueType::UINT64:
        case GgufValueType::INT64: return true;
        default: return false;
    }
}

int64_t GgufValue::as_int() const {
    if (auto* u = std::get_if<uint64_t>(&scalar)) return int64_t(*u);
    if (auto* i = std::get_if<int64_t>(&scalar)) return *i;
    if (auto* b = std::get_if<bool>(&scalar)) return *b ? 1 : 0;
    if (auto* d = std::get_if<double>(&scalar)) return int64_t(*d);
    return 0;
}

double GgufValue::as_double() const {
    if (auto* d = std::get_if<double>(&scalar)) return *d;
    return double(as_int());
}

size_t GgufValue::array_size() const {
    if (type != GgufValueType::ARRAY) return 0;
    return array_type == GgufValueType::STRING ? strings.size() : numbers.size();
}

std::string GgufValue::to_display_string(size_t max_items) const {
    std::ostringstream os;
    if (type == GgufValueType::ARRAY) {
        os << "[" << gguf_type_name(array_type) << " x " << array_size() << "] [";
        const size_t n = std::min(max_items, array_size());
        for (size_t i = 0; i < n; ++i) {
            if (i) os << ", ";
            if (array_type == GgufValueType::STRING)
                os << '"' << strings[i] << '"';
            else if (!integers.empty())
                os << integers[i];
            else
                os << numbers[i];
        }
        if (array_size() > n) os << ", ...";
        os << "]";
    } else if (auto* s = std::get_if<std::string>(&scalar)) {
        os << *s;
    } else if (auto* b = std::get_if<bool>(&scalar)) {
        os << (*b ? "true" : "false");
    } else if (is_float()) {
        os << as_double();
    } else {
        os << as_int();
    }
    return os.str();
}

int64_t GgufTensorInfo::n_elements() const {
    int64_t n = 1;
    for (auto d : dims) n *= d;
    return n;
}

std::string GgufTensorInfo::shape_string() const {
    std::string s = "[";
    for (size_t i = 0; i < dims.size(); ++i) s += (i ? ", " : "") + std::to_string(dims[i]);
    return s + "]";
}

// ------------------------------------------------------------------ file mapping

Result<std::shared_ptr<MappedFile>> MappedFile::open(const std::string& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return Status::error(path + ": cannot open: " + std::strerror(errno));
    struct stat st {};
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        ::close(fd);
        return Status::error(path + ": not a regular file");
    }
    auto file = std::shared_ptr<MappedFile>(new MappedFile());
    file->size_ = uint64_t(st.st_size);
    if (file->size_ > 0) {
        void* p = mmap(nullptr, file->size_, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            ::close(fd);
            return Status::error(path + ": mmap failed: " + std::strerror(errno));
        }
        file->mapping_ = p;
        file->data_ = static_cast<const uint8_t*>(p);
    }
    ::close(fd);
    return file;
}

std::shared_ptr<MappedFile> MappedFile::from_bytes(std::vector<uint8_t> bytes) {
    auto file = std::shared_ptr<MappedFile>(new MappedFile());
    file->owned_ = std::move(bytes);
    file->data_ = file->owned_.data();
    file->size_ = file->owned_.size();
    return file;
}

MappedFile::~MappedFile() {
    if (mapping_) munmap(mapping_, size_);
}

// ------------------------------------------------------------------ parsing

Result<GgufFile> GgufFile::open(const std::string& path) {
    auto file = MappedFile::open(path);
    if (!file) return file.status();
    return parse(std::move(file.value()), path);
}

Result<GgufFile> GgufFile::parse(std::shared_ptr<MappedFile> file, const std::string& name) {
    GgufFile g;
    g.file_ = file;
    g.path_ = name;
    Cursor c(file->data(), file->size());
    auto fail = [&](const std::string& msg) { return Status::error(name + ": " + msg); };
    auto truncated = [&](const std::string& what) {
        return fail("file truncated while reading " + what + " at byte " + fmt_u64(c.pos()) + " (file is " +
                    fmt_u64(file->size()) + " bytes)");
    };

    uint32_t magic;
    if (!c.read(&magic)) return truncated("the magic number");
    if (magic != kGgufMagic) {
        std::ostringstream os;
        os << "not a GGUF file: magic is 0x" << std::hex << magic << ", expected 0x46554747 (\"GGUF\")";
        return fail(os.str());
    }
    if (!c.read(&g.version_)) return truncated("the version");
    if (g.version_ != 2 && g.version_ != 3)
        return fail("unsupported GGUF version " + std::to_string(g.version_) + ", expected 2 or 3");
    uint64_t n_tensors, n_kv;
    if (!c.read(&n_tensors)) return truncated("the tensor count");
    if (!c.read(&n_kv)) return truncated("the metadata count");
    // Each tensor descriptor takes at least 8+4+8+4+8 bytes and each key/value 8+4+1.
    if (n_tensors > c.remaining() / 32)
        return fail("tensor count " + fmt_u64(n_tensors) + " cannot fit in the " + fmt_u64(c.remaining()) +
                    " remaining bytes");
    if (n_kv > c.remaining() / 13)
        return fail("metadata count " + fmt_u64(n_kv) + " cannot fit in the " + fmt_u64(c.remaining()) +
                    " remaining bytes");

    for (uint64_t i = 0; i < n_kv; ++i) {
        const std::string where = "metadata entry " + fmt_u64(i);
        std::string key;
        if (!c.read_string(&key)) return truncated(where + " key");
        uint32_t type_raw;
        if (!c.read(&type_raw)) return truncated("the type of metadata '" + key + "'");
        if (!valid_value_type(type_raw))
            return fail("metadata '" + key + "' has value type " + std::to_string(type_raw) + ", expected 0..12");
        GgufValue v;
        v.type = GgufValueType(type_raw);
        if (v.type == GgufValueType::ARRAY) {
            uint32_t elem_raw;
            uint64_t count;
            if (!c.read(&elem_raw) || !c.read(&count)) return truncated("array header of '" + key + "'");
            if (!valid_value_type(elem_raw) || elem_raw == uint32_t(GgufValueType::ARRAY))
                return fail("metadata array '" + key + "' has element type " + std::to_string(elem_raw) +
                            ", expected a scalar or string type (0..8, 10..12)");
            v.array_type = GgufValueType(elem_raw);
            const int min_size = scalar_size(v.array_type);
            if (count > c.remaining() / uint64_t(min_size))
                return fail("metadata array '" + key + "' claims " + fmt_u64(count) +
                            " elements, more than the remaining " + fmt_u64(c.remaining()) + " bytes hold");
            if (v.array_type == GgufValueType::STRING)
                v.strings.reserve(size_t(count));
            else
                v.numbers.reserve(size_t(count));
            for (uint64_t k = 0; k < count; ++k) {
                GgufValue item;
                item.type = v.array_type;
                if (!read_scalar(c, v.array_type, &item))
                    return truncated("element " + fmt_u64(k) + " of array '" + key + "'");
                if (v.array_type == GgufValueType::STRING) {
                    v.strings.push_back(std::move(std::get<std::string>(item.scalar)));
                } else {
                    v.numbers.push_back(item.as_double());
                    if (item.is_integer() || item.type == GgufValueType::BOOL) v.integers.push_back(item.as_int());
                }
            }
        } else if (!read_scalar(c, v.type, &v)) {
            return truncated("the value of metadata '" + key + "'");
        }
        if (g.metadata_.count(key)) return fail("metadata key '" + key + "' appears twice");
        g.metadata_order_.push_back(key);
        g.metadata_.emplace(key, std::move(v));
    }

    if (const GgufValue* a = g.find("general.alignment")) {
        if (!a->is_integer()) return fail("general.alignment must be an integer");
        const int64_t al = a->as_int();
        if (al <= 0 || al > 65536 || (al & (al - 1)) != 0)
            return fail("general.alignment is " + std::to_string(al) + ", expected a power of two in 1..65536");
        g.alignment_ = uint64_t(al);
    }

    g.tensors_.reserve(size_t(n_tensors));
    for (uint64_t i = 0; i < n_tensors; ++i) {
        GgufTensorInfo t;
        if (!c.read_string(&t.name)) return truncated("the name of tensor " + fmt_u64(i));
        const std::string tn = "tensor '" + t.name + "'";
        uint32_t n_dims;
        if (!c.read(&n_dims)) return truncated("the dimension count of " + tn);
        if (n_dims == 0 || n_dims > kMaxDims)
            return fail(tn + " has " + std::to_string(n_dims) + " dimensions, expected 1.." + std::to_string(kMaxDims));
        int64_t n_elem = 1;
        for (uint32_t d = 0; d < n_dims; ++d) {
            uint64_t dim;
            if (!c.read(&dim)) return truncated("the dimensions of " + tn);
            if (dim == 0 || dim > (uint64_t(1) << 40))
                return fail(tn + " dimension " + std::to_string(d) + " is " + fmt_u64(dim) + ", expected 1..2^40");
            if (n_elem > (int64_t(1) << 50) / int64_t(dim))
                return fail(tn + " has too many elements (shape overflows)");
            n_elem *= int64_t(dim);
            t.dims.push_back(int64_t(dim));
        }
        uint32_t type_raw;
        if (!c.read(&type_raw)) return truncated("the type of " + tn);
        auto tt = dtype_traits(type_raw);
        if (!tt)
            return fail(tn + " has ggml type " + std::to_string(type_raw) + ", which Lumen does not read (expected " +
                        gguf_type_names() + ")");
        t.type = tt->type;
        if (t.dims[0] % tt->block_elements != 0)
            return fail(tn + " row length " + std::to_string(t.dims[0]) + " is not a multiple of the " + tt->name +
                        " block size " + std::to_string(tt->block_elements));
        if (!c.read(&t.offset)) return truncated("the data offset of " + tn);
        if (t.offset % g.alignment_ != 0)
            return fail(tn + " offset " + fmt_u64(t.offset) + " is not a multiple of the alignment " +
                        fmt_u64(g.alignment_));
        t.n_bytes = uint64_t(n_elem / tt->block_elements) * uint64_t(tt->block_bytes);
        if (g.tensor_index_.count(t.name)) return fail(tn + " appears twice");
        g.tensor_index_[t.name] = g.tensors_.size();
        g.tensors_.push_back(std::move(t));
    }

    const uint64_t data_start = (c.pos() + g.alignment_ - 1) / g.alignment_ * g.alignment_;
    if (!g.tensors_.empty() && data_start > file->size()) return truncated("the padding before the tensor data");
    const uint64_t data_size = file->size() - std::min(data_start, file->size());
    for (auto& t : g.tensors_) {
        if (t.offset > data_size || t.n_bytes > data_size - t.offset)
            return fail("tensor '" + t.name + "' " + t.shape_string() + " " + dtype_name(t.type) + " needs " +
                        fmt_u64(t.n_bytes) + " bytes at offset " + fmt_u64(t.offset) +
                        " of the data section, but the file holds only " + fmt_u64(data_size) + " data bytes");
        t.data = file->data() + data_start + t.offset;
    }
    // Tensors must not overlap: sort by offset and compare neighbours.
    std::vector<const GgufTensorInfo*> by_offset;
    for (const auto& t : g.tensors_) by_offset.push_back(&t);
    std::sort(by_offset.begin(), by_offset.end(), [](auto* a, auto* b) { return a->offset < b->offset; });
    for (size_t i = 1; i < by_offset.size(); ++i) {
        const auto* prev = by_offset[i - 1];
        if (prev->offset + prev->n_bytes > by_offset[i]->offset)
            return fail("tensors '" + prev->name + "' and '" + by_offset[i]->name + "' overlap (bytes " +
                        fmt_u64(prev->offset) + ".." + fmt_u64(prev->offset + prev->n_bytes) + " and from " +
                        fmt_u64(by_offset[i]->offset) + ")");
    }
    return g;
}

// ------------------------------------------------------------------ lookups

const GgufValue* GgufFile::find(const std::string& key) const {
    auto it = metadata_.find(key);
    return it == metadata_.end() ? nullptr : &it->second;
}

const GgufTensorInfo* GgufFile::find_tensor(const std::string& name) const {
    auto it = tensor_index_.find(name);
    return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

Result<std::string> GgufFile::get_string(const std::string& key) const {
    const GgufValue* v = find(key);
    if (!v) return Status::error(path_ + ": metadata '" + key + "' is missing, expected a string");
    if (v->type != GgufValueType::STRING)
        return Status::error(path_ + ": metadata '" + key + "' is " + gguf_type_name(v->type) + ", expected string");
    return std::get<std::string>(v->scalar);
}

Result<int64_t> GgufFile::get_int(const std::string& key) const {
    const GgufValue* v = find(key);
    if (!v) return Status::error(path_ + ": metadata '" + key + "' is missing, expected an integer");
    if (!v->is_integer())
        return Status::error(path_ + ": metadata '" + key + "' is " + gguf_type_name(v->type) +
                             ", expected an integer");
    return v->as_int();
}

int64_t GgufFile::get_int_or(const std::string& key, int64_t fallback) const {
    const GgufValue* v = find(key);
    return v && (v->is_integer() || v->type == GgufValueType::BOOL) ? v->as_int() : fallback;
}

double GgufFile::get_float_or(const std::string& key, double fallback) const {
    const GgufValue* v = find(key);
    return v && (v->is_float() || v->is_integer()) ? v->as_double() : fallback;
}

bool GgufFile::get_bool_or(const std::string& key, bool fallback) const {
    const GgufValue* v = find(key);
    return v && v->type == GgufValueType::BOOL ? std::get<bool>(v->scalar) : fallback;
}

std::string GgufFile::get_string_or(const std::string& key, const std::string& fallback) const {
    const GgufValue* v = find(key);
    return v && v->type == GgufValueType::STRING ? std::get<std::string>(v->scalar) : fallback;
}

}  // namespace lumen
