// Outside the Lumen repo: prints llama.cpp greedy ids for a prompt, with llama.cpp's own
// top1-top2 logit margin at each generated step. usage: refids MODEL PROMPT_FILE N_GEN
#include <algorithm>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>
#include "llama.h"
int main(int argc, char** argv) {
    if (argc < 4) {
        fprintf(stderr, "usage\n");
        return 1;
    }
    std::ifstream f(argv[2]);
    std::stringstream ss;
    ss << f.rdbuf();
    std::string prompt = ss.str();
    int n_gen = atoi(argv[3]);
    llama_backend_init();
    llama_log_set([](ggml_log_level, const char*, void*) {}, nullptr);
    auto mp = llama_model_default_params();
    llama_model* model = llama_model_load_from_file(argv[1], mp);
    const llama_vocab* vocab = llama_model_get_vocab(model);
    std::vector<llama_token> toks(prompt.size() + 16);
    int n = llama_tokenize(vocab, prompt.c_str(), prompt.size(), toks.data(), toks.size(), true, true);
    toks.resize(n);
    auto cp = llama_context_default_params();
    cp.n_threads = 2;
    cp.n_threads_batch = 2;
    llama_context* ctx = llama_init_from_model(model, cp);
    const int nv = llama_vocab_n_tokens(vocab);
    printf("prompt");
    for (auto t : toks) printf(" %d", t);
    printf("\n");
    llama_batch batch = llama_batch_get_one(toks.data(), toks.size());
    llama_token cur;
    for (int i = 0; i < n_gen; ++i) {
        if (llama_decode(ctx, batch)) {
            fprintf(stderr, "decode failed\n");
            return 1;
        }
        const float* lg = llama_get_logits_ith(ctx, -1);
        int top = int(std::max_element(lg, lg + nv) - lg);
        float second = -1e30f;
        for (int v = 0; v < nv; ++v)
            if (v != top) second = std::max(second, lg[v]);
        printf("%d %.5f\n", top, lg[top] - second);
        cur = top;
        if (llama_vocab_is_eog(vocab, cur)) break;
        batch = llama_batch_get_one(&cur, 1);
    }
    llama_free(ctx);
    llama_model_free(model);
    return 0;
}
