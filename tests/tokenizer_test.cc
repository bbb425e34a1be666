// Tokenizers against llama.cpp's test vectors: every vocabulary in ../shared/reference/tokenizer and
// the tiny models' own vectors, case by case; round trips; streaming decode; bad input.
#include "tokenizer/tokenizer.h"
#include "tokenizer/unicode.h"

#include <sstream>

#include "tests/test_util.h"

namespace sculpt {
namespace {

namespace fs = std::filesystem;

// llama.cpp's .inp format: cases separated (and terminated) by "\n__ggml_vocab_test__\n".
std::vector<std::string> ReadCases(const fs::path& inp) {
  const auto bytes = testing::ReadBytes(inp);
  const std::string text(bytes.begin(), bytes.end());
  const std::string sep = "\n__ggml_vocab_test__\n";
  std::vector<std::string> cases;
  size_t pos = 0;
  for (size_t found; (found = text.find(sep, pos)) != std::string::npos; pos = found + sep.size()) {
    cases.push_back(text.substr(pos, found - pos));
  }
  return cases;
}

std::vector<std::vector<int32_t>> ReadExpected(const fs::path& out) {
  std::ifstream f(out);
  std::vector<std::vector<int32_t>> all;
  std::string line;
  while (std::getline(f, line)) {
    std::istringstream ss(line);
    std::vector<int32_t> ids;
    for (int32_t id; ss >> id;) ids.push_back(id);
    all.push_back(std::move(ids));
  }
  return all;
}

std::string Ids(const std::vector<int32_t>& ids) {
  std::string s;
  for (int32_t id : ids) s += " " + std::to_string(id);
  return s;
}

std::unique_ptr<Tokenizer> Load(const fs::path& gguf) {
  auto file = gguf::File::Open(gguf.string());
  EXPECT_TRUE(file.ok()) << file.status().message();
  auto t = Tokenizer::FromGguf(*file);
  EXPECT_TRUE(t.ok()) << gguf << ": " << t.status().message();
  return t.ok() ? std::move(t).value() : nullptr;
}

// Every vocabulary file that has .inp/.out vectors beside it.
std::vector<fs::path> VocabsWithVectors(const fs::path& ref) {
  std::vector<fs::path> out;
  for (const char* dir : {"tokenizer", "models"}) {
    for (const auto& e : fs::directory_iterator(ref / dir)) {
      if (e.path().extension() == ".gguf" && fs::exists(e.path().string() + ".inp")) out.push_back(e.path());
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

TEST(Tokenizer, MatchesLlamaCppVectors) {
  SCULPT_REQUIRE_REFERENCE(ref);
  const auto vocabs = VocabsWithVectors(ref);
  ASSERT_GE(vocabs.size(), 10u);
  for (const fs::path& gguf : vocabs) {
    SCOPED_TRACE(gguf.filename().string());
    auto tok = Load(gguf);
    ASSERT_TRUE(tok);
    const auto cases = ReadCases(gguf.string() + ".inp");
    const auto expected = ReadExpected(gguf.string() + ".out");
    ASSERT_EQ(cases.size(), expected.size());
    int failed = 0;
    for (size_t i = 0; i < cases.size(); ++i) {
      const auto got = tok->Encode(cases[i], /*add_special=*/false, /*parse_special=*/false);
      if (got != expected[i]) {
        ++failed;
        ADD_FAILURE() << "case " << i << " input: [" << cases[i] << "]\n  expected:" << Ids(expected[i])
                      << "\n  actual:  " << Ids(got);
      }
    }
    std::printf("  %-36s %zu cases, %d failed\n", gguf.filename().string().c_str(), cases.size(), failed);
  }
}

// Byte-complete vocabularies (byte-level BPE, SentencePiece with byte fallback) represent any
// valid UTF-8 text; WordPiece normalizes (case, accents, spaces), so only re-encoding is stable.
TEST(Tokenizer, RoundTripsEveryCase) {
  SCULPT_REQUIRE_REFERENCE(ref);
  for (const fs::path& gguf : VocabsWithVectors(ref)) {
    SCOPED_TRACE(gguf.filename().string());
    auto tok = Load(gguf);
    ASSERT_TRUE(tok);
    for (const std::string& c : ReadCases(gguf.string() + ".inp")) {
      const auto ids = tok->Encode(c);
      const auto text = tok->Decode(ids);
      ASSERT_TRUE(text.ok());
      if (tok->vocab().type == VocabType::kWpm) {  // [UNK] renders as nothing
        std::vector<int32_t> known;
        for (int32_t id : ids) if (id != tok->vocab().unk) known.push_back(id);
        EXPECT_EQ(tok->Encode(*text), known) << "[" << c << "]";
      } else {
        EXPECT_EQ(*text, c) << Ids(ids);
      }
    }
  }
}

fs::path Model(const fs::path& ref, const char* name) { return ref / "models" / name; }

TEST(Tokenizer, EmptyInput) {
  SCULPT_REQUIRE_REFERENCE(ref);
  auto llada = Load(Model(ref, "llada-tiny.gguf"));  // add_bos = true
  EXPECT_TRUE(llada->Encode("").empty());
  EXPECT_EQ(llada->Encode("", /*add_special=*/true), std::vector<int32_t>{506});
  auto spm = Load(ref / "tokenizer/ggml-vocab-llama-spm.gguf");
  EXPECT_TRUE(spm->Encode("").empty());
  EXPECT_EQ(*spm->Decode(std::vector<int32_t>{}), "");
}

// BPE/WordPiece: each malformed byte becomes U+FFFD (as llama.cpp); SentencePiece keeps the bytes
// through <0xNN> tokens, so they round-trip.
TEST(Tokenizer, InvalidUtf8) {
  SCULPT_REQUIRE_REFERENCE(ref);
  const std::string bad = "ok \xff\xc3 end \xe2\x82";  // stray byte, cut 2-byte and 3-byte chars
  auto bpe = Load(ref / "tokenizer/ggml-vocab-gpt-2.gguf");
  const std::string r = "\xEF\xBF\xBD";  // U+FFFD, one per byte that starts no complete character
  EXPECT_EQ(*bpe->Decode(bpe->Encode(bad)), "ok " + r + r + " end " + r + r);
  // SentencePiece keeps malformed bytes as <0xNN> tokens. As in llama.cpp, a malformed lead byte
  // takes the next bytes into its symbol, so only trailing malformed bytes round-trip exactly.
  auto spm = Load(ref / "tokenizer/ggml-vocab-llama-spm.gguf");
  const std::string trailing = "ok end \xe2\x82";
  EXPECT_EQ(*spm->Decode(spm->Encode(trailing)), trailing);
  EXPECT_NE(spm->Decode(spm->Encode(bad))->find("\xff"), std::string::npos);
  auto wpm = Load(ref / "tokenizer/ggml-vocab-bert-bge.gguf");
  EXPECT_EQ(*wpm->Decode(wpm->Encode(bad)), " ok end");
}

TEST(Tokenizer, SpecialTokensAreTextUnlessParsed) {
  SCULPT_REQUIRE_REFERENCE(ref);
  auto dream = Load(Model(ref, "dream-tiny.gguf"));
  const std::string text = "<|im_start|>user";
  const auto plain = dream->Encode(text);
  EXPECT_GT(plain.size(), 2u);
  EXPECT_EQ(std::count(plain.begin(), plain.end(), 507), 0);
  const auto parsed = dream->Encode(text, /*add_special=*/false, /*parse_special=*/true);
  ASSERT_FALSE(parsed.empty());
  EXPECT_EQ(parsed[0], 507);
  EXPECT_EQ(*dream->Decode(parsed), "user");  // control tokens render only when asked
  EXPECT_EQ(*dream->Decode(parsed, /*special=*/true), text);
  EXPECT_FALSE(dream->Decode(std::vector<int32_t>{512}).ok());
}

TEST(Tokenizer, AddSpecialFollowsTheVocabulary) {
  SCULPT_REQUIRE_REFERENCE(ref);
  auto llada = Load(Model(ref, "llada-tiny.gguf"));
  auto dream = Load(Model(ref, "dream-tiny.gguf"));
  EXPECT_EQ(llada->Encode("x", true).front(), 506);   // add_bos_token = true
  EXPECT_NE(dream->Encode("x", true).front(), 509);   // add_bos_token = false
  auto bert = Load(ref / "tokenizer/ggml-vocab-bert-bge.gguf");
  const auto ids = bert->Encode("hello", true);
  EXPECT_EQ(ids.front(), 101);
  EXPECT_EQ(ids.back(), 102);
}

// Streaming never emits a partial character, and the concatenation equals the full decode.
TEST(Tokenizer, StreamDecoderHoldsPartialCharacters) {
  SCULPT_REQUIRE_REFERENCE(ref);
  for (const char* name : {"tokenizer/ggml-vocab-gpt-2.gguf", "tokenizer/ggml-vocab-llama-spm.gguf"}) {
    SCOPED_TRACE(name);
    auto tok = Load(ref / name);
    const std::string text = "naïve 日本語 🚀 done";
    const auto ids = tok->Encode(text);
    StreamDecoder stream(*tok);
    std::string all;
    int split_chars = 0;
    for (int32_t id : ids) {
      const std::string piece = tok->Piece(id);
      split_chars += !unicode::IsValidUtf8(piece);
      const std::string out = stream.Push(id);
      EXPECT_TRUE(unicode::IsValidUtf8(out)) << id;
      all += out;
    }
    all += stream.Finish();
    EXPECT_GT(split_chars, 0) << "the text should split some character across tokens";
    EXPECT_EQ(all, *tok->Decode(ids));
    EXPECT_EQ(all, text);
  }
}

TEST(Tokenizer, StreamDecoderReplacesBytesThatNeverComplete) {
  SCULPT_REQUIRE_REFERENCE(ref);
  auto tok = Load(ref / "tokenizer/ggml-vocab-llama-spm.gguf");
  // <0xE6> <0x97> (first two bytes of a 3-byte character), then 'a': the character never completes.
  const int32_t e6 = tok->vocab().Find("<0xE6>"), x97 = tok->vocab().Find("<0x97>");
  StreamDecoder stream(*tok);
  EXPECT_EQ(stream.Push(e6), "");
  EXPECT_EQ(stream.Push(x97), "");
  std::string out = stream.Push(tok->vocab().Find("a"));
  out += stream.Finish();
  EXPECT_TRUE(unicode::IsValidUtf8(out));
  EXPECT_EQ(out, "\xEF\xBF\xBD\xEF\xBF\xBD" "a");
}

// The deepseek-llm letter class must keep its compatibility characters (see pretokenizer.cc).
TEST(Tokenizer, PretokenizerSourceKeepsCompatibilityCharacters) {
  const auto src = testing::ReadBytes(fs::path(SCULPT_SOURCE_DIR) / "tokenizer/pretokenizer.cc");
  const std::string text(src.begin(), src.end());
  for (uint32_t cp : {0x1F7Du, 0x1FBEu, 0x1FD3u, 0x1FDBu, 0x2126u, 0x212Au}) {
    std::string utf8;
    unicode::AppendUtf8(cp, &utf8);
    EXPECT_NE(text.find(utf8), std::string::npos) << std::hex << cp;
  }
}

}  // namespace
}  // namespace sculpt
