// The sculpt binary from outside: info and logits on reference models, and one clear error line
// with a non-zero exit on bad input, never a half-written output file.
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <map>

#include "tests/test_util.h"

namespace sculpt {
namespace {

namespace fs = std::filesystem;

struct CliRun {
  int code = -1;
  std::string out, err;
};

CliRun Sculpt(const std::string& args) {
  static int counter = 0;  // one file per call and process: ctest runs tests in parallel
  const fs::path err_file = fs::path(::testing::TempDir()) /
                            ("sculpt_cli_stderr." + std::to_string(getpid()) + "." +
                             std::to_string(counter++) + ".txt");
  const std::string cmd = std::string(SCULPT_BINARY) + " " + args + " 2>" + err_file.string();
  CliRun r;
  FILE* p = popen(cmd.c_str(), "r");
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) r.out.append(buf.data(), n);
  const int status = pclose(p);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128;
  std::ifstream f(err_file);
  r.err.assign(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
  fs::remove(err_file);
  return r;
}

void ExpectOneErrorLine(const CliRun& r) {
  EXPECT_NE(r.code, 0);
  EXPECT_EQ(r.err.rfind("sculpt: error: ", 0), 0u) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
}

fs::path Scratch(const std::string& name) {
  const fs::path dir = fs::path(::testing::TempDir()) / ("sculpt_cli." + std::to_string(getpid()));
  fs::create_directories(dir);
  fs::remove(dir / name);
  return dir / name;
}

TEST(Cli, InfoOnEveryReferenceModel) {
  SCULPT_REQUIRE_REFERENCE(ref);
  // What each model file is, according to the reference cases that use it.
  std::map<std::string, nlohmann::json> cases;
  for (const auto& e : fs::directory_iterator(ref / "logits")) {
    if (e.path().extension() == ".json") {
      const auto c = testing::ReadJson(e.path());
      cases[c["model"]] = c;
    }
  }
  int n = 0;
  for (const auto& e : fs::directory_iterator(ref / "models")) {
    if (e.path().extension() != ".gguf") continue;
    SCOPED_TRACE(e.path().string());
    const CliRun r = Sculpt("info -m " + e.path().string());
    EXPECT_EQ(r.code, 0) << r.err;
    ASSERT_TRUE(cases.count(e.path().filename().string()));
    const auto& c = cases[e.path().filename().string()];
    EXPECT_NE(r.out.find("architecture:    " + c["arch"].get<std::string>() + "\n"), std::string::npos);
    EXPECT_NE(r.out.find(c["causal"].get<bool>() ? "diffusion model: no" : "diffusion model: yes"),
              std::string::npos) << r.out;
    EXPECT_NE(r.out.find("vocab size:      " + std::to_string(c["n_vocab"].get<int>()) + "\n"),
              std::string::npos);
    if (!c["causal"].get<bool>()) {
      EXPECT_NE(r.out.find("mask " + std::to_string(c["mask_token_id"].get<int>()) + ","),
                std::string::npos) << r.out;
    }
    ++n;
  }
  EXPECT_EQ(n, static_cast<int>(cases.size()));
}

TEST(Cli, LogitsMatchTheReference) {
  SCULPT_REQUIRE_REFERENCE(ref);
  const auto c = testing::ReadJson(ref / "logits/dream-tiny.prompt_mask.json");
  std::string ids;
  for (int t : c["tokens"]) ids += std::to_string(t) + " ";
  const fs::path out = Scratch("dream.f32");
  const CliRun r = Sculpt("logits -t 2 -m " + (ref / "models/dream-tiny.gguf").string() +
                       " --tokens \"" + ids + "\" --out " + out.string());
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.err, "");  // no progress bar when stderr is not a terminal
  const auto got = testing::ReadFloats(out);
  const auto want = testing::ReadFloats(ref / "logits" / c["reference_file"].get<std::string>());
  ASSERT_EQ(got.size(), want.size());
  EXPECT_LE(testing::MaxAbsDiff(got.data(), want.data(), got.size()), 1e-4);
}

TEST(Cli, SeveralSequencesWritePrefixedFiles) {
  SCULPT_REQUIRE_REFERENCE(ref);
  const fs::path prefix = Scratch("batch");
  const CliRun r = Sculpt("logits -m " + (ref / "models/llama-tiny.gguf").string() +
                       " --tokens \"506 1 2\" --tokens \"506 7\" --out " + prefix.string());
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(fs::file_size(prefix.string() + ".0.f32"), 3u * 512 * 4);
  EXPECT_EQ(fs::file_size(prefix.string() + ".1.f32"), 2u * 512 * 4);
  // The causal model's first rows agree whichever sequence they were in.
  const auto a = testing::ReadFloats(prefix.string() + ".0.f32");
  const auto b = testing::ReadFloats(prefix.string() + ".1.f32");
  EXPECT_EQ(testing::MaxAbsDiff(a.data(), b.data(), 512), 0.0f);
}

// The tokenizer's command line reproduces llama.cpp's .out files byte for byte.
TEST(Cli, TokenizeCasesReproducesOutFiles) {
  SCULPT_REQUIRE_REFERENCE(ref);
  int n = 0;
  for (const char* dir : {"tokenizer", "models"}) {
    for (const auto& e : fs::directory_iterator(ref / dir)) {
      const std::string gguf = e.path().string();
      if (e.path().extension() != ".gguf" || !fs::exists(gguf + ".inp")) continue;
      SCOPED_TRACE(gguf);
      const CliRun r = Sculpt("tokenize -m " + gguf + " --cases " + gguf + ".inp");
      ASSERT_EQ(r.code, 0) << r.err;
      const auto want = testing::ReadBytes(gguf + ".out");
      EXPECT_EQ(r.out, std::string(want.begin(), want.end()));
      ++n;
    }
  }
  EXPECT_GE(n, 10);
}

TEST(Cli, TokenizeDetokenizeAndChat) {
  SCULPT_REQUIRE_REFERENCE(ref);
  const std::string llada = (ref / "models/llada-tiny.gguf").string();
  const CliRun ids = Sculpt("tokenize -m " + llada + " --text 'def f(x):'");
  ASSERT_EQ(ids.code, 0) << ids.err;
  const CliRun text = Sculpt("detokenize -m " + llada + " --ids '" + ids.out + "'");
  EXPECT_EQ(text.out, "def f(x):");
  const CliRun chat = Sculpt("tokenize -m " + llada + " --text hi --chat");
  ASSERT_EQ(chat.code, 0) << chat.err;
  // BOS, then <|start_header_id|> parsed as one token (llada-tiny: 506, 509).
  EXPECT_EQ(chat.out.rfind("506 509 ", 0), 0u) << chat.out;
  ExpectOneErrorLine(Sculpt("tokenize -m " + llada + " --text hi --chat --chat-template jinja"));
  ExpectOneErrorLine(Sculpt("tokenize -m " + llada));
  ExpectOneErrorLine(Sculpt("detokenize -m " + llada + " --ids '1 99999'"));
}

TEST(Cli, GenerateBadInput) {
  SCULPT_REQUIRE_REFERENCE(ref);
  const std::string m = "generate -m " + (ref / "models/llada-tiny.gguf").string();
  ExpectOneErrorLine(Sculpt(m + " -p ''"));                                    // empty prompt
  ExpectOneErrorLine(Sculpt(m));                                               // no prompt
  ExpectOneErrorLine(Sculpt(m + " --prompt-tokens '1 2' -n 5000"));            // beyond context
  ExpectOneErrorLine(Sculpt(m + " --prompt-tokens '1 2' --diffusion-steps 0"));  // steps < 1
  ExpectOneErrorLine(Sculpt(m + " --prompt-tokens '1 2' -n 32 --diffusion-block-length 5"));
  ExpectOneErrorLine(Sculpt(m + " --prompt-tokens '1 2' --diffusion-algorithm nope"));
  ExpectOneErrorLine(Sculpt(m + " --prompt-tokens '1 2' --diffusion-threshold 0.9 --diffusion-factor 1"));
  ExpectOneErrorLine(Sculpt(m + " --prompt-tokens '1 999'"));
  ExpectOneErrorLine(Sculpt(m + " --prompt-tokens '1 2' --temp -1"));
  ExpectOneErrorLine(Sculpt(m + " --prompt-tokens '1 2' --remask bogus:0.1"));
}

TEST(Cli, GenerateJsonAndTrace) {
  SCULPT_REQUIRE_REFERENCE(ref);
  const fs::path trace = Scratch("trace.json");
  const CliRun r = Sculpt("generate -m " + (ref / "models/dream-tiny.gguf").string() +
                          " -p 'def f(x):' -n 16 --diffusion-steps 8 --json --trace " + trace.string());
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["ids"].size(), 16u);
  EXPECT_EQ(j["steps"], 8);
  EXPECT_EQ(j["commits_per_step"].size(), 8u);
  EXPECT_TRUE(j["timings"].contains("total_ms"));
  const auto t = testing::ReadJson(trace);
  ASSERT_EQ(t["trace"].size(), 8u);
  EXPECT_EQ(t["trace"][7]["n_masked"], 0);
  EXPECT_EQ(t["trace"][7]["canvas"].size(), t["prompt_ids"].size() + 16);
}

TEST(Cli, InfillBadInput) {
  SCULPT_REQUIRE_REFERENCE(ref);
  const std::string m = "infill -m " + (ref / "models/llada-tiny.gguf").string();
  const fs::path file = Scratch("nohole.py");
  std::ofstream(file) << "x = 1\n";
  ExpectOneErrorLine(Sculpt(m + " --file " + file.string() + " --hole-marker '<HOLE>'"));
  ExpectOneErrorLine(Sculpt(m + " --file " + file.string()));
  ExpectOneErrorLine(Sculpt(m + " --prefix a --suffix b --hole-tokens 0"));
  const CliRun ok = Sculpt(m + " --prefix 'x = ' --suffix '\n' --hole-tokens 4 --json");
  ASSERT_EQ(ok.code, 0) << ok.err;
  EXPECT_EQ(nlohmann::json::parse(ok.out)["hole_tokens"], 4);
}

// Every byte outside the edited lines stays identical (CRLF line ends, non-ASCII text).
TEST(Cli, EditKeepsEveryByteOutsideTheRange) {
  SCULPT_REQUIRE_REFERENCE(ref);
  const std::string before = "# caf\xc3\xa9 \xe2\x98\x95\r\ndef f(x):\r\n    y = x + 1\r\n";
  const std::string range = "    return y * 2\r\n";  // line 4
  const std::string after = "print(f(3))  # \xce\xbb\r\n";
  const fs::path file = Scratch("edit.py");
  std::ofstream(file, std::ios::binary) << before << range << after;
  const std::string m = "edit -m " + (ref / "models/llada-tiny.gguf").string() + " --file " + file.string();
  const CliRun r = Sculpt(m + " --lines 4-4");
  ASSERT_EQ(r.code, 0) << r.err;
  ASSERT_GE(r.out.size(), before.size() + after.size());
  EXPECT_EQ(r.out.substr(0, before.size()), before);
  EXPECT_EQ(r.out.substr(r.out.size() - after.size() - 2), "\r\n" + after);
  // --in-place writes the same bytes into the file.
  ASSERT_EQ(Sculpt(m + " --lines 4-4 --in-place").code, 0);
  const auto written = testing::ReadBytes(file);
  EXPECT_EQ(std::string(written.begin(), written.end()), r.out);
  // Errors leave the file untouched.
  const auto untouched = testing::ReadBytes(file);
  ExpectOneErrorLine(Sculpt(m + " --lines 9-12 --in-place"));
  ExpectOneErrorLine(Sculpt(m + " --lines 3-2 --in-place"));
  ExpectOneErrorLine(Sculpt(m + " --lines x --in-place"));
  ExpectOneErrorLine(Sculpt(m + " --lines 1-2 --in-place --diffusion-steps 0"));
  EXPECT_EQ(testing::ReadBytes(file), untouched);
}

TEST(Cli, BadInputGivesOneLineAndNoOutput) {
  SCULPT_REQUIRE_REFERENCE(ref);
  const std::string model = (ref / "models/llada-tiny.gguf").string();
  const fs::path out = Scratch("never.f32");
  ExpectOneErrorLine(Sculpt("logits -m " + model + " --tokens \"1 2 9999\" --out " + out.string()));
  ExpectOneErrorLine(Sculpt("logits -m " + model + " --tokens \"1 x 3\" --out " + out.string()));
  ExpectOneErrorLine(Sculpt("logits -m " + model + " --tokens \"\" --out " + out.string()));
  ExpectOneErrorLine(Sculpt("logits -m /nonexistent.gguf --tokens 1 --out " + out.string()));
  EXPECT_FALSE(fs::exists(out));
  ExpectOneErrorLine(Sculpt("logits -m " + model + " --tokens 1 --out /nonexistent-dir/x.f32"));

  const fs::path broken = Scratch("broken.gguf");
  const auto bytes = testing::ReadBytes(model);
  std::ofstream(broken, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()), 5000);
  ExpectOneErrorLine(Sculpt("info -m " + broken.string()));
  ExpectOneErrorLine(Sculpt("info -m " + std::string(SCULPT_SOURCE_DIR) + "/CMakeLists.txt"));
  ExpectOneErrorLine(Sculpt("info"));
  ExpectOneErrorLine(Sculpt("info -m " + model + " --no-such-flag"));
  ExpectOneErrorLine(Sculpt("no-such-command"));
}

}  // namespace
}  // namespace sculpt

namespace sculpt {
namespace {

// Without -m, generate, infill and edit run the embedded diffusion model (models/).
TEST(Cli, GenerateInfillAndEditDefaultToTheEmbeddedModel) {
  const std::string model = (fs::path(SCULPT_SOURCE_DIR) / "models" / "sculpt-code-diffusion.gguf").string();
  ASSERT_TRUE(fs::exists(model));
  for (const std::string args : {"generate -p 'import os\n' -n 8 --json -t 1",
                                 "infill --prefix 'def f(x):\n' --suffix '\n    return y\n' --hole-tokens 6 --json -t 1"}) {
    const CliRun implicit = Sculpt(args);
    const CliRun explicit_m = Sculpt(args + " -m " + model);
    ASSERT_EQ(implicit.code, 0) << implicit.err;
    ASSERT_EQ(explicit_m.code, 0) << explicit_m.err;
    const auto a = nlohmann::json::parse(implicit.out), b = nlohmann::json::parse(explicit_m.out);
    EXPECT_EQ(a["ids"], b["ids"]) << args;
    EXPECT_FALSE(a["ids"].empty());
  }
  const CliRun edit = Sculpt("edit --help");
  EXPECT_EQ(edit.code, 0);
  const size_t m = edit.out.find("-m,--model");
  ASSERT_NE(m, std::string::npos);
  const std::string line = edit.out.substr(m, edit.out.find('\n', m) - m);
  EXPECT_EQ(line.find("REQUIRED"), std::string::npos) << "edit still requires -m: " << line;
}

}  // namespace
}  // namespace sculpt
