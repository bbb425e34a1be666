// Tokenization throughput on Python source (the interpreter's standard library as installed by
// Debian), one thread. Target (issue 3): >= 10 MB/s with the gpt-2 vocabulary.
//   build/bench/tokenizer_bench [--vocab PATH] [--corpus DIR]   (defaults: reference gpt-2 vocab,
//   the first of /usr/lib/python3.*/ found)
#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "denoiser/gguf/gguf.h"
#include "tokenizer/tokenizer.h"

namespace {

namespace fs = std::filesystem;

std::string g_vocab, g_corpus_dir;
std::string g_text;                 // all files, concatenated (decode benchmark)
std::vector<std::string> g_files;   // file by file (encode benchmarks)
std::unique_ptr<sculpt::Tokenizer> g_tok;

void LoadCorpus(const fs::path& dir, size_t max_bytes) {
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().extension() == ".py") files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  for (const auto& f : files) {
    std::ifstream in(f, std::ios::binary);
    g_files.emplace_back(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    g_text += g_files.back();
    if (g_text.size() >= max_bytes) break;
  }
}

size_t EncodeAll() {
  size_t tokens = 0;
  for (const std::string& f : g_files) {
    auto ids = g_tok->Encode(f);
    tokens += ids.size();
    benchmark::DoNotOptimize(ids.data());
  }
  return tokens;
}

void BM_EncodePythonSource(benchmark::State& state) {
  size_t tokens = 0;
  for (auto _ : state) tokens = EncodeAll();
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * g_text.size()));
  state.counters["tokens"] = static_cast<double>(tokens);
  state.counters["bytes_per_token"] = static_cast<double>(g_text.size()) / tokens;
}
BENCHMARK(BM_EncodePythonSource)->Unit(benchmark::kMillisecond)->MinTime(2.0);

void BM_DecodePythonSource(benchmark::State& state) {
  const auto ids = g_tok->Encode(g_text);
  for (auto _ : state) {
    auto text = g_tok->Decode(ids);
    benchmark::DoNotOptimize(text->data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * g_text.size()));
}
BENCHMARK(BM_DecodePythonSource)->Unit(benchmark::kMillisecond);

}  // namespace

int main(int argc, char** argv) {
  g_vocab = std::string(SCULPT_SOURCE_DIR) + "/../shared/reference/tokenizer/ggml-vocab-gpt-2.gguf";
  for (const char* dir : {"/usr/lib/python3.11", "/usr/lib/python3.12", "/usr/lib/python3.13",
                          "/usr/lib/python3.10", "/usr/lib/python3.9"}) {
    if (fs::is_directory(dir)) {
      g_corpus_dir = dir;
      break;
    }
  }
  for (int i = 1; i + 1 < argc; ++i) {
    if (!std::strcmp(argv[i], "--vocab")) g_vocab = argv[i + 1];
    if (!std::strcmp(argv[i], "--corpus")) g_corpus_dir = argv[i + 1];
  }
  if (g_corpus_dir.empty() || !fs::exists(g_vocab)) {
    std::fprintf(stderr, "tokenizer_bench: need a Python stdlib folder and the gpt-2 vocab (%s)\n",
                 g_vocab.c_str());
    return 1;
  }
  auto file = sculpt::gguf::File::Open(g_vocab);
  if (!file.ok()) return std::fprintf(stderr, "%s\n", file.status().message().c_str()), 1;
  auto tok = sculpt::Tokenizer::FromGguf(*file);
  if (!tok.ok()) return std::fprintf(stderr, "%s\n", tok.status().message().c_str()), 1;
  g_tok = std::move(tok).value();
  LoadCorpus(g_corpus_dir, 4u << 20);
  std::printf("vocab %s, corpus %s: %zu files, %.2f MB of Python source, 1 thread\n",
              g_vocab.c_str(), g_corpus_dir.c_str(), g_files.size(), g_text.size() / 1e6);
  {
    // The first pass over the corpus fills the per-thread word cache as it goes; later
    // iterations of the benchmarks below find every word cached.
    const auto t0 = std::chrono::steady_clock::now();
    const size_t tokens = EncodeAll();
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("first pass (cold word cache): %.2f MB/s, %zu tokens\n", g_text.size() / 1e6 / s,
                tokens);
  }
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  return 0;
}
