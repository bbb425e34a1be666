// sculpt-tokenize-corpus: turns a JSON-lines corpus into the uint16 token stream train.py reads,
// with Sculpt's own tokenizer, so training sees exactly the ids inference will produce.
//
// Each input line is {"text": T} (encoded, then <|endoftext|>) or {"prefix": P, "suffix": S,
// "middle": M} (fill-in-the-middle, prefix-suffix-middle order: <|fim_prefix|> P <|fim_suffix|> S
// <|fim_middle|> M <|endoftext|>, each part encoded on its own as at inference). Special-token text
// inside the code is not parsed: it stays ordinary text.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "base/file_util.h"
#include "engine/engine.h"

namespace {

int Fail(const std::string& msg) {
  std::fprintf(stderr, "sculpt-tokenize-corpus: error: %s\n", msg.c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Tokenize a JSON-lines corpus into a uint16 token file"};
  std::string model, in, out;
  app.add_option("-m,--model", model, "GGUF file with the tokenizer (vocab-only is enough)")->required();
  app.add_option("--in", in, "JSON-lines corpus")->required();
  app.add_option("--out", out, "Output .bin (uint16 little-endian ids)")->required();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  auto tok_or = sculpt::LoadTokenizer(model);
  if (!tok_or.ok()) return Fail(tok_or.status().message());
  const sculpt::Tokenizer& tok = **tok_or;
  if (tok.n_vocab() > 65536) return Fail("the vocabulary does not fit in uint16");
  auto id = [&](const std::string& text) {
    const std::vector<int32_t> ids = tok.Encode(text, false, /*parse_special=*/true);
    return ids.size() == 1 ? ids[0] : -1;
  };
  const int eot = id("<|endoftext|>"), pre = id("<|fim_prefix|>"), suf = id("<|fim_suffix|>"),
            mid = id("<|fim_middle|>");
  if (eot < 0 || pre < 0 || suf < 0 || mid < 0) return Fail("the vocabulary lacks <|endoftext|> or the FIM tokens");

  std::ifstream f(in);
  if (!f) return Fail("cannot open " + in);
  std::vector<uint16_t> ids;
  auto put = [&](const std::string& text) {
    for (int32_t t : tok.Encode(text)) ids.push_back(static_cast<uint16_t>(t));
  };
  std::string line;
  size_t docs = 0, fim = 0, n_line = 0;
  while (std::getline(f, line)) {
    ++n_line;
    nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.is_object()) return Fail(in + ":" + std::to_string(n_line) + ": not a JSON object");
    if (j.contains("text")) {
      put(j["text"].get<std::string>());
    } else if (j.contains("prefix") && j.contains("suffix") && j.contains("middle")) {
      ids.push_back(static_cast<uint16_t>(pre));
      put(j["prefix"].get<std::string>());
      ids.push_back(static_cast<uint16_t>(suf));
      put(j["suffix"].get<std::string>());
      ids.push_back(static_cast<uint16_t>(mid));
      put(j["middle"].get<std::string>());
      ++fim;
    } else {
      return Fail(in + ":" + std::to_string(n_line) + ": needs text, or prefix/suffix/middle");
    }
    ids.push_back(static_cast<uint16_t>(eot));
    ++docs;
  }
  const sculpt::Status st = sculpt::WriteFilesAtomically(
      {{out, {reinterpret_cast<const char*>(ids.data()), ids.size() * sizeof(uint16_t)}}});
  if (!st.ok()) return Fail(st.message());
  std::printf("%zu documents (%zu fill-in-the-middle), %zu tokens -> %s\n", docs, fim, ids.size(), out.c_str());
  return 0;
}
