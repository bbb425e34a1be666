// Every case in ../shared/reference/generate (official LLaDA, Dream and Fast-dLLM sampling code at
// temperature 0): `sculpt generate --json` with the case's sculpt_args plus --no-early-stop
// returns exactly the expected ids, with the same commits at every step.
#include <sys/wait.h>

#include <array>
#include <cstdio>

#include "tests/test_util.h"

namespace sculpt {
namespace {

namespace fs = std::filesystem;

std::string Quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

TEST(ReferenceGenerate, EveryCaseIsExact) {
  SCULPT_REQUIRE_REFERENCE(ref);
  std::vector<fs::path> cases;
  for (const auto& e : fs::directory_iterator(ref / "generate")) {
    if (e.path().extension() == ".json") cases.push_back(e.path());
  }
  std::sort(cases.begin(), cases.end());
  ASSERT_FALSE(cases.empty());
  int exact = 0;
  for (const fs::path& path : cases) {
    SCOPED_TRACE(path.filename().string());
    const auto c = testing::ReadJson(path);
    std::string cmd = std::string(SCULPT_BINARY) + " generate -m " +
                      (ref / "models" / c["model"].get<std::string>()).string();
    for (const auto& a : c["sculpt_args"]) cmd += " " + Quote(a.get<std::string>());
    cmd += " --no-early-stop --json 2>&1";
    FILE* p = popen(cmd.c_str(), "r");
    std::string out;
    std::array<char, 4096> buf;
    for (size_t n; (n = fread(buf.data(), 1, buf.size(), p)) > 0;) out.append(buf.data(), n);
    ASSERT_EQ(pclose(p), 0) << out;
    const auto got = nlohmann::json::parse(out);
    EXPECT_EQ(got["ids"], c["expected_ids"]);
    EXPECT_EQ(got["commits_per_step"], c["commits_per_step"]);
    EXPECT_EQ(got["steps"], c["steps_run"]);
    exact += got["ids"] == c["expected_ids"];
  }
  std::printf("  %d of %zu reference generations exact\n", exact, cases.size());
  EXPECT_EQ(exact, static_cast<int>(cases.size()));
}

}  // namespace
}  // namespace sculpt
