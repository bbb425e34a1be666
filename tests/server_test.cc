// The HTTP server over real sockets: every endpoint, streaming, bad requests, limits, API key,
// cancellation, shutdown, and determinism under concurrency (a request's tokens do not depend on
// what it was batched with). Runs on the embedded models (models/).
#include <httplib.h>

#include <atomic>
#include <chrono>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "engine/engine.h"
#include "gtest/gtest.h"
#include "server/server.h"

namespace sculpt::server {
namespace {

using json = nlohmann::json;

const std::string kDiffusion = std::string(SCULPT_SOURCE_DIR) + "/models/sculpt-code-diffusion.gguf";
const std::string kAutoregressive = std::string(SCULPT_SOURCE_DIR) + "/models/sculpt-code-ar.gguf";

// A server on a free loopback port, serving from a thread.
class Running {
 public:
  Running(const std::string& model, ServerOptions opt) {
    auto e = Engine::Load(model);
    EXPECT_TRUE(e.ok()) << e.status().message();
    engine_ = std::move(e).value();
    opt.port = 0;
    auto s = Server::Create(engine_.get(), model, opt);
    EXPECT_TRUE(s.ok()) << s.status().message();
    server_ = std::move(s).value();
    EXPECT_TRUE(server_->Bind().ok());
    thread_ = std::thread([this] { serve_status_ = server_->Serve(); });
  }
  ~Running() { Stop(); }
  void Stop() {
    if (thread_.joinable()) {
      server_->Stop();
      thread_.join();
    }
  }
  httplib::Client Client() const {
    httplib::Client c("127.0.0.1", server_->port());
    c.set_read_timeout(120, 0);
    return c;
  }
  Engine& engine() { return *engine_; }
  int port() const { return server_->port(); }
  const Status& serve_status() const { return serve_status_; }

 private:
  std::unique_ptr<Engine> engine_;
  std::unique_ptr<Server> server_;
  std::thread thread_;
  Status serve_status_;
};

struct Reply {
  int status = 0;
  json body;
  std::string raw;
  std::string retry_after;
};

Reply Post(httplib::Client& c, const std::string& path, const std::string& body,
           const httplib::Headers& headers = {}) {
  Reply r;
  auto res = c.Post(path.c_str(), headers, body, "application/json");
  if (!res) return r;
  r.status = res->status;
  r.raw = res->body;
  r.retry_after = res->get_header_value("Retry-After");
  r.body = json::parse(res->body, nullptr, /*allow_exceptions=*/false);
  return r;
}

Reply Get(httplib::Client& c, const std::string& path, const httplib::Headers& headers = {}) {
  Reply r;
  auto res = c.Get(path.c_str(), headers);
  if (!res) return r;
  r.status = res->status;
  r.raw = res->body;
  r.body = json::parse(res->body, nullptr, false);
  return r;
}

// Server-sent events of a streamed POST: the JSON payloads, and whether [DONE] came last.
struct Stream {
  std::vector<json> events;
  bool done = false;
  int status = 0;
};

Stream PostStream(httplib::Client& c, const std::string& path, const json& body) {
  Stream s;
  std::string buf;
  httplib::Request req;
  req.method = "POST";
  req.path = path;
  req.body = body.dump();
  req.set_header("Content-Type", "application/json");
  req.content_receiver = [&](const char* data, size_t n, uint64_t, uint64_t) {
    buf.append(data, n);
    size_t pos;
    while ((pos = buf.find("\n\n")) != std::string::npos) {
      std::string ev = buf.substr(0, pos);
      buf.erase(0, pos + 2);
      if (ev.rfind("data: ", 0) != 0) continue;
      ev = ev.substr(6);
      if (ev == "[DONE]") {
        s.done = true;
      } else {
        s.events.push_back(json::parse(ev));
      }
    }
    return true;
  };
  auto res = c.send(req);
  if (res) s.status = res->status;
  return s;
}

void ExpectError(const Reply& r, int status, const std::string& param = "") {
  EXPECT_EQ(r.status, status) << r.raw;
  ASSERT_TRUE(r.body.is_object()) << r.raw;
  ASSERT_TRUE(r.body.contains("error")) << r.raw;
  EXPECT_TRUE(r.body["error"]["message"].is_string());
  EXPECT_FALSE(r.body["error"]["message"].get<std::string>().empty());
  if (!param.empty()) {
    EXPECT_EQ(r.body["error"]["param"], param) << r.raw;
  }
}

TEST(Server, HealthModelsTokenizeDetokenizeMetrics) {
  Running srv(kDiffusion, {});
  auto c = srv.Client();
  Reply h = Get(c, "/health");
  EXPECT_EQ(h.status, 200);
  EXPECT_EQ(h.body["status"], "ok");
  Reply m = Get(c, "/v1/models");
  ASSERT_EQ(m.status, 200);
  EXPECT_EQ(m.body["data"][0]["id"], "sculpt-code-diffusion");
  EXPECT_EQ(m.body["data"][0]["meta"]["diffusion"], true);

  const std::string text = "def add(a, b):\n    return a + b\n";
  Reply t = Post(c, "/tokenize", json{{"content", text}}.dump());
  ASSERT_EQ(t.status, 200) << t.raw;
  EXPECT_EQ(t.body["tokens"].get<std::vector<int32_t>>(), srv.engine().tokenizer()->Encode(text, false, true));
  Reply d = Post(c, "/detokenize", json{{"tokens", t.body["tokens"]}}.dump());
  ASSERT_EQ(d.status, 200) << d.raw;
  EXPECT_EQ(d.body["content"], text);

  // A request is counted once its response has been written (the server's logger runs after the
  // write, on the server's thread), so a client can hold the reply a moment before the count
  // moves: under load (ctest -j2) the first scrape missed it once. Scrape until it shows (5 s).
  const std::string counted = "sculpt_requests_total{route=\"/tokenize\",status=\"200\"} 1";
  Reply metrics;
  for (int i = 0; i < 500; ++i) {
    metrics = Get(c, "/metrics");
    if (metrics.raw.find(counted) != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(metrics.status, 200);
  EXPECT_NE(metrics.raw.find(counted), std::string::npos) << metrics.raw;
  EXPECT_NE(metrics.raw.find("sculpt_request_duration_seconds_count"), std::string::npos);
}

TEST(Server, CompletionStreamingAndNonStreamingAgree) {
  Running srv(kDiffusion, {});
  auto c = srv.Client();
  const json req = {{"prompt", "import os\n\n\ndef main():\n"}, {"max_tokens", 24}, {"steps", 24}, {"seed", 3}};
  Reply a = Post(c, "/v1/completions", req.dump());
  ASSERT_EQ(a.status, 200) << a.raw;
  EXPECT_EQ(a.body["object"], "text_completion");
  const std::string text = a.body["choices"][0]["text"];
  EXPECT_FALSE(text.empty());
  EXPECT_EQ(a.body["sculpt"]["ids"].size(), 24u);
  EXPECT_EQ(a.body["usage"]["prompt_tokens"].get<int>() + a.body["usage"]["completion_tokens"].get<int>(),
            a.body["usage"]["total_tokens"].get<int>());
  // The same request through the engine directly: same tokens.
  GenerateRequest g;
  g.prompt = req["prompt"];
  g.options.n_generate = 24;
  g.options.steps = 24;
  g.options.seed = 3;
  auto direct = srv.engine().Generate(g);
  ASSERT_TRUE(direct.ok());
  EXPECT_EQ(a.body["sculpt"]["ids"].get<std::vector<int32_t>>(), direct->result.ids);

  json sreq = req;
  sreq["stream"] = true;
  Stream s = PostStream(c, "/v1/completions", sreq);
  ASSERT_EQ(s.status, 200);
  EXPECT_TRUE(s.done);
  ASSERT_GE(s.events.size(), 3u);
  std::string joined;
  int64_t last_step = -1;
  for (size_t i = 0; i < s.events.size(); ++i) {
    const json& ev = s.events[i];
    joined += ev["choices"][0]["text"].get<std::string>();
    if (i + 1 < s.events.size()) {
      EXPECT_TRUE(ev["choices"][0]["finish_reason"].is_null());
      if (ev.contains("sculpt")) {
        EXPECT_GT(ev["sculpt"]["step"].get<int64_t>(), last_step);
        last_step = ev["sculpt"]["step"];
        EXPECT_TRUE(ev["sculpt"]["text_snapshot"].is_string());
      }
    }
  }
  EXPECT_EQ(joined, text);  // the deltas add up to the final text, in order
  EXPECT_EQ(last_step + 1, 24);
  const json& fin = s.events.back();
  EXPECT_FALSE(fin["choices"][0]["finish_reason"].is_null());
  EXPECT_EQ(fin["sculpt"]["ids"], a.body["sculpt"]["ids"]);
}

TEST(Server, StopStringsCutTheText) {
  Running srv(kDiffusion, {});
  auto c = srv.Client();
  const json req = {{"prompt", "def f(x):\n"}, {"max_tokens", 24}};
  Reply a = Post(c, "/v1/completions", req.dump());
  ASSERT_EQ(a.status, 200);
  const std::string text = a.body["choices"][0]["text"];
  ASSERT_GE(text.size(), 4u);
  const std::string stop = text.substr(2, 2);
  json sreq = req;
  sreq["stop"] = stop;
  Reply b = Post(c, "/v1/completions", sreq.dump());
  ASSERT_EQ(b.status, 200);
  EXPECT_EQ(b.body["choices"][0]["text"], text.substr(0, text.find(stop)));
  EXPECT_EQ(b.body["choices"][0]["finish_reason"], "stop");
  sreq["stream"] = true;
  Stream s = PostStream(c, "/v1/completions", sreq);
  std::string joined;
  for (const json& ev : s.events) joined += ev["choices"][0]["text"].get<std::string>();
  EXPECT_EQ(joined, text.substr(0, text.find(stop)));
  EXPECT_EQ(s.events.back()["choices"][0]["finish_reason"], "stop");
}

TEST(Server, ChatAndInfill) {
  Running srv(kDiffusion, {});
  auto c = srv.Client();
  const json chat = {{"messages", {{{"role", "system"}, {"content", "You write Python."}},
                                   {{"role", "user"}, {"content", "def square(x):"}}}},
                     {"max_tokens", 16}};
  Reply a = Post(c, "/v1/chat/completions", chat.dump());
  ASSERT_EQ(a.status, 200) << a.raw;
  EXPECT_EQ(a.body["object"], "chat.completion");
  EXPECT_EQ(a.body["choices"][0]["message"]["role"], "assistant");
  json schat = chat;
  schat["stream"] = true;
  Stream s = PostStream(c, "/v1/chat/completions", schat);
  ASSERT_TRUE(s.done);
  EXPECT_EQ(s.events.front()["object"], "chat.completion.chunk");
  EXPECT_EQ(s.events.front()["choices"][0]["delta"]["role"], "assistant");
  std::string joined;
  for (const json& ev : s.events) joined += ev["choices"][0]["delta"].value("content", "");
  EXPECT_EQ(joined, a.body["choices"][0]["message"]["content"]);

  // /infill equals Engine::Infill on the same text.
  const json inf = {{"input_prefix", "def add(a, b):\n"}, {"input_suffix", "\n\nprint(add(1, 2))\n"}, {"n_predict", 8}};
  Reply b = Post(c, "/infill", inf.dump());
  ASSERT_EQ(b.status, 200) << b.raw;
  InfillRequest ir;
  ir.segments = {"def add(a, b):\n", "\n\nprint(add(1, 2))\n"};
  ir.hole_tokens = {8};
  auto direct = srv.engine().Infill(ir);
  ASSERT_TRUE(direct.ok());
  EXPECT_EQ(b.body["content"], direct->fills[0]);
  // Insertion through /v1/completions' suffix is the same operation.
  Reply ins = Post(c, "/v1/completions", json{{"prompt", "def add(a, b):\n"}, {"suffix", "\n\nprint(add(1, 2))\n"},
                                              {"max_tokens", 8}}.dump());
  ASSERT_EQ(ins.status, 200) << ins.raw;
  EXPECT_EQ(ins.body["choices"][0]["text"], direct->fills[0]);
}

TEST(Server, BadRequestsGetJsonErrorsAndTheServerKeepsServing) {
  ServerOptions opt;
  opt.max_body_bytes = 4096;
  Running srv(kDiffusion, opt);
  auto c = srv.Client();
  ExpectError(Post(c, "/v1/completions", "{\"prompt\": "), 400);
  ExpectError(Post(c, "/v1/completions", "[1, 2]"), 400);
  ExpectError(Post(c, "/v1/completions", "{}"), 400, "prompt");
  ExpectError(Post(c, "/v1/completions", R"({"prompt": "x", "max_tokens": "ten"})"), 400, "max_tokens");
  ExpectError(Post(c, "/v1/completions", R"({"prompt": "x", "max_tokens": 0})"), 400, "max_tokens");
  ExpectError(Post(c, "/v1/completions", R"({"prompt": "x", "steps": -3})"), 400, "steps");
  ExpectError(Post(c, "/v1/completions", R"({"prompt": "x", "temperature": "hot"})"), 400, "temperature");
  ExpectError(Post(c, "/v1/completions", R"({"prompt": "x", "n": 2})"), 400, "n");
  ExpectError(Post(c, "/v1/completions", R"({"prompt": "x", "cache": "huge"})"), 400, "cache");
  ExpectError(Post(c, "/v1/completions", R"({"prompt": "x", "algorithm": "psychic"})"), 400);
  ExpectError(Post(c, "/v1/completions", R"({"prompt": [1, 999999]})"), 400, "prompt");
  ExpectError(Post(c, "/v1/chat/completions", R"({"messages": "hi"})"), 400, "messages");
  ExpectError(Post(c, "/v1/chat/completions", R"({"messages": [{"role": "wizard", "content": "x"}]})"), 400, "messages");
  ExpectError(Post(c, "/infill", R"({"prompt": "x"})"), 400, "input_prefix");
  ExpectError(Post(c, "/detokenize", R"({"tokens": ["a"]})"), 400, "tokens");
  ExpectError(Post(c, "/tokenize", R"({"text": "a"})"), 400, "content");
  Reply model = Post(c, "/v1/completions", R"({"model": "gpt-5", "prompt": "x"})");
  ExpectError(model, 404, "model");
  EXPECT_EQ(model.body["error"]["code"], "model_not_found");
  ExpectError(Get(c, "/v2/everything"), 404);
  // Over the body limit: 413; under it but over the canvas: 400 context_length_exceeded.
  ExpectError(Post(c, "/v1/completions", json{{"prompt", std::string(8000, 'x')}}.dump()), 413);
  std::string words;
  for (int i = 0; i < 600; ++i) words += " q" + std::to_string(i % 10);
  Reply canvas = Post(c, "/v1/completions", json{{"prompt", words}, {"max_tokens", 16}}.dump());
  ExpectError(canvas, 400);
  EXPECT_EQ(canvas.body["error"]["code"], "context_length_exceeded");
  // Still serving.
  EXPECT_EQ(Get(c, "/health").status, 200);
  Reply ok = Post(c, "/v1/completions", R"({"prompt": "import sys\n", "max_tokens": 4})");
  EXPECT_EQ(ok.status, 200) << ok.raw;
  EXPECT_NE(Get(c, "/metrics").raw.find("status=\"400\""), std::string::npos);
}

TEST(Server, APortInUseIsAnErrorNotASharedPort) {
  Running a(kDiffusion, {});
  auto engine = Engine::Load(kDiffusion);
  ASSERT_TRUE(engine.ok());
  ServerOptions opt;
  opt.port = a.port();
  auto b = Server::Create(engine->get(), kDiffusion, opt);
  ASSERT_TRUE(b.ok());
  const Status s = (*b)->Bind();
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("cannot listen"), std::string::npos) << s.message();
}

TEST(Server, ApiKey) {
  ServerOptions opt;
  opt.api_key = "sekrit";
  Running srv(kDiffusion, opt);
  auto c = srv.Client();
  EXPECT_EQ(Get(c, "/health").status, 200);
  ExpectError(Get(c, "/v1/models"), 401);
  ExpectError(Post(c, "/v1/completions", R"({"prompt": "x"})", {{"Authorization", "Bearer wrong"}}), 401);
  EXPECT_EQ(Get(c, "/v1/models", {{"Authorization", "Bearer sekrit"}}).status, 200);
  EXPECT_EQ(Post(c, "/v1/completions", R"({"prompt": "x", "max_tokens": 2})", {{"Authorization", "Bearer sekrit"}}).status, 200);
}

TEST(Server, ConcurrentRequestsGiveTheSameTokensAsAlone) {
  ServerOptions opt;
  opt.parallel = 8;
  Running srv(kDiffusion, opt);
  const std::vector<std::string> prompts = {
      "import os\n", "def main():\n", "class Stack:\n", "for i in range(10):\n",
      "# Read a file\n", "def parse(text):\n    \"\"\"", "x = [", "async def fetch(url):\n"};
  auto request = [&](size_t i) {
    json r = {{"prompt", prompts[i]}, {"max_tokens", 12 + static_cast<int>(i) * 3}, {"seed", i}};
    if (i % 2) r["temperature"] = 0.7;  // sampled requests too: the seed decides
    if (i == 3) r["block_length"] = 6;
    return r.dump();
  };
  std::vector<json> alone(prompts.size()), together(prompts.size());
  for (size_t i = 0; i < prompts.size(); ++i) {
    auto c = srv.Client();
    Reply r = Post(c, "/v1/completions", request(i));
    ASSERT_EQ(r.status, 200) << r.raw;
    alone[i] = r.body["sculpt"]["ids"];
  }
  std::vector<std::thread> threads;
  for (size_t i = 0; i < prompts.size(); ++i) {
    threads.emplace_back([&, i] {
      auto c = srv.Client();
      Reply r = Post(c, "/v1/completions", request(i));
      together[i] = r.status == 200 ? r.body["sculpt"]["ids"] : json(r.raw);
    });
  }
  for (auto& t : threads) t.join();
  for (size_t i = 0; i < prompts.size(); ++i) EXPECT_EQ(together[i], alone[i]) << "request " << i;
  // The concurrent requests did share batches.
  const BatcherStats s = srv.engine().batcher()->stats();
  EXPECT_GE(s.max_batch_calls, 2);
}

TEST(Server, OverCapacityGets503AndADisconnectCancels) {
  ServerOptions opt;
  opt.parallel = 1;
  opt.max_queue = 0;
  Running srv(kDiffusion, opt);
  std::atomic<bool> started{false}, abandon{false};
  std::thread slow([&] {
    auto c = srv.Client();
    httplib::Request req;
    req.method = "POST";
    req.path = "/v1/completions";
    req.body = json{{"prompt", "def f():\n"}, {"max_tokens", 256}, {"steps", 256}, {"stream", true}}.dump();
    req.set_header("Content-Type", "application/json");
    req.content_receiver = [&](const char*, size_t, uint64_t, uint64_t) {
      started = true;
      return !abandon.load();  // false: the client hangs up
    };
    c.send(req);
  });
  while (!started.load()) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  auto c = srv.Client();
  Reply busy = Post(c, "/v1/completions", R"({"prompt": "x", "max_tokens": 2})");
  ExpectError(busy, 503);
  EXPECT_EQ(busy.retry_after, "1");
  abandon = true;
  slow.join();
  // The abandoned generation is cancelled well before its 256 steps, and its slot comes back.
  bool cancelled = false;
  for (int i = 0; i < 200 && !cancelled; ++i) {
    cancelled = Get(c, "/metrics").raw.find("sculpt_generations_cancelled_total 1") != std::string::npos;
    if (!cancelled) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_TRUE(cancelled) << Get(c, "/metrics").raw;
  EXPECT_EQ(Post(c, "/v1/completions", R"({"prompt": "x", "max_tokens": 2})").status, 200);
}

TEST(Server, ANonStreamingClientThatHangsUpIsCancelledToo) {
  Running srv(kDiffusion, {});
  {
    httplib::Client impatient("127.0.0.1", srv.port());
    impatient.set_read_timeout(0, 300000);  // gives up after 0.3 s of a ~6 s generation
    auto res = impatient.Post("/v1/completions", R"({"prompt": "def f():\n", "max_tokens": 400, "steps": 400})",
                              "application/json");
    EXPECT_FALSE(res);
  }
  auto c = srv.Client();
  bool cancelled = false;
  for (int i = 0; i < 300 && !cancelled; ++i) {
    cancelled = Get(c, "/metrics").raw.find("sculpt_generations_cancelled_total 1") != std::string::npos;
    if (!cancelled) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_TRUE(cancelled);
}

TEST(Server, StopCancelsInFlightRequestsAndReturns) {
  ServerOptions opt;
  opt.shutdown_grace_s = 0.0;
  Running srv(kDiffusion, opt);
  std::atomic<bool> started{false};
  Stream s;
  std::thread slow([&] {
    auto c = srv.Client();
    std::string buf;
    httplib::Request req;
    req.method = "POST";
    req.path = "/v1/completions";
    req.body = json{{"prompt", "def f():\n"}, {"max_tokens", 400}, {"steps", 400}, {"stream", true}}.dump();
    req.set_header("Content-Type", "application/json");
    req.content_receiver = [&](const char* d, size_t n, uint64_t, uint64_t) {
      started = true;
      buf.append(d, n);
      return true;
    };
    c.send(req);
    size_t pos;
    while ((pos = buf.find("\n\n")) != std::string::npos) {
      const std::string ev = buf.substr(6, pos - 6);
      buf.erase(0, pos + 2);
      if (ev == "[DONE]") s.done = true;
      else s.events.push_back(json::parse(ev));
    }
  });
  while (!started.load()) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  srv.Stop();  // returns once Serve() has returned
  slow.join();
  EXPECT_TRUE(srv.serve_status().ok());
  ASSERT_FALSE(s.events.empty());
  EXPECT_EQ(s.events.back()["choices"][0]["finish_reason"], "cancelled");
  EXPECT_LT(s.events.size(), 400u);
}

TEST(Server, AutoregressiveModelOnTheSameEndpoints) {
  Running srv(kAutoregressive, {});
  auto c = srv.Client();
  const json req = {{"prompt", "def main():\n"}, {"max_tokens", 16}};
  Reply a = Post(c, "/v1/completions", req.dump());
  ASSERT_EQ(a.status, 200) << a.raw;
  EXPECT_EQ(a.body["sculpt"]["mode"], "autoregressive");
  json sreq = req;
  sreq["stream"] = true;
  Stream s = PostStream(c, "/v1/completions", sreq);
  std::string joined;
  for (const json& ev : s.events) joined += ev["choices"][0]["text"].get<std::string>();
  EXPECT_EQ(joined, a.body["choices"][0]["text"]);
  Reply inf = Post(c, "/infill", json{{"input_prefix", "def add(a, b):\n"}, {"input_suffix", "\n"}, {"n_predict", 8}}.dump());
  EXPECT_EQ(inf.status, 200) << inf.raw;
}

}  // namespace
}  // namespace sculpt::server
