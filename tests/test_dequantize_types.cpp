// The GGUF types Lumen reads but does not write: the low-bit k-quants (Q2_K, Q3_K),
// the i-quants (IQ4_NL ... IQ1_M) and the ternary formats (TQ1_0, TQ2_0). Their table
// entries against ggml's, a GGUF file of every one written by gguf-py, the parser's
// checks, and dequantize_row bit for bit against gguf-py's `gguf.quants` dequantizers
// (tests/data/quant/README.md says how the reference was made).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>
#include <limits>

#include "core/dtype.h"
#include "gguf/gguf_file.h"
#include "gguf/gguf_writer.h"
#include "quant/quantize.h"
#include "test_support.h"

using namespace lumen;

namespace {

struct TypeFacts {
    DType type;
    const char* name;
    uint32_t ggml_id;    // ggml.h's enum ggml_type
    int block_elements;  // gguf-py's GGML_QUANT_SIZES
    int block_bytes;
};

constexpr TypeFacts kReadOnlyTypes[] = {
    {DType::Q2_K, "q2_k", 10, 256, 84},       {DType::Q3_K, "q3_k", 11, 256, 110},
    {DType::IQ4_NL, "iq4_nl", 20, 32, 18},    {DType::IQ4_XS, "iq4_xs", 23, 256, 136},
    {DType::IQ3_XXS, "iq3_xxs", 18, 256, 98}, {DType::IQ3_S, "iq3_s", 21, 256, 110},
    {DType::IQ2_XXS, "iq2_xxs", 16, 256, 66}, {DType::IQ2_XS, "iq2_xs", 17, 256, 74},
    {DType::IQ2_S, "iq2_s", 22, 256, 82},     {DType::IQ1_S, "iq1_s", 19, 256, 50},
    {DType::IQ1_M, "iq1_m", 29, 256, 56},     {DType::TQ1_0, "tq1_0", 34, 256, 54},
    {DType::TQ2_0, "tq2_0", 35, 256, 66},
};

// ---------------------------------------------------------------- the reference files

// One tests/data/quant/<type>.bin: random blocks and gguf-py's floats for them.
struct Reference {
    uint32_t ggml_id = 0, block_elements = 0, block_bytes = 0, n_blocks = 0;
    std::vector<uint8_t> blocks;
    std::vector<float> expected;
};

std::string reference_path(const TypeFacts& t) {
    return test::data_dir() + "/quant/" + t.name + ".bin";
}

// Reads and checks the file's framing; a failure names what was wrong.
Reference read_reference(const TypeFacts& t) {
    Reference r;
    std::ifstream in(reference_path(t), std::ios::binary);
    const std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    constexpr size_t kHeader = 24;
    if (bytes.size() < kHeader || std::memcmp(bytes.data(), "LQDR", 4) != 0) {
        ADD_FAILURE() << reference_path(t) << " is missing or not a reference file";
        return r;
    }
    uint32_t version;
    std::memcpy(&version, bytes.data() + 4, 4);
    std::memcpy(&r.ggml_id, bytes.data() + 8, 4);
    std::memcpy(&r.block_elements, bytes.data() + 12, 4);
    std::memcpy(&r.block_bytes, bytes.data() + 16, 4);
    std::memcpy(&r.n_blocks, bytes.data() + 20, 4);
    const size_t block_part = size_t(r.n_blocks) * r.block_bytes;
    const size_t float_part = size_t(r.n_blocks) * r.block_elements * 4;
    if (version != 1 || bytes.size() != kHeader + block_part + float_part) {
        ADD_FAILURE() << reference_path(t) << ": version " << version << ", " << bytes.size()
                      << " bytes, expected version 1 and " << kHeader + block_part + float_part << " bytes";
        r.n_blocks = 0;
        return r;
    }
    r.blocks.assign(bytes.begin() + kHeader, bytes.begin() + long(kHeader + block_part));
    r.expected.resize(size_t(r.n_blocks) * r.block_elements);
    std::memcpy(r.expected.data(), bytes.data() + kHeader + block_part, float_part);
    return r;
}

uint32_t bits_of(float f) {
    uint32_t u;
    std::memcpy(&u, &f, 4);
    return u;
}

// Bit-for-bit comparison (a float == would let -0 equal +0); reports the first few mismatches.
::testing::AssertionResult same_bits(const float* got, const float* expected, size_t n, int block_elements) {
    if (std::memcmp(got, expected, n * sizeof(float)) == 0) return ::testing::AssertionSuccess();
    auto failure = ::testing::AssertionFailure();
    size_t mismatches = 0;
    for (size_t i = 0; i < n; ++i) {
        if (bits_of(got[i]) == bits_of(expected[i])) continue;
        if (++mismatches <= 4)
            failure << "element " << i << " (block " << i / size_t(block_elements) << ", weight "
                    << i % size_t(block_elements) << "): got " << got[i] << " (0x" << std::hex << bits_of(got[i])
                    << "), expected " << std::dec << expected[i] << " (0x" << std::hex << bits_of(expected[i])
                    << std::dec << ")\n";
    }
    failure << mismatches << " of " << n << " values differ";
    return failure;
}

class ReadOnlyType : public ::testing::TestWithParam<TypeFacts> {};

std::string type_label(const ::testing::TestParamInfo<TypeFacts>& info) {
    return info.param.name;
}

// ---------------------------------------------------------------- the table

TEST_P(ReadOnlyType, TableEntryMatchesGgml) {
    const TypeFacts& t = GetParam();
    EXPECT_EQ(uint32_t(t.type), t.ggml_id);
    const auto found = dtype_traits(t.ggml_id);
    ASSERT_TRUE(found.has_value()) << "ggml type " << t.ggml_id << " is not readable";
    EXPECT_EQ(found->type, t.type);
    EXPECT_STREQ(found->name, t.name);
    EXPECT_EQ(found->block_elements, t.block_elements);
    EXPECT_EQ(found->block_bytes, t.block_bytes);
    EXPECT_EQ(found->row_header_bytes, 0);
    EXPECT_TRUE(found->in_gguf);
    EXPECT_STREQ(dtype_name(t.type), t.name);
    EXPECT_EQ(dtype_from_name(t.name), t.type);
    EXPECT_EQ(row_bytes(t.type, 4 * t.block_elements), size_t(4 * t.block_bytes));
    EXPECT_DOUBLE_EQ(bits_per_weight(t.type), 8.0 * t.block_bytes / t.block_elements);
    EXPECT_NE(gguf_type_names().find(t.name), std::string::npos);
}

TEST(DequantizeTypes, GgmlTypesWithoutAReaderStayRefused) {
    // Q8_1 and Q8_K (activation formats), I8..F64, MXFP4, NVFP4, and unassigned numbers.
    for (uint32_t id : {4u, 5u, 9u, 15u, 24u, 25u, 26u, 27u, 28u, 31u, 39u, 40u, 99u})
        EXPECT_FALSE(dtype_traits(id).has_value()) << "ggml type " << id;
    // The old GGUF types are still there, and every table entry is reachable by its id.
    for (DType t : all_dtypes())
        if (traits(t).in_gguf) EXPECT_EQ(dtype_traits(uint32_t(t))->type, t) << dtype_name(t);
}

// Lumen has no encoders for these types, so a mixed-precision spec naming one is refused
// at parse time, with the reason, rather than reaching the quantizer.
TEST_P(ReadOnlyType, MixedPrecisionRefusesTheType) {
    const TypeFacts& t = GetParam();
    const auto mix = parse_quant_mix(std::string(t.name) + ":embd");
    ASSERT_FALSE(mix.is_ok());
    EXPECT_NE(mix.status().message().find("reads type '" + std::string(t.name) + "' but does not write it"),
              std::string::npos)
        << mix.status().message();
    EXPECT_TRUE(parse_quant_mix("q8_0:embd").is_ok());
}

// ---------------------------------------------------------------- dequantization against gguf-py

TEST_P(ReadOnlyType, DequantizesBitForBitAsGgufPy) {
    const TypeFacts& t = GetParam();
    const Reference r = read_reference(t);
    ASSERT_GT(r.n_blocks, 0u);
    ASSERT_EQ(r.ggml_id, t.ggml_id);
    ASSERT_EQ(r.block_elements, uint32_t(t.block_elements));
    ASSERT_EQ(r.block_bytes, uint32_t(t.block_bytes));

    // The whole reference as one row, with guard values after it that must survive.
    const size_t n = r.expected.size();
    constexpr size_t kGuard = 64;
    std::vector<float> got(n + kGuard, std::numeric_limits<float>::quiet_NaN());
    dequantize_row(t.type, r.blocks.data(), got.data(), int64_t(n));
    EXPECT_TRUE(same_bits(got.data(), r.expected.data(), n, t.block_elements)) << t.name;
    for (size_t i = n; i < n + kGuard; ++i) ASSERT_TRUE(std::isnan(got[i])) << t.name << " wrote past the row's end";

    // Rows of 1, 2 and 3 blocks at every position give the same values.
    for (uint32_t row_blocks : {1u, 2u, 3u}) {
        std::vector<float> part(size_t(row_blocks) * t.block_elements);
        for (uint32_t b = 0; b + row_blocks <= r.n_blocks; b += row_blocks) {
            dequantize_row(t.type, r.blocks.data() + size_t(b) * t.block_bytes, part.data(), int64_t(part.size()));
            ASSERT_TRUE(
                same_bits(part.data(), r.expected.data() + size_t(b) * t.block_elements, part.size(), t.block_elements))
                << t.name << ", a row of " << row_blocks << " blocks starting at block " << b;
        }
    }
}

// ---------------------------------------------------------------- GGUF files

// gguf_types.gguf, written by gguf-py's GGUFWriter: one tensor per type, named after it,
// of two rows of two blocks (the reference's first four blocks).
TEST_P(ReadOnlyType, GgufFileFromGgufPyParsesAndDequantizes) {
    const TypeFacts& t = GetParam();
    auto g = GgufFile::open(test::data_dir() + "/quant/gguf_types.gguf");
    ASSERT_TRUE(g.is_ok()) << g.status().message();
    const GgufTensorInfo* info = g.value().find_tensor(t.name);
    ASSERT_NE(info, nullptr) << "no tensor '" << t.name << "'";
    EXPECT_EQ(info->type, t.type);
    EXPECT_EQ(info->dims, (std::vector<int64_t>{2 * t.block_elements, 2}));
    EXPECT_EQ(info->n_bytes, uint64_t(4 * t.block_bytes));

    const Reference r = read_reference(t);
    ASSERT_GE(r.n_blocks, 4u);
    ASSERT_EQ(std::memcmp(info->data, r.blocks.data(), size_t(4 * t.block_bytes)), 0) << "the tensor's bytes";
    std::vector<float> row(size_t(2 * t.block_elements));
    for (int64_t i = 0; i < 2; ++i) {
        dequantize_row(info->type, info->data + i * 2 * t.block_bytes, row.data(), int64_t(row.size()));
        EXPECT_TRUE(same_bits(row.data(), r.expected.data() + i * int64_t(row.size()), row.size(), t.block_elements))
            << t.name << " row " << i;
    }
}

// A file of one TQ2_0 tensor [256, 1] (66 bytes) whose shape and type are then rewritten.
struct PatchedFile {
    std::vector<uint8_t> bytes;
    size_t type_at = 0;  // offset of the tensor's u32 ggml type; its two u64 dims come just before

    PatchedFile() {
        GgufWriter w;
        w.set_string("general.architecture", "llama");
        static const std::vector<uint8_t> data(66, 0x11);
        EXPECT_TRUE(w.add_tensor("w", {256, 1}, DType::TQ2_0, data.data(), data.size()).is_ok());
        bytes = w.to_bytes();
        // The tensor record: u64 name length, "w", u32 n_dims (2), two u64 dims, then the type.
        static const uint8_t record[] = {1, 0, 0, 0, 0, 0, 0, 0, 'w', 2, 0, 0, 0};
        const auto it = std::search(bytes.begin(), bytes.end(), std::begin(record), std::end(record));
        EXPECT_NE(it, bytes.end());
        type_at = size_t(it - bytes.begin()) + sizeof record + 16;
    }
    Result<GgufFile> parse_as(uint32_t ggml_type, uint64_t row_length = 256, uint64_t rows = 1) const {
        std::vector<uint8_t> b = bytes;
        std::memcpy(b.data() + type_at - 16, &row_length, 8);
        std::memcpy(b.data() + type_at - 8, &rows, 8);
        std::memcpy(b.data() + type_at, &ggml_type, 4);
        return GgufFile::parse(MappedFile::from_bytes(std::move(b)), "patched.gguf");
    }
};

::testing::AssertionResult fails_with(const Result<GgufFile>& parsed, const std::string& words) {
    if (parsed.is_ok()) return ::testing::AssertionFailure() << "parsed, expected an error with '" << words << "'";
    if (parsed.status().message().find(words) == std::string::npos)
        return ::testing::AssertionFailure() << "'" << parsed.status().message() << "' lacks '" << words << "'";
    return ::testing::AssertionSuccess();
}

TEST(DequantizeTypes, ParserChecksTheNewTypesBlockSizesAndBytes) {
    const PatchedFile file;
    auto tq2 = file.parse_as(35);
    ASSERT_TRUE(tq2.is_ok()) << tq2.status().message();
    EXPECT_EQ(tq2.value().tensors()[0].n_bytes, 66u);

    // The same bytes read as Q2_K: 84 bytes for the block, still inside the padded data.
    auto q2k = file.parse_as(10);
    ASSERT_TRUE(q2k.is_ok()) << q2k.status().message();
    EXPECT_EQ(q2k.value().tensors()[0].type, DType::Q2_K);
    EXPECT_EQ(q2k.value().tensors()[0].n_bytes, 84u);

    // IQ4_XS needs 136 bytes, more than the file holds.
    EXPECT_TRUE(fails_with(file.parse_as(23), "needs 136 bytes"));
    // Rows of 64 do not divide into 256-weight blocks; as IQ4_NL they do, but 4 rows of
    // 64 take 8 blocks of 18 bytes.
    EXPECT_TRUE(fails_with(file.parse_as(10, 64, 4), "row length 64 is not a multiple of the q2_k block size 256"));
    EXPECT_TRUE(fails_with(file.parse_as(29, 64, 4), "row length 64 is not a multiple of the iq1_m block size 256"));
    EXPECT_TRUE(fails_with(file.parse_as(20, 64, 4), "needs 144 bytes"));

    // A type Lumen does not read gets a list of those it does, the new ones among them.
    EXPECT_TRUE(fails_with(file.parse_as(15), "ggml type 15, which Lumen does not read (expected f32, f16,"));
    EXPECT_TRUE(fails_with(file.parse_as(15), "iq1_m, tq1_0, tq2_0"));
}

INSTANTIATE_TEST_SUITE_P(GgufTypes, ReadOnlyType, ::testing::ValuesIn(kReadOnlyTypes), type_label);

}  // namespace
