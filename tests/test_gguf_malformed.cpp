// Malformed-file tests for the loaders. The tests build their own corpus: a
// valid tiny llama GGUF (GgufWriter), hand-assembled GGUF headers with one field
// wrong, truncations at every header byte, random mutations, and broken llama2.c
// checkpoints and tokenizer.bin files. Every case must end in one clean error
// that names the file and the field or tensor (with expected vs found), never in
// a crash or an abort; run under AddressSanitizer this also proves no byte
// outside the file is read.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "gguf/gguf_file.h"
#include "gguf/gguf_writer.h"
#include "model/model.h"
#include "test_support.h"

namespace {

using namespace lumen;
using Bytes = std::vector<uint8_t>;

// ---------------------------------------------------------------------------
// Helpers: temp files and error checks
// ---------------------------------------------------------------------------

class TempDir {
public:
    TempDir() {
        char tmpl[] = "/tmp/lumen-malformed-XXXXXX";
        const char* dir = mkdtemp(tmpl);
        path_ = dir ? dir : "/tmp";
    }
    ~TempDir() {
        std::error_code ec;
        if (path_ != "/tmp") std::filesystem::remove_all(path_, ec);
    }
    std::string file(const std::string& name) const { return path_ + "/" + name; }

private:
    std::string path_;
};

void write_bytes(const std::string& path, const Bytes& bytes) {
    FILE* f = std::fopen(path.c_str(), "wb");
    ASSERT_NE(f, nullptr) << path;
    if (!bytes.empty()) ASSERT_EQ(std::fwrite(bytes.data(), 1, bytes.size(), f), bytes.size());
    std::fclose(f);
}

// One error, prefixed with the file's name, mentioning every fragment.
void expect_clean_error(const Status& st, const std::string& file, const std::vector<std::string>& fragments = {}) {
    ASSERT_FALSE(st.is_ok()) << file << ": expected an error";
    const std::string& msg = st.message();
    if (std::getenv("LUMEN_TEST_VERBOSE")) std::printf("  error: %s\n", msg.c_str());  // to review the wording
    EXPECT_EQ(msg.rfind(file + ": ", 0), 0u) << "message does not start with the file name: " << msg;
    for (const auto& f : fragments) EXPECT_NE(msg.find(f), std::string::npos) << "'" << f << "' not in: " << msg;
}

Result<GgufFile> parse_bytes(Bytes bytes, const std::string& name) {
    return GgufFile::parse(MappedFile::from_bytes(std::move(bytes)), name);
}

// ---------------------------------------------------------------------------
// A valid tiny llama model, with knobs to break it at the model level
// ---------------------------------------------------------------------------

struct TinyLlama {
    int dim = 32, layers = 2, heads = 4, kv_heads = 2, ffn = 64;
    int head_dim = 0;  // 0: dim / heads; otherwise written as attention.key_length
    std::string architecture = "llama";
    bool real_vocab = false;       // the 32000-token Llama SPM vocab from tests/data, else a 40-token one
    int embd_rows = 0;             // rows of token_embd.weight; 0 = the vocab size
    std::string drop_tensor;       // leave this tensor out
    std::string transpose_tensor;  // write this matrix with its two dims swapped
    std::function<void(GgufWriter&)> edit_metadata;  // applied after the defaults
};

const GgufFile& llama_spm_vocab() {
    static const GgufFile vocab = [] {
        auto g = GgufFile::open(test::data_dir() + "/tokenizer/ggml-vocab-llama-spm.gguf");
        if (!g) {
            std::fprintf(stderr, "%s\n", g.status().message().c_str());
            std::abort();  // test data missing: nothing below can run
        }
        return std::move(g.value());
    }();
    return vocab;
}

Bytes build_tiny_llama(const TinyLlama& s) {
    GgufWriter w;
    const std::string a = s.architecture + ".";
    w.set_string("general.architecture", s.architecture);
    w.set_string("general.name", "tiny-malformed-test");
    w.set_u32(a + "context_length", 64);
    w.set_u32(a + "embedding_length", uint32_t(s.dim));
    w.set_u32(a + "block_count", uint32_t(s.layers));
    w.set_u32(a + "feed_forward_length", uint32_t(s.ffn));
    w.set_u32(a + "attention.head_count", uint32_t(s.heads));
    w.set_u32(a + "attention.head_count_kv", uint32_t(s.kv_heads));
    w.set_f32(a + "attention.layer_norm_rms_epsilon", 1e-5f);
    const int head_dim = s.head_dim ? s.head_dim : s.dim / s.heads;
    w.set_u32(a + "rope.dimension_count", uint32_t(head_dim));
    if (s.head_dim) w.set_u32(a + "attention.key_length", uint32_t(s.head_dim));

    int vocab = 0;
    if (s.real_vocab) {
        const GgufFile& v = llama_spm_vocab();
        for (const auto& key : v.metadata_order())
            if (key.rfind("tokenizer.", 0) == 0) w.set_value(key, *v.find(key));
        vocab = int(v.find("tokenizer.ggml.tokens")->array_size());
    } else {
        // 40 tokens, so that the [dim, vocab] matrices are not square and a swap shows.
        std::vector<std::string> tokens = {"<unk>", "<s>", "</s>", "\xE2\x96\x81"};
        for (char c = 'a'; c <= 'z'; ++c) tokens.push_back(std::string(1, c));
        for (char c = 'a'; tokens.size() < 40; ++c) tokens.push_back("\xE2\x96\x81" + std::string(1, c));
        std::vector<float> scores;
        std::vector<int32_t> types;
        for (size_t i = 0; i < tokens.size(); ++i) {
            scores.push_back(i < 3 ? 0.f : -float(i));
            types.push_back(i == 0 ? 2 : i < 3 ? 3 : 1);
        }
        w.set_string("tokenizer.ggml.model", "llama");
        w.set_string_array("tokenizer.ggml.tokens", tokens);
        w.set_f32_array("tokenizer.ggml.scores", scores);
        w.set_i32_array("tokenizer.ggml.token_type", types);
        vocab = int(tokens.size());
    }
    if (s.edit_metadata) s.edit_metadata(w);

    // Weights live until to_bytes(): the writer keeps pointers.
    std::vector<std::vector<float>> storage;
    std::mt19937 rng(1234);
    std::uniform_real_distribution<float> uni(-1.f, 1.f);
    auto add = [&](const std::string& name, std::vector<int64_t> dims) {
        if (name == s.drop_tensor) return;
        if (name == s.transpose_tensor) std::swap(dims[0], dims[1]);
        int64_t n = 1;
        for (auto d : dims) n *= d;
        storage.emplace_back(size_t(n));
        for (auto& x : storage.back()) x = uni(rng);
        auto st = w.add_tensor(name, dims, DType::F32, storage.back().data(), size_t(n) * 4);
        EXPECT_TRUE(st.is_ok()) << st.message();
    };
    const int q_dim = s.heads * head_dim, kv_dim = s.kv_heads * head_dim;
    // ggml order: {cols, rows}
    add("token_embd.weight", {s.dim, s.embd_rows ? s.embd_rows : vocab});
    for (int l = 0; l < s.layers; ++l) {
        const std::string p = "blk." + std::to_string(l) + ".";
        add(p + "attn_norm.weight", {s.dim});
        add(p + "attn_q.weight", {s.dim, q_dim});
        add(p + "attn_k.weight", {s.dim, kv_dim});
        add(p + "attn_v.weight", {s.dim, kv_dim});
        add(p + "attn_output.weight", {q_dim, s.dim});
        add(p + "ffn_norm.weight", {s.dim});
        add(p + "ffn_gate.weight", {s.dim, s.ffn});
        add(p + "ffn_up.weight", {s.dim, s.ffn});
        add(p + "ffn_down.weight", {s.ffn, s.dim});
    }
    add("output_norm.weight", {s.dim});
    if (!s.real_vocab) add("output.weight", {s.dim, vocab});  // the big vocab stays tied: smaller file
    return w.to_bytes();
}

// Where the tensor data section starts, from a parse of the valid file.
uint64_t data_section_start(const Bytes& bytes) {
    auto file = MappedFile::from_bytes(bytes);
    auto g = GgufFile::parse(file, "valid.gguf");
    EXPECT_TRUE(g.is_ok()) << g.status().message();
    if (!g || g->tensors().empty()) return 0;
    const auto& t = g->tensors().front();
    return uint64_t(t.data - file->data()) - t.offset;
}

// Reads every weight once, so a view pointing outside the file trips ASan.
void touch_all_weights(const Model& m) {
    std::vector<float> row;
    auto touch = [&](const TensorView& t) {
        if (!t.present()) return;
        row.resize(size_t(t.cols));
        for (int64_t r = 0; r < t.rows; ++r) dequantize_row(t.type, t.row(r), row.data(), t.cols);
    };
    const ModelWeights& w = m.weights;
    touch(w.token_embedding);
    for (const auto& l : w.layers)
        for (const TensorView* t :
             {&l.attn_norm, &l.wq, &l.wk, &l.wv, &l.wo, &l.ffn_norm, &l.w_gate, &l.w_up, &l.w_down})
            touch(*t);
    touch(w.output_norm);
    touch(w.output);
}

// ---------------------------------------------------------------------------
// The valid baseline
// ---------------------------------------------------------------------------

TEST(GgufMalformed, ValidTinyModelsLoad) {
    TempDir dir;
    for (bool real_vocab : {false, true}) {
        TinyLlama spec;
        spec.real_vocab = real_vocab;
        const std::string path = dir.file(real_vocab ? "tiny-real-vocab.gguf" : "tiny.gguf");
        write_bytes(path, build_tiny_llama(spec));
        auto m = load_model(path);
        ASSERT_TRUE(m.is_ok()) << m.status().message();
        const ModelConfig& c = m.value()->config;
        EXPECT_EQ(c.dim, 32);
        EXPECT_EQ(c.n_layers, 2);
        EXPECT_EQ(c.n_heads, 4);
        EXPECT_EQ(c.n_kv_heads, 2);
        EXPECT_EQ(c.ffn_dim, 64);
        EXPECT_EQ(c.vocab_size, real_vocab ? 32000 : 40);
        EXPECT_EQ(c.tied_output, real_vocab);
        touch_all_weights(*m.value());
        EXPECT_FALSE(m.value()->tokenizer->encode("hello", true, false).empty());
    }
}

// ---------------------------------------------------------------------------
// Truncation
// ---------------------------------------------------------------------------

TEST(GgufMalformed, TruncationAtEveryHeaderByteAndSampledDataBytes) {
    const Bytes valid = build_tiny_llama({});
    const uint64_t data_start = data_section_start(valid);
    ASSERT_GT(data_start, 24u);
    auto g = parse_bytes(valid, "valid.gguf");
    ASSERT_TRUE(g.is_ok());
    uint64_t data_end = data_start;  // end of the last tensor; trailing alignment padding may follow
    for (const auto& t : g->tensors()) data_end = std::max(data_end, data_start + t.offset + t.n_bytes);

    std::vector<uint64_t> lengths;
    for (uint64_t n = 0; n <= data_start + 8; ++n) lengths.push_back(n);  // magic .. tensor infos, padding
    for (uint64_t n = data_start; n < data_end; n += 97) lengths.push_back(n);
    for (const auto& t : g->tensors())
        for (uint64_t n : {data_start + t.offset + 1, data_start + t.offset + t.n_bytes - 1}) lengths.push_back(n);

    for (uint64_t n : lengths) {
        if (n >= data_end) continue;
        const Bytes cut(valid.begin(), valid.begin() + ptrdiff_t(n));
        auto r = parse_bytes(cut, "cut.gguf");
        SCOPED_TRACE("truncated to " + std::to_string(n) + " of " + std::to_string(valid.size()) + " bytes");
        expect_clean_error(r.status(), "cut.gguf");
        // Every truncation message says where it stopped or how many bytes were missing.
        const std::string& msg = r.status().message();
        EXPECT_TRUE(msg.find("truncated") != std::string::npos || msg.find("cannot fit") != std::string::npos ||
                    msg.find("bytes at offset") != std::string::npos || msg.find("claims") != std::string::npos)
            << msg;
    }

    // Section boundaries name the field being read.
    auto at = [&](uint64_t n) { return parse_bytes(Bytes(valid.begin(), valid.begin() + ptrdiff_t(n)), "cut.gguf"); };
    expect_clean_error(at(0).status(), "cut.gguf", {"magic number"});
    expect_clean_error(at(3).status(), "cut.gguf", {"magic number", "at byte 0"});
    expect_clean_error(at(4).status(), "cut.gguf", {"the version"});
    expect_clean_error(at(12).status(), "cut.gguf", {"the tensor count"});
    expect_clean_error(at(20).status(), "cut.gguf", {"the metadata count"});
    expect_clean_error(at(24).status(), "cut.gguf", {"tensor count", "cannot fit in the 0 remaining bytes"});
    {  // one byte short of the data: in the alignment padding, or (if none) the last offset
        const std::string msg = at(data_start - 1).status().message();
        EXPECT_TRUE(msg.find("padding before the tensor data") != std::string::npos ||
                    msg.find("data offset of tensor 'output.weight'") != std::string::npos)
            << msg;
    }
    expect_clean_error(at(data_start + 4).status(), "cut.gguf",
                       {"token_embd.weight", "needs 5120 bytes at offset 0", "only 4 data bytes"});
    // Trailing alignment padding after the last tensor is optional.
    for (uint64_t n = data_end; n < valid.size(); ++n) EXPECT_TRUE(at(n).is_ok()) << n;
}

TEST(GgufMalformed, TruncatedFilesThroughLoadModel) {
    TinyLlama spec;
    spec.real_vocab = true;
    const Bytes valid = build_tiny_llama(spec);
    const uint64_t data_start = data_section_start(valid);
    TempDir dir;
    const std::string path = dir.file("truncated.gguf");
    for (uint64_t n :
         {uint64_t(0), uint64_t(3), uint64_t(4), uint64_t(8), uint64_t(23), uint64_t(100), uint64_t(valid.size() / 20),
          data_start / 2, data_start - 1, data_start + 1000, uint64_t(valid.size() - 1)}) {
        SCOPED_TRACE("truncated to " + std::to_string(n));
        write_bytes(path, Bytes(valid.begin(), valid.begin() + ptrdiff_t(n)));
        auto m = load_model(path);
        expect_clean_error(m.status(), path);
    }
}

// ---------------------------------------------------------------------------
// Hand-assembled headers with one field wrong
// ---------------------------------------------------------------------------

void put_u32(Bytes& b, uint32_t v) {
    for (int i = 0; i < 4; ++i) b.push_back(uint8_t(v >> (8 * i)));
}
void put_u64(Bytes& b, uint64_t v) {
    for (int i = 0; i < 8; ++i) b.push_back(uint8_t(v >> (8 * i)));
}
void put_str(Bytes& b, const std::string& s) {
    put_u64(b, s.size());
    b.insert(b.end(), s.begin(), s.end());
}

// key + value type + raw payload, so a test can write any type number or count.
Bytes kv(const std::string& key, uint32_t type, const Bytes& payload) {
    Bytes b;
    put_str(b, key);
    put_u32(b, type);
    b.insert(b.end(), payload.begin(), payload.end());
    return b;
}
Bytes kv_u32(const std::string& key, uint32_t v) {
    Bytes p;
    put_u32(p, v);
    return kv(key, uint32_t(GgufValueType::UINT32), p);
}
Bytes kv_string(const std::string& key, const std::string& s) {
    Bytes p;
    put_str(p, s);
    return kv(key, uint32_t(GgufValueType::STRING), p);
}

struct RawTensor {
    std::string name;
    std::vector<uint64_t> dims;
    uint32_t type;
    uint64_t offset;
    std::optional<uint32_t> n_dims;       // written instead of dims.size()
    std::optional<uint64_t> name_length;  // written instead of name.size()
};

// A GGUF assembled field by field: the baseline is valid; each test breaks one field.
struct RawGguf {
    uint32_t magic = 0x46554747;
    uint32_t version = 3;
    std::optional<uint64_t> n_tensors, n_kv;  // written instead of the real counts
    std::vector<Bytes> kvs = {kv_string("general.architecture", "llama")};
    // "a": 32 f32 = 128 bytes at 0; "b": 2 rows of 64 q8_0 = 2*2*34 = 136 bytes at 128.
    std::vector<RawTensor> tensors = {{"a", {32}, 0, 0, {}, {}}, {"b", {64, 2}, 8, 128, {}, {}}};
    uint64_t data_bytes = 288;

    Bytes bytes() const {
        Bytes b;
        put_u32(b, magic);
        put_u32(b, version);
        put_u64(b, n_tensors.value_or(tensors.size()));
        put_u64(b, n_kv.value_or(kvs.size()));
        for (const auto& e : kvs) b.insert(b.end(), e.begin(), e.end());
        for (const auto& t : tensors) {
            put_u64(b, t.name_length.value_or(t.name.size()));
            b.insert(b.end(), t.name.begin(), t.name.end());
            put_u32(b, t.n_dims.value_or(uint32_t(t.dims.size())));
            for (auto d : t.dims) put_u64(b, d);
            put_u32(b, t.type);
            put_u64(b, t.offset);
        }
        b.resize((b.size() + 31) / 32 * 32, 0);
        b.resize(b.size() + data_bytes, 0x5A);
        return b;
    }
};

TEST(GgufMalformed, RawBaselineIsValid) {
    auto g = parse_bytes(RawGguf{}.bytes(), "raw.gguf");
    ASSERT_TRUE(g.is_ok()) << g.status().message();
    ASSERT_EQ(g->tensors().size(), 2u);
    EXPECT_EQ(g->tensors()[1].n_bytes, 136u);
    EXPECT_EQ(g->get_string_or("general.architecture", ""), "llama");
}

struct HeaderCase {
    const char* what;
    std::function<void(RawGguf&)> edit;
    std::vector<std::string> expect;  // fragments of the message: the field, expected and found
};

TEST(GgufMalformed, CorruptHeaderFieldsGiveOneNamedError) {
    constexpr uint64_t k2_62 = uint64_t(1) << 62;
    const uint32_t kArray = uint32_t(GgufValueType::ARRAY);
    auto array_payload = [](uint32_t elem_type, uint64_t count, const Bytes& items) {
        Bytes p;
        put_u32(p, elem_type);
        put_u64(p, count);
        p.insert(p.end(), items.begin(), items.end());
        return p;
    };
    const std::vector<HeaderCase> cases = {
        {"bad magic",
         [](RawGguf& r) { r.magic = 0x4C4C4747; },
         {"not a GGUF file", "magic is 0x4c4c4747", "expected 0x46554747"}},
        {"version 1", [](RawGguf& r) { r.version = 1; }, {"unsupported GGUF version 1", "expected 2 or 3"}},
        {"version 4", [](RawGguf& r) { r.version = 4; }, {"unsupported GGUF version 4", "expected 2 or 3"}},
        {"tensor count 2^62",
         [&](RawGguf& r) { r.n_tensors = k2_62; },
         {"tensor count 4611686018427387904", "cannot fit"}},
        {"metadata count 2^62",
         [&](RawGguf& r) { r.n_kv = k2_62; },
         {"metadata count 4611686018427387904", "cannot fit"}},
        {"metadata count one too many", [](RawGguf& r) { r.n_kv = 2; }, {}},
        {"key length 2^62",
         [&](RawGguf& r) {
             Bytes b;
             put_u64(b, k2_62);
             b.insert(b.end(), {'k', 'e', 'y'});
             r.kvs[0] = b;
         },
         {"metadata entry 0 key", "truncated"}},
        {"string value length 2^63",
         [](RawGguf& r) {
             Bytes p;
             put_u64(p, uint64_t(1) << 63);
             p.insert(p.end(), {'l', 'l', 'a', 'm', 'a'});
             r.kvs[0] = kv("general.architecture", uint32_t(GgufValueType::STRING), p);
         },
         {"value of metadata 'general.architecture'", "truncated"}},
        {"u32 array count 2^61",
         [&](RawGguf& r) {
             const uint32_t u32 = uint32_t(GgufValueType::UINT32);
             r.kvs.push_back(kv("x.numbers", kArray, array_payload(u32, k2_62 >> 1, {1, 0, 0, 0})));
         },
         {"metadata array 'x.numbers' claims 2305843009213693952 elements"}},
        {"string array count 2^60",
         [&](RawGguf& r) {
             r.kvs.push_back(kv("x.strings", kArray, array_payload(uint32_t(GgufValueType::STRING), k2_62 >> 2, {})));
         },
         {"metadata array 'x.strings' claims 1152921504606846976 elements"}},
        {"string element length 2^40",
         [&](RawGguf& r) {
             Bytes items;
             put_u64(items, uint64_t(1) << 40);
             r.kvs.push_back(kv("x.strings", kArray, array_payload(uint32_t(GgufValueType::STRING), 2, items)));
         },
         {"element 0 of array 'x.strings'", "truncated"}},
        {"value type 13",
         [](RawGguf& r) {
             r.kvs.push_back(kv("x.bad", 13, {0, 0, 0, 0}));
         },
         {"metadata 'x.bad' has value type 13", "expected 0..12"}},
        {"value type 2^32-1",
         [](RawGguf& r) { r.kvs.push_back(kv("x.bad", 0xFFFFFFFFu, {})); },
         {"value type 4294967295", "expected 0..12"}},
        {"array of arrays",
         [&](RawGguf& r) { r.kvs.push_back(kv("x.nested", kArray, array_payload(kArray, 1, {}))); },
         {"metadata array 'x.nested' has element type 9", "expected a scalar or string type"}},
        {"array element type 200",
         [&](RawGguf& r) { r.kvs.push_back(kv("x.arr", kArray, array_payload(200, 1, {}))); },
         {"element type 200"}},
        {"n_dims 0",
         [](RawGguf& r) {
             r.tensors[0].n_dims = 0;
             r.tensors[0].dims.clear();
         },
         {"tensor 'a' has 0 dimensions", "expected 1..4"}},
        {"n_dims 5",
         [](RawGguf& r) {
             r.tensors[0].n_dims = 5;
             r.tensors[0].dims = {32, 1, 1, 1, 1};
         },
         {"tensor 'a' has 5 dimensions", "expected 1..4"}},
        {"dim 0",
         [](RawGguf& r) {
             r.tensors[1].dims = {64, 0};
         },
         {"tensor 'b' dimension 1 is 0", "expected 1..2^40"}},
        {"dim 2^40+1",
         [](RawGguf& r) { r.tensors[0].dims = {(uint64_t(1) << 40) + 1}; },
         {"tensor 'a' dimension 0 is 1099511627777", "expected 1..2^40"}},
        {"dims whose product overflows",
         [](RawGguf& r) {
             r.tensors[0].dims = {1u << 20, 1u << 20, 1u << 20, 1u << 20};
         },
         {"tensor 'a' has too many elements"}},
        {"removed ggml type 4 (q4_2)",
         [](RawGguf& r) { r.tensors[1].type = 4; },
         {"tensor 'b' has ggml type 4", "expected f32"}},
        {"unknown ggml type 99", [](RawGguf& r) { r.tensors[1].type = 99; }, {"ggml type 99"}},
        {"ggml type 2^32-1", [](RawGguf& r) { r.tensors[1].type = 0xFFFFFFFFu; }, {"ggml type 4294967295"}},
        {"row not a multiple of the block",
         [](RawGguf& r) {
             r.tensors[1].dims = {33, 2};
         },
         {"tensor 'b' row length 33 is not a multiple of the q8_0 block size 32"}},
        {"k-quant row of 32",
         [](RawGguf& r) {
             r.tensors[1].dims = {32, 2};
             r.tensors[1].type = 12;
         },
         {"row length 32 is not a multiple of the q4_k block size 256"}},
        {"offset not aligned",
         [](RawGguf& r) { r.tensors[1].offset = 130; },
         {"tensor 'b' offset 130 is not a multiple of the alignment 32"}},
        {"offset past the end",
         [](RawGguf& r) { r.tensors[1].offset = 4096; },
         {"tensor 'b' [64, 2] q8_0 needs 136 bytes at offset 4096", "holds only 288 data bytes"}},
        {"offset 2^64-32",
         [](RawGguf& r) { r.tensors[1].offset = ~uint64_t(31); },
         {"tensor 'b' [64, 2] q8_0 needs 136 bytes at offset 18446744073709551584"}},
        {"tensor runs past the end",
         [](RawGguf& r) { r.data_bytes = 200; },
         {"tensor 'b' [64, 2] q8_0 needs 136 bytes at offset 128", "holds only 200 data bytes"}},
        {"tensors overlap", [](RawGguf& r) { r.tensors[1].offset = 96; }, {"tensors 'a' and 'b' overlap"}},
        {"same offset", [](RawGguf& r) { r.tensors[1].offset = 0; }, {"overlap"}},
        {"duplicate tensor name", [](RawGguf& r) { r.tensors[1].name = "a"; }, {"tensor 'a' appears twice"}},
        {"duplicate key",
         [](RawGguf& r) { r.kvs.push_back(kv_string("general.architecture", "qwen2")); },
         {"metadata key 'general.architecture' appears twice"}},
        {"tensor name length 2^62",
         [&](RawGguf& r) { r.tensors[1].name_length = k2_62; },
         {"name of tensor 1", "truncated"}},
        {"tensor count one too many", [](RawGguf& r) { r.n_tensors = 3; }, {}},
        {"alignment 48",
         [](RawGguf& r) { r.kvs.push_back(kv_u32("general.alignment", 48)); },
         {"general.alignment is 48", "power of two"}},
        {"alignment 0",
         [](RawGguf& r) { r.kvs.push_back(kv_u32("general.alignment", 0)); },
         {"general.alignment is 0"}},
        {"alignment as a string",
         [](RawGguf& r) { r.kvs.push_back(kv_string("general.alignment", "32")); },
         {"general.alignment must be an integer"}},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.what);
        RawGguf raw;
        c.edit(raw);
        auto r = parse_bytes(raw.bytes(), "broken.gguf");
        expect_clean_error(r.status(), "broken.gguf", c.expect);
        EXPECT_EQ(r.status().message().find('\n'), std::string::npos) << "one error, one line";
    }
}

// ---------------------------------------------------------------------------
// Model-level errors: a well-formed GGUF that is not a model Lumen can run
// ---------------------------------------------------------------------------

struct ModelCase {
    const char* what;
    std::function<void(TinyLlama&)> edit;
    std::vector<std::string> expect;
};

TEST(GgufMalformed, ModelLevelErrorsNameTensorAndShapes) {
    const std::vector<ModelCase> cases = {
        {"missing tensor",
         [](TinyLlama& s) { s.drop_tensor = "blk.1.ffn_up.weight"; },
         {"tensor 'blk.1.ffn_up.weight' is missing", "expected shape [32, 64]"}},
        {"missing norm",
         [](TinyLlama& s) { s.drop_tensor = "output_norm.weight"; },
         {"tensor 'output_norm.weight' is missing", "expected shape [32]"}},
        {"missing embedding",
         [](TinyLlama& s) { s.drop_tensor = "token_embd.weight"; },
         {"tensor 'token_embd.weight' is missing, expected [32, vocab]"}},
        {"embedding with swapped dims",
         [](TinyLlama& s) { s.transpose_tensor = "token_embd.weight"; },
         {"tensor 'token_embd.weight' has shape [40, 32], expected [32, vocab]"}},
        {"output with swapped dims",
         [](TinyLlama& s) { s.transpose_tensor = "output.weight"; },
         {"tensor 'output.weight' has shape [40, 32], expected [32, 40]"}},
        {"attn_k with swapped dims",
         [](TinyLlama& s) { s.transpose_tensor = "blk.0.attn_k.weight"; },
         {"tensor 'blk.0.attn_k.weight' has shape [16, 32], expected [32, 16]"}},
        {"ffn_gate with swapped dims",
         [](TinyLlama& s) { s.transpose_tensor = "blk.1.ffn_gate.weight"; },
         {"tensor 'blk.1.ffn_gate.weight' has shape [64, 32], expected [32, 64]"}},
        {"attn_q with swapped dims (head_dim 16: q_dim 64 != dim 32)",
         [](TinyLlama& s) {
             s.head_dim = 16;
             s.transpose_tensor = "blk.0.attn_q.weight";
         },
         {"tensor 'blk.0.attn_q.weight' has shape [64, 32], expected [32, 64]"}},
        {"head_count_kv does not divide head_count",
         [](TinyLlama& s) { s.kv_heads = 3; },
         {"attention.head_count_kv is 3", "expected a divisor of head_count 4"}},
        {"head_count_kv 0",
         [](TinyLlama& s) { s.edit_metadata = [](GgufWriter& w) { w.set_u32("llama.attention.head_count_kv", 0); }; },
         {"attention.head_count_kv is 0"}},
        {"unsupported architecture",
         [](TinyLlama& s) { s.architecture = "mamba"; },
         {"architecture 'mamba' is not supported", "expected 'llama' or 'qwen2'"}},
        {"vocab size mismatch",
         [](TinyLlama& s) { s.embd_rows = 41; },
         {"the tokenizer has 40 tokens but token_embd.weight has 41 rows"}},
        {"embedding_length 0",
         [](TinyLlama& s) { s.edit_metadata = [](GgufWriter& w) { w.set_u32("llama.embedding_length", 0); }; },
         {"metadata 'llama.embedding_length' is 0", "expected 1..65536"}},
        {"block_count as a string",
         [](TinyLlama& s) { s.edit_metadata = [](GgufWriter& w) { w.set_string("llama.block_count", "2"); }; },
         {"metadata 'llama.block_count' is string", "expected an integer"}},
        {"block_count larger than the tensors",
         [](TinyLlama& s) { s.edit_metadata = [](GgufWriter& w) { w.set_u32("llama.block_count", 3); }; },
         {"tensor 'blk.2.attn_norm.weight' is missing"}},
        {"odd rope dimension",
         [](TinyLlama& s) { s.edit_metadata = [](GgufWriter& w) { w.set_u32("llama.rope.dimension_count", 7); }; },
         {"rope.dimension_count is 7", "expected an even number up to head dimension 8"}},
        {"unknown rope scaling",
         [](TinyLlama& s) { s.edit_metadata = [](GgufWriter& w) { w.set_string("llama.rope.scaling.type", "yarn"); }; },
         {"rope.scaling.type 'yarn' is not supported"}},
        {"bos id out of range",
         [](TinyLlama& s) { s.edit_metadata = [](GgufWriter& w) { w.set_u32("tokenizer.ggml.bos_token_id", 40); }; },
         {"tokenizer.ggml.bos_token_id' is 40", "expected a token id in 0..39"}},
        {"scores of the wrong length",
         [](TinyLlama& s) {
             s.edit_metadata = [](GgufWriter& w) { w.set_f32_array("tokenizer.ggml.scores", {0.f, 1.f}); };
         },
         {"tokenizer.ggml.scores must be a numeric array of 40 entries, found 2"}},
        {"unknown tokenizer model",
         [](TinyLlama& s) { s.edit_metadata = [](GgufWriter& w) { w.set_string("tokenizer.ggml.model", "rwkv"); }; },
         {"tokenizer.ggml.model is 'rwkv'"}},
    };
    TempDir dir;
    const std::string path = dir.file("model.gguf");
    for (const auto& c : cases) {
        SCOPED_TRACE(c.what);
        TinyLlama spec;
        c.edit(spec);
        write_bytes(path, build_tiny_llama(spec));
        auto m = load_gguf_model(path, {});
        expect_clean_error(m.status(), path, c.expect);
    }
    // The real 32000-token vocab against an embedding of the wrong height.
    TinyLlama spec;
    spec.real_vocab = true;
    spec.embd_rows = 31999;
    write_bytes(path, build_tiny_llama(spec));
    expect_clean_error(load_model(path).status(), path, {"32000 tokens but token_embd.weight has 31999 rows"});
}

// ---------------------------------------------------------------------------
// Random mutations
// ---------------------------------------------------------------------------

// One random edit, aimed at the header most of the time since that is where parsing happens.
void mutate(Bytes& b, std::mt19937_64& rng, uint64_t header_size) {
    auto pick = [&](uint64_t n) { return n ? rng() % n : 0; };
    const uint64_t span = rng() % 100 < 85 ? std::min<uint64_t>(header_size, b.size()) : b.size();
    if (b.empty()) {
        b.push_back(uint8_t(rng()));
        return;
    }
    const uint64_t pos = pick(span);
    static const uint64_t kInteresting[] = {0,
                                            1,
                                            2,
                                            3,
                                            4,
                                            5,
                                            12,
                                            13,
                                            31,
                                            32,
                                            255,
                                            0x7FFFFFFF,
                                            0x80000000,
                                            0xFFFFFFFF,
                                            uint64_t(1) << 32,
                                            uint64_t(1) << 40,
                                            uint64_t(1) << 62,
                                            ~uint64_t(0)};
    switch (rng() % 8) {
        case 0:  // flip a few bits
            for (int k = 0, n = 1 + int(rng() % 4); k < n; ++k) b[pick(span)] ^= uint8_t(1u << (rng() % 8));
            break;
        case 1:  // one random byte
            b[pos] = uint8_t(rng());
            break;
        case 2: {  // an interesting u64 (counts, lengths, dims, offsets)
            const uint64_t v = kInteresting[rng() % std::size(kInteresting)];
            for (int i = 0; i < 8 && pos + i < b.size(); ++i) b[pos + i] = uint8_t(v >> (8 * i));
            break;
        }
        case 3: {  // an interesting u32 (types, n_dims, version)
            const uint32_t v = uint32_t(kInteresting[rng() % std::size(kInteresting)]);
            for (int i = 0; i < 4 && pos + i < b.size(); ++i) b[pos + i] = uint8_t(v >> (8 * i));
            break;
        }
        case 4:  // truncate
            b.resize(pick(b.size()));
            break;
        case 5: {  // insert bytes
            Bytes ins(1 + rng() % 16);
            for (auto& x : ins) x = uint8_t(rng());
            b.insert(b.begin() + ptrdiff_t(pos), ins.begin(), ins.end());
            break;
        }
        case 6: {  // delete bytes
            const uint64_t end = std::min<uint64_t>(b.size(), pos + 1 + rng() % 16);
            b.erase(b.begin() + ptrdiff_t(pos), b.begin() + ptrdiff_t(end));
            break;
        }
        default: {  // copy a run of bytes over another place (duplicates keys, names, lengths)
            const uint64_t src = pick(span), n = 1 + rng() % 24;
            for (uint64_t i = 0; i < n && pos + i < b.size() && src + i < b.size(); ++i) b[pos + i] = b[src + i];
            break;
        }
    }
}

TEST(GgufMalformed, RandomMutationsParseOrFailCleanly) {
    const Bytes valid = build_tiny_llama({});
    const uint64_t header = data_section_start(valid);
    TempDir dir;
    const std::string path = dir.file("fuzz.gguf");
    std::mt19937_64 rng(20240611);
    int parsed = 0, loaded = 0, load_attempts = 0;
    constexpr int kMutations = 20000;
    for (int iter = 0; iter < kMutations; ++iter) {
        Bytes b = valid;
        for (int k = 0, n = 1 + int(rng() % 3); k < n; ++k) mutate(b, rng, header);
        auto g = parse_bytes(b, "fuzz.gguf");
        if (!g) {
            expect_clean_error(g.status(), "fuzz.gguf");
            continue;
        }
        ++parsed;
        // Whatever parses goes through the whole model load.
        ++load_attempts;
        write_bytes(path, b);
        auto m = load_model(path);
        if (!m) {
            expect_clean_error(m.status(), path);
            continue;
        }
        ++loaded;
        touch_all_weights(*m.value());
        (void)m.value()->tokenizer->decode(m.value()->tokenizer->encode("abc <s> def", true, true));
    }
    std::printf("mutations: %d, parsed: %d, load attempts: %d, loaded: %d\n", kMutations, parsed, load_attempts,
                loaded);
    // The fuzzer must reach both outcomes, or it is not testing the loader.
    EXPECT_GT(parsed, 100);
    EXPECT_GT(loaded, 10);
    EXPECT_LT(loaded, load_attempts);
}

TEST(GgufMalformed, RandomMutationsOfARealVocabulary) {
    TinyLlama spec;
    spec.real_vocab = true;
    const Bytes valid = build_tiny_llama(spec);
    const uint64_t header = data_section_start(valid);
    std::mt19937_64 rng(77);
    int vocab_built = 0;
    for (int iter = 0; iter < 300; ++iter) {
        Bytes b = valid;
        mutate(b, rng, header);
        auto g = parse_bytes(b, "fuzz-vocab.gguf");
        if (!g) {
            expect_clean_error(g.status(), "fuzz-vocab.gguf");
            continue;
        }
        if (iter % 10 != 0) continue;  // a 32000-token SentencePiece build takes a while
        auto vocab = vocab_from_gguf(g.value());
        if (!vocab) {
            expect_clean_error(vocab.status(), "fuzz-vocab.gguf");
            continue;
        }
        auto tok = Tokenizer::create(std::move(vocab.value()));
        if (tok) {
            ++vocab_built;
            (void)tok.value()->decode(tok.value()->encode("Hello world <s>", true, true));
        } else {
            EXPECT_FALSE(tok.status().message().empty());
        }
    }
    EXPECT_GT(vocab_built, 0);
}

// ---------------------------------------------------------------------------
// llama.c checkpoints and tokenizer.bin
// ---------------------------------------------------------------------------

struct Llama2cHeader {
    int32_t dim = 8, hidden_dim = 16, n_layers = 2, n_heads = 2, n_kv_heads = 1, vocab_size = 32, seq_len = 4;
};

// Float count of a checkpoint as llama2.c's export writes it (computed here independently of the loader).
int64_t llama2c_floats(const Llama2cHeader& h) {
    const int64_t vocab = h.vocab_size < 0 ? -int64_t(h.vocab_size) : h.vocab_size;
    const int64_t head = h.dim / h.n_heads, kv = int64_t(h.n_kv_heads) * head, L = h.n_layers;
    int64_t n = vocab * h.dim;                 // token_embedding_table
    n += L * h.dim;                            // rms_att_weight
    n += L * h.dim * (h.n_heads * head);       // wq
    n += 2 * L * h.dim * kv;                   // wk, wv
    n += L * (h.n_heads * head) * h.dim;       // wo
    n += L * h.dim;                            // rms_ffn_weight
    n += 3 * L * h.dim * h.hidden_dim;         // w1, w2, w3
    n += h.dim;                                // rms_final_weight
    n += int64_t(h.seq_len) * head;            // freq_cis_real + freq_cis_imag (head/2 each)
    if (h.vocab_size < 0) n += vocab * h.dim;  // wcls
    return n;
}

Bytes llama2c_checkpoint(const Llama2cHeader& h, int64_t n_floats) {
    Bytes b(sizeof h);
    std::memcpy(b.data(), &h, sizeof h);
    for (int64_t i = 0; i < n_floats; ++i) {
        const float x = float(i % 13) * 0.01f - 0.06f;
        const auto* p = reinterpret_cast<const uint8_t*>(&x);
        b.insert(b.end(), p, p + 4);
    }
    return b;
}

Bytes llama2c_tokenizer(int n_tokens) {
    Bytes b;
    put_u32(b, 8);  // max_token_length
    for (int i = 0; i < n_tokens; ++i) {
        // llama2.c's own spelling of the specials; then distinct one- and two-letter pieces.
        const std::string text = i == 0   ? "<unk>"
                                 : i == 1 ? "\n<s>\n"
                                 : i == 2 ? "\n</s>\n"
                                          : std::string(1, char('a' + i % 26)) + (i >= 29 ? "x" : "");
        const float score = -float(i);
        const auto* s = reinterpret_cast<const uint8_t*>(&score);
        b.insert(b.end(), s, s + 4);
        put_u32(b, uint32_t(text.size()));
        b.insert(b.end(), text.begin(), text.end());
    }
    return b;
}

TEST(Llama2cMalformed, CheckpointErrors) {
    TempDir dir;
    const std::string model = dir.file("model.bin"), tok = dir.file("tokenizer.bin");
    write_bytes(tok, llama2c_tokenizer(32));
    const Llama2cHeader good;
    write_bytes(model, llama2c_checkpoint(good, llama2c_floats(good)));
    {
        auto m = load_model(model);
        ASSERT_TRUE(m.is_ok()) << m.status().message();
        EXPECT_EQ(m.value()->format, "llama2c");
        EXPECT_EQ(m.value()->config.n_kv_heads, 1);
        touch_all_weights(*m.value());
    }
    {  // unshared classifier: negative vocab_size and a wcls matrix at the end
        Llama2cHeader h;
        h.vocab_size = -32;
        write_bytes(model, llama2c_checkpoint(h, llama2c_floats(h)));
        auto m = load_model(model);
        ASSERT_TRUE(m.is_ok()) << m.status().message();
        EXPECT_FALSE(m.value()->config.tied_output);
        touch_all_weights(*m.value());
    }

    struct Case {
        const char* what;
        Bytes bytes;
        std::vector<std::string> expect;
    };
    auto with = [&](std::function<void(Llama2cHeader&)> edit, int64_t n_floats = 100) {
        Llama2cHeader h;
        edit(h);
        return llama2c_checkpoint(h, n_floats);
    };
    const std::vector<Case> cases = {
        {"empty file", {}, {"too short for a llama2.c checkpoint (0 bytes, header needs 28)"}},
        {"shorter than the header", Bytes(10, 1), {"(10 bytes, header needs 28)"}},
        {"negative dim", with([](auto& h) { h.dim = -8; }), {"dim is -8, expected 1..65536"}},
        {"zero layers", with([](auto& h) { h.n_layers = 0; }), {"n_layers is 0, expected 1..1024"}},
        {"zero hidden_dim", with([](auto& h) { h.hidden_dim = 0; }), {"hidden_dim is 0"}},
        {"heads not dividing dim", with([](auto& h) { h.n_heads = 3; }), {"n_heads is 3, expected a divisor of dim"}},
        {"kv heads not dividing heads", with([](auto& h) { h.n_kv_heads = 3; }), {"n_kv_heads is 3"}},
        {"zero kv heads", with([](auto& h) { h.n_kv_heads = 0; }), {"n_kv_heads is 0"}},
        {"vocab INT32_MIN", with([](auto& h) { h.vocab_size = INT32_MIN; }), {"vocab_size is 2147483648"}},
        {"zero vocab", with([](auto& h) { h.vocab_size = 0; }), {"vocab_size is 0"}},
        {"negative seq_len", with([](auto& h) { h.seq_len = -1; }), {"seq_len is -1"}},
        {"odd head size",
         with([](auto& h) {
             h.dim = 6;
             h.n_heads = 2;
             h.n_kv_heads = 1;
         }),
         {"head size is 3"}},
        {"one float missing", llama2c_checkpoint(good, llama2c_floats(good) - 1), {"should be", "bytes, found"}},
        {"one float extra", llama2c_checkpoint(good, llama2c_floats(good) + 1), {"should be", "bytes, found"}},
        {"huge dims, tiny file",
         with([](auto& h) {
             h.dim = 65536, h.hidden_dim = 1 << 20, h.n_layers = 1024, h.n_heads = 1, h.n_kv_heads = 1;
             h.vocab_size = 1 << 22;
         }),
         {"should be", "found 428"}},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.what);
        write_bytes(model, c.bytes);
        auto m = load_model(model);
        expect_clean_error(m.status(), model, c.expect);
    }

    // The checkpoint is fine but its tokenizer is missing or of another vocab size.
    write_bytes(model, llama2c_checkpoint(good, llama2c_floats(good)));
    std::filesystem::remove(tok);
    expect_clean_error(load_model(model).status(), tok, {"cannot open", "tokenizer.bin"});
    write_bytes(tok, llama2c_tokenizer(40));
    expect_clean_error(load_model(model).status(), tok, {"bytes after 32 tokens"});
}

TEST(Llama2cMalformed, TokenizerErrors) {
    TempDir dir;
    const std::string path = dir.file("tokenizer.bin");
    const Bytes valid = llama2c_tokenizer(32);
    write_bytes(path, valid);
    ASSERT_TRUE(load_llama2c_vocab(path, 32).is_ok());

    for (size_t n = 0; n < valid.size(); ++n) {  // every truncation
        SCOPED_TRACE("truncated to " + std::to_string(n));
        write_bytes(path, Bytes(valid.begin(), valid.begin() + ptrdiff_t(n)));
        expect_clean_error(load_llama2c_vocab(path, 32).status(), path, {"truncated"});
    }
    Bytes b = valid;
    b[0] = 0;  // max_token_length 0
    write_bytes(path, b);
    expect_clean_error(load_llama2c_vocab(path, 32).status(), path, {"max_token_length is 0", "expected 1..4096"});
    b = valid;
    for (int i = 8; i < 12; ++i) b[size_t(i)] = 0xFF;  // token 0 length -1
    write_bytes(path, b);
    expect_clean_error(load_llama2c_vocab(path, 32).status(), path, {"token 0 has length -1", "expected 0..8"});
    b = valid;
    b[8] = 9;  // token 0 longer than max_token_length
    write_bytes(path, b);
    expect_clean_error(load_llama2c_vocab(path, 32).status(), path, {"token 0 has length 9"});
    write_bytes(path, valid);
    expect_clean_error(load_llama2c_vocab(path, 33).status(), path, {"truncated at token 32 of 33"});
}

}  // namespace
