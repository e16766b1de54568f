// lumen-cli: the engine from the command line, for scripts and benchmarks.
#include <cstdio>
#include <cstring>
#include <exception>
#include <string>
#include <vector>

#include "cli/commands.h"

namespace {

void print_usage() {
    std::puts(
        "usage: lumen-cli <command> [options]\n"
        "\n"
        "commands:\n"
        "  generate  --model PATH [--tokenizer PATH] --prompt TEXT [--max-tokens N] [--temperature T]\n"
        "            [--top-k K] [--top-p P] [--min-p P] [--repeat-penalty R] [--presence-penalty X]\n"
        "            [--frequency-penalty X] [--seed S] [--threads N] [--ctx N] [--kv FMT]\n"
        "            [--device cpu|cuda|auto] [--stop TEXT] [--chat] [--no-special] [--json] [--no-repeat-ngram N]\n"
        "            [--lookup-draft K [--lookup-ngram N] [--lookup-adaptive]]\n"
        "            [--draft-model PATH [--draft-tokens K] [--draft-adaptive]]  (same vocabulary as --model)\n"
        "            [--beams W [--beam-return N] [--length-penalty A] [--no-early-stopping]]\n"
        "  chat      --model PATH [--system TEXT] [--template NAME] [--max-tokens N] [sampling options]\n"
        "  tokenize  --model PATH [--tokenizer PATH] --text TEXT [--no-bos] [--json]\n"
        "  info      --model PATH [--tokenizer PATH] [--ctx N] [--batch N] [--kv-type FMT] [--json]\n"
        "  convert   --model PATH [--tokenizer PATH] --output OUT.gguf [--keep-layers K]\n"
        "  quantize  --input IN.gguf|IN.bin [--tokenizer PATH] --output OUT.gguf\n"
        "            --type q8_0|q4_0|q4_1|q5_0|q5_1|q4_k|q5_k|q6_k|q4_k_m|f16|bf16|f32 [--mix TYPE:embd,output,first,last]\n"
        "  synth     --preset NAME | --dim N --layers N --heads N [--kv-heads N] --ffn N  (flags override the preset)\n"
        "            [--head-dim N] [--arch llama|qwen2] [--ctx N] [--rope-theta F] [--untied] [--std S] [--seed S]\n"
        "            [--vocab VOCAB.gguf] --type TYPE --output OUT.gguf\n"
        "            presets: tinyllama-1.1b llama2-7b llama3-8b qwen2-0.5b smollm2-135m stories15m\n"
        "  bench     --model PATH [--tokenizer PATH] [-p 512[,N...]] [-n 128[,N...]] [-r 5] [-o md|json]\n"
        "            [--threads N] [--kv FMT] [--device cpu|cuda|auto] [--bandwidth-gbs X]  (0 skips a test)\n"
        "  serve-bench --model PATH [--preset long-in-short-out|short-in-long-out|long-in-long-out] [--requests N]\n"
        "            [--input-len N] [--output-len N] [--len-jitter F] [--shared-prefix F] [--rate R | --max-concurrency C]\n"
        "            [--prompts FILE] [--batch-tokens N] [--max-running N] [--no-chunked-prefill] [--no-prefix-cache]\n"
        "            [--max-itl-factor F] [--lookup-draft K | --draft-model PATH [--draft-tokens K]] [--ctx N] [--threads N] [--temperature T] [--seed S] [--n N] [--interfering-prompt N] [--steps-csv FILE] [-o md|json]\n"
        "  eval      --model PATH --text FILE [--ctx 512] [--chunks N] [--reference PATH] [--threads N] [--json]\n"
        "  calibrate --model PATH --weights FMT [--weights-mix MIX] [--calib FILE] [--calib-samples N] [--calib-tokens N]\n"
        "            [--rtn] [--json]  (per-matrix error of round-to-nearest vs GPTQ on the calibration text;\n"
        "            --rtn keeps round-to-nearest weights)\n"
        "\n"
        "model-running commands (generate, chat, bench, serve-bench, eval) also take:\n"
        "  --kv f16|f32|bf16|q8_0|q4_0|fp8-e4m3|fp8-e5m2   the KV cache's format (--kv-type is the same)\n"
        "  --weights FMT        load-time quantization: q8_0|q4_0|q4_1|q5_0|q5_1|q4_k|q5_k|q6_k|q4_k_m|f16|bf16|f32|\n"
        "                       int8-ch|int4-g32|int4-g64|int4-g128|int4-asym-g32|int4-asym-g64|int4-asym-g128|\n"
        "                       fp8-e4m3-ch|fp8-e4m3-tensor\n"
        "  --weights-mix TYPE:embd,output,first,last   keep those tensors in TYPE (mixed precision)\n"
        "  --gptq [--calib FILE] [--calib-samples N] [--calib-tokens N]   GPTQ instead of round-to-nearest\n"
        "\n"
        "Exit code 0 on success; otherwise one line on stderr says what was wrong.");
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h")) {
        print_usage();
        return argc < 2 ? 1 : 0;
    }
    const std::string command = argv[1];
    const std::vector<std::string> args(argv + 2, argv + argc);
    try {
        if (command == "generate") return lumen::cli::cmd_generate(args);
        if (command == "chat") return lumen::cli::cmd_chat(args);
        if (command == "tokenize") return lumen::cli::cmd_tokenize(args);
        if (command == "info") return lumen::cli::cmd_info(args);
        if (command == "convert") return lumen::cli::cmd_convert(args);
        if (command == "quantize") return lumen::cli::cmd_quantize(args);
        if (command == "synth") return lumen::cli::cmd_synth(args);
        if (command == "bench") return lumen::cli::cmd_bench(args);
        if (command == "serve-bench") return lumen::cli::cmd_serve_bench(args);
        if (command == "eval") return lumen::cli::cmd_eval(args);
        if (command == "calibrate") return lumen::cli::cmd_calibrate(args);
    } catch (const std::exception& e) {
        return lumen::cli::fail(std::string("internal error: ") + e.what());
    }
    return lumen::cli::fail("unknown command '" + command + "'; expected generate, chat, tokenize, info, convert, quantize, synth, bench, serve-bench, eval or calibrate");
}
