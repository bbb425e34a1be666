#include "server/server.h"

#include <httplib.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <cstdio>
#include <filesystem>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <thread>

#include "server/api.h"
#include "server/metrics.h"
#include "server/stream.h"

namespace sculpt::server {

namespace {

using Clock = std::chrono::steady_clock;

void SetError(httplib::Response& res, const ApiError& e) {
  res.status = e.status;
  res.set_content(Dump(ErrorJson(e)), "application/json");
}

// Admission: `parallel` requests run, `max_queue` wait, the rest are turned away.

class Slots {
 public:
  enum class Entry { kRun, kQueued, kFull };
  Slots(int parallel, int max_queue) : parallel_(parallel), max_queue_(max_queue) {}

  // kQueued hands out a ticket for WaitTurn: the queue is served first come, first served.
  Entry TryEnter(uint64_t* ticket) {
    std::lock_guard<std::mutex> lk(mu_);
    if (active_ < parallel_ && queue_.empty()) {
      ++active_;
      return Entry::kRun;
    }
    if (static_cast<int>(queue_.size()) < max_queue_) {
      *ticket = next_ticket_++;
      queue_.push_back(*ticket);
      return Entry::kQueued;
    }
    return Entry::kFull;
  }
  // Waits until the ticket is first in line and a slot is free; false (and leaves the queue)
  // when `give_up` says so first.
  template <typename Pred>
  bool WaitTurn(uint64_t ticket, Pred give_up) {
    std::unique_lock<std::mutex> lk(mu_);
    while (!(active_ < parallel_ && queue_.front() == ticket)) {
      if (give_up()) {
        queue_.erase(std::find(queue_.begin(), queue_.end(), ticket));
        cv_.notify_all();
        return false;
      }
      cv_.wait_for(lk, std::chrono::milliseconds(50));
    }
    queue_.pop_front();
    ++active_;
    cv_.notify_all();  // the next in line may fit too
    return true;
  }
  void Release() {
    std::lock_guard<std::mutex> lk(mu_);
    --active_;
    cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  const int parallel_, max_queue_;
  int active_ = 0;
  std::deque<uint64_t> queue_;
  uint64_t next_ticket_ = 0;
};

}  // namespace

// ---------------------------------------------------------------------------------------------

struct Server::Impl {
  Engine* engine = nullptr;
  ServerOptions opt;
  std::string model_id;
  int64_t created = 0;
  int64_t canvas_limit = 0;
  httplib::Server http;
  Metrics metrics;
  std::unique_ptr<Slots> slots;
  std::atomic<bool> stopping{false};  // no new generations
  std::atomic<bool> cancel{false};    // in-flight generations end at their next step
  std::atomic<int64_t> next_id{1};
  int bound_port = -1;

  // What one generation produced.
  struct Outcome {
    std::string text;
    GenerationResult result;
    int64_t prompt_tokens = 0, completion_tokens = 0;
    bool eog = false;  // ended by an end-of-generation token
    Status status;
  };

  void Routes();
  void InfoRoutes();
  void TokenRoutes();
  bool ReadBody(const httplib::Request& req, httplib::Response& res, json* body) const;
  void Generate(const httplib::Request& req, httplib::Response& res, Endpoint ep);
  void Run(const std::shared_ptr<Job>& job, httplib::DataSink& sink);
  Outcome Execute(const Job& job, const StepCallback& cb);
  json FinalJson(const Job& job, const Outcome& o, const std::string& text, const std::string& finish) const;
};
namespace {

// One streamed chunk: OpenAI's text_completion / chat.completion.chunk, or llama.cpp's /infill shape.
json ChunkJson(const Job& job, const std::string& model_id, const std::string& delta, const json& finish,
               const json* sculpt, bool first) {
  json c;
  if (job.endpoint == Endpoint::kInfill) {
    c = {{"content", delta}, {"stop", !finish.is_null()}};
  } else {
    const bool chat = job.endpoint == Endpoint::kChat;
    json choice = {{"index", 0}, {"finish_reason", finish}};
    if (chat) {
      json delta_obj = json::object();
      if (first) delta_obj["role"] = "assistant";
      if (!delta.empty() || first) delta_obj["content"] = delta;
      choice["delta"] = delta_obj;
    } else {
      choice["text"] = delta;
      choice["logprobs"] = nullptr;
    }
    c = {{"id", job.id}, {"object", chat ? "chat.completion.chunk" : "text_completion"},
         {"created", job.created}, {"model", model_id}, {"choices", json::array({choice})}};
  }
  if (sculpt) c["sculpt"] = *sculpt;
  return c;
}

}  // namespace

Server::Impl::Outcome Server::Impl::Execute(const Job& job, const StepCallback& cb) {
  Outcome o;
  if (job.infill) {
    auto r = engine->Infill(job.fill, cb);
    if (!r.ok()) {
      o.status = r.status();
      return o;
    }
    o.text = r->fills[0];
    o.result = std::move(r->result);
    int64_t holes = 0;
    for (int64_t h : r->hole_tokens) holes += h;
    o.prompt_tokens = static_cast<int64_t>(o.result.canvas.size()) - holes;
  } else {
    auto r = engine->Generate(job.gen, cb);
    if (!r.ok()) {
      o.status = r.status();
      return o;
    }
    o.text = r->text;
    o.result = std::move(r->result);
    o.prompt_tokens = static_cast<int64_t>(r->prompt_ids.size());
  }
  const ModelConfig& c = engine->config();
  for (int32_t id : o.result.ids) {  // a generation ends at its first end-of-generation token
    if (c.IsEog(id)) {
      o.eog = true;
      if (!job.infill) break;
    } else if (id != c.mask_id) {
      ++o.completion_tokens;
    }
  }
  return o;
}

json Server::Impl::FinalJson(const Job& job, const Outcome& o, const std::string& text, const std::string& finish) const {
  const json usage = {{"prompt_tokens", o.prompt_tokens}, {"completion_tokens", o.completion_tokens},
                      {"total_tokens", o.prompt_tokens + o.completion_tokens}};
  json sculpt = {{"ids", o.result.ids}, {"steps", o.result.steps}, {"forward_passes", o.result.forward_passes},
                 {"ms", o.result.total_ms}, {"mode", engine->config().causal ? "autoregressive" : "diffusion"}};
  if (job.stream) {  // the last chunk
    sculpt["usage"] = usage;
    return ChunkJson(job, model_id, "", finish, &sculpt, false);
  }
  if (job.endpoint == Endpoint::kInfill) {
    return {{"content", text}, {"model", model_id}, {"tokens_predicted", o.completion_tokens},
            {"tokens_evaluated", o.prompt_tokens}, {"stop", true}, {"stop_type", finish == "length" ? "limit" : "eos"},
            {"sculpt", sculpt}};
  }
  const bool chat = job.endpoint == Endpoint::kChat;
  json choice = {{"index", 0}, {"finish_reason", finish}};
  if (chat) {
    choice["message"] = {{"role", "assistant"}, {"content", text}};
  } else {
    choice["text"] = text;
    choice["logprobs"] = nullptr;
  }
  return {{"id", job.id}, {"object", chat ? "chat.completion" : "text_completion"}, {"created", job.created},
          {"model", model_id}, {"choices", json::array({choice})}, {"usage", usage}, {"sculpt", sculpt}};
}

// Runs one generation inside the response's content provider: waits for a slot (the ticket was
// taken in the handler), then writes SSE events step by step (stream) or the JSON answer at the end.
void Server::Impl::Run(const std::shared_ptr<Job>& job, httplib::DataSink& sink) {
  bool client_gone = false;
  auto write = [&](const std::string& s) {
    if (!client_gone && !sink.write(s.data(), s.size())) client_gone = true;
    return !client_gone;
  };
  auto event = [&](const json& j) { return write("data: " + Dump(j) + "\n\n"); };
  if (job->queued) {
    ++metrics.queued;
    const bool got = slots->WaitTurn(job->ticket, [&] { return cancel.load() || !sink.is_writable(); });
    --metrics.queued;
    if (!got) return;
  }
  ++metrics.in_flight;
  struct Release {
    Impl* m;
    ~Release() {
      m->slots->Release();
      --m->metrics.in_flight;
    }
  } release{this};

  const GenerationOptions& opts = job->infill ? job->fill.options : job->gen.options;
  const int64_t area = job->infill ? job->fill.hole_tokens[0] : opts.n_generate;
  // Progressive text needs one run whose committed tokens stay committed.
  const bool progressive = opts.remask == RemaskStrategy::kNone && !(job->infill && area == 0);
  Deltas deltas(*engine, std::max<int64_t>(area, 0), /*eog_ends=*/!job->infill, job->stop);
  bool first = true;
  if (job->stream && job->endpoint == Endpoint::kChat) {
    if (!event(ChunkJson(*job, model_id, "", nullptr, nullptr, true))) return;
    first = false;
  }
  StepCallback cb = [&](const StepEvent& ev) {
    if (cancel.load()) return false;
    if (!job->stream) return sink.is_writable();  // false once the client has hung up
    deltas.Apply(ev);
    json committed = json::array();
    for (const auto& [idx, tok] : ev.committed) committed.push_back({idx, tok});
    const json sculpt = {{"step", ev.step}, {"n_masked", ev.n_masked}, {"committed", committed},
                         {"remasked", ev.remasked}, {"text_snapshot", Snapshot(*engine, deltas.ids())}};
    const std::string d = progressive ? deltas.Take(false) : std::string();
    return event(ChunkJson(*job, model_id, d, nullptr, &sculpt, false)) && !deltas.stopped();
  };

  const Outcome o = Execute(*job, cb);
  metrics.Generation(o.prompt_tokens, o.completion_tokens, o.result.steps, o.result.cancelled || !o.status.ok());
  if (client_gone) return;
  if (!o.status.ok()) {  // headers are out: the error goes in the body
    const json err = ErrorJson(FromStatus(o.status));
    job->stream ? event(err) : write(Dump(err));
    return;
  }
  deltas.Finish(o.text);
  const std::string finish = o.result.cancelled && !deltas.stopped() ? "cancelled"
                             : (deltas.stopped() || o.eog || job->infill) ? "stop" : "length";
  if (!job->stream) {
    write(Dump(FinalJson(*job, o, deltas.text(), finish)));
    return;
  }
  const std::string rest = deltas.Take(true);
  if (!rest.empty() && !event(ChunkJson(*job, model_id, rest, nullptr, nullptr, first))) return;
  if (event(FinalJson(*job, o, deltas.text(), finish)) && job->endpoint != Endpoint::kInfill) {
    write("data: [DONE]\n\n");
  }
}

// The request's JSON object; false after answering 400 when it is not one (or the model has no
// tokenizer, which every route with a body needs).
bool Server::Impl::ReadBody(const httplib::Request& req, httplib::Response& res, json* body) const {
  try {
    *body = json::parse(req.body);
  } catch (const json::exception& ex) {
    SetError(res, Bad("", fmt::format("the body is not valid JSON: {}", ex.what())));
    return false;
  }
  if (!body->is_object()) {
    SetError(res, Bad("", "the body must be a JSON object"));
    return false;
  }
  if (!engine->tokenizer()) {
    SetError(res, ApiError{400, "the model file has no tokenizer"});
    return false;
  }
  return true;
}

void Server::Impl::Generate(const httplib::Request& req, httplib::Response& res, Endpoint ep) {
  json body;
  if (!ReadBody(req, res, &body)) return;
  auto job = std::make_shared<Job>();
  const ParseContext ctx{*engine, canvas_limit, opt.max_steps, model_id};
  MaybeError err = ParseJob(body, ep, ctx, job.get());
  if (err) return SetError(res, *err);
  // The canvas limit, checked here so that the answer can still be a 400.
  int64_t prompt_len = 0;
  if (job->infill) {
    for (const std::string& s : job->fill.segments) prompt_len += static_cast<int64_t>(engine->tokenizer()->Encode(s).size());
  } else {
    if (job->gen.prompt_tokens.empty()) {  // tokenized once, here, as Engine::Generate would
      job->gen.prompt_tokens = engine->tokenizer()->Encode(job->gen.prompt, /*add_special=*/true);
    }
    prompt_len = static_cast<int64_t>(job->gen.prompt_tokens.size());
  }
  const int64_t gen_len = job->infill ? std::max<int64_t>(job->fill.hole_tokens[0], kAutoHoleSizes[std::size(kAutoHoleSizes) - 1])
                                      : job->gen.options.n_generate;
  const int64_t extra = job->infill ? 3 : 0;  // fill-in-the-middle tokens of autoregressive infill
  if (prompt_len + gen_len + extra > canvas_limit) {
    ApiError e = Bad(job->infill ? "input_prefix" : "prompt",
                     fmt::format("the prompt ({} tokens) and the generation ({} tokens) exceed the {}-token "
                                 "canvas of this server", prompt_len, gen_len, canvas_limit));
    e.code = "context_length_exceeded";
    return SetError(res, e);
  }
  if (stopping.load()) {
    res.set_header("Retry-After", "5");
    return SetError(res, ApiError{503, "the server is shutting down", "", "server_error", "shutting_down"});
  }
  uint64_t ticket = 0;
  const Slots::Entry entry = slots->TryEnter(&ticket);
  if (entry == Slots::Entry::kFull) {
    ++metrics.rejected;
    res.set_header("Retry-After", "1");
    return SetError(res, ApiError{503, "the server is at capacity; retry shortly", "", "server_error", "overloaded"});
  }
  job->id = fmt::format("{}-{}", ep == Endpoint::kChat ? "chatcmpl" : "cmpl", next_id++);
  job->created = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  job->queued = entry == Slots::Entry::kQueued;
  job->ticket = ticket;
  const char* type = job->stream ? "text/event-stream" : "application/json";
  if (job->stream) res.set_header("Cache-Control", "no-cache");
  res.set_chunked_content_provider(type, [this, job](size_t, httplib::DataSink& sink) {
    Run(job, sink);
    sink.done();
    return true;
  });
}

thread_local Clock::time_point t_request_start;

void Server::Impl::Routes() {
  http.set_payload_max_length(opt.max_body_bytes);
  http.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    t_request_start = Clock::now();
    if (!opt.api_key.empty() && req.path != "/health") {
      const std::string auth = req.get_header_value("Authorization");
      if (auth != "Bearer " + opt.api_key) {
        SetError(res, ApiError{401, "a valid API key is required (Authorization: Bearer KEY)", "",
                               "authentication_error", "invalid_api_key"});
        return httplib::Server::HandlerResponse::Handled;
      }
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });
  http.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;
    if (res.status == 404) {
      SetError(res, ApiError{404, fmt::format("no route {} {}", req.method, req.path), "", "not_found_error"});
    } else if (res.status == 413) {
      SetError(res, ApiError{413, "the request body is too large"});
    } else {
      SetError(res, ApiError{res.status, fmt::format("HTTP {}", res.status)});
    }
  });
  http.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
    std::string what = "internal error";
    try {
      if (ep) std::rethrow_exception(ep);
    } catch (const std::exception& ex) {
      what = ex.what();
    } catch (...) {
    }
    SetError(res, ApiError{500, what, "", "server_error"});
  });
  http.set_logger([this](const httplib::Request& req, const httplib::Response& res) {
    static const char* known[] = {"/health", "/v1/models", "/v1/completions", "/v1/chat/completions", "/infill",
                                  "/tokenize", "/detokenize", "/metrics"};
    std::string route = "other";
    for (const char* k : known) if (req.path == k) route = k;
    metrics.Request(route, res.status, std::chrono::duration<double>(Clock::now() - t_request_start).count());
  });

  InfoRoutes();
  http.Post("/v1/completions", [this](const httplib::Request& q, httplib::Response& r) { Generate(q, r, Endpoint::kCompletion); });
  http.Post("/v1/chat/completions", [this](const httplib::Request& q, httplib::Response& r) { Generate(q, r, Endpoint::kChat); });
  http.Post("/infill", [this](const httplib::Request& q, httplib::Response& r) { Generate(q, r, Endpoint::kInfill); });
  TokenRoutes();
}

void Server::Impl::InfoRoutes() {
  http.Get("/health", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(Dump({{"status", stopping.load() ? "shutting_down" : "ok"}}), "application/json");
    if (stopping.load()) res.status = 503;
  });
  http.Get("/v1/models", [this](const httplib::Request&, httplib::Response& res) {
    const ModelConfig& c = engine->config();
    json m = {{"id", model_id}, {"object", "model"}, {"created", created}, {"owned_by", "sculpt"},
              {"meta", {{"architecture", c.arch ? std::string(c.arch->name) : std::string()}, {"diffusion", !c.causal},
                        {"n_ctx", c.n_ctx_train}, {"n_vocab", c.n_vocab}, {"max_canvas", canvas_limit},
                        {"parallel", opt.parallel}}}};
    res.set_content(Dump({{"object", "list"}, {"data", json::array({m})}}), "application/json");
  });
  http.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    std::string extra;
    if (const StepBatcher* b = engine->batcher()) {
      const BatcherStats s = b->stats();
      extra = fmt::format(
          "# HELP sculpt_batches_total Denoiser calls (merged steps of concurrent requests).\n"
          "# TYPE sculpt_batches_total counter\nsculpt_batches_total {}\n"
          "# HELP sculpt_batched_steps_total Request steps merged into those calls.\n"
          "# TYPE sculpt_batched_steps_total counter\nsculpt_batched_steps_total {}\n"
          "# HELP sculpt_batch_max_requests The most request steps one call held.\n"
          "# TYPE sculpt_batch_max_requests gauge\nsculpt_batch_max_requests {}\n",
          s.batches, s.calls, s.max_batch_calls);
    }
    res.set_content(metrics.Render(extra), "text/plain; version=0.0.4");
  });
}

void Server::Impl::TokenRoutes() {
  http.Post("/tokenize", [this](const httplib::Request& req, httplib::Response& res) {
    json body;
    if (!ReadBody(req, res, &body)) return;
    std::string content;
    bool add_special = false, parse_special = true, with_pieces = false;
    if (MaybeError e = GetString(body, "content", &content)) return SetError(res, *e);
    if (!Field(body, "content")) return SetError(res, Bad("content", "'content' is required"));
    if (MaybeError e = GetBool(body, "add_special", &add_special)) return SetError(res, *e);
    if (MaybeError e = GetBool(body, "parse_special", &parse_special)) return SetError(res, *e);
    if (MaybeError e = GetBool(body, "with_pieces", &with_pieces)) return SetError(res, *e);
    const std::vector<int32_t> ids = engine->tokenizer()->Encode(content, add_special, parse_special);
    json out = {{"tokens", ids}};
    if (with_pieces) {
      json pieces = json::array();
      for (int32_t id : ids) pieces.push_back({{"id", id}, {"piece", engine->tokenizer()->Piece(id, true)}});
      out["tokens"] = pieces;
    }
    res.set_content(Dump(out), "application/json");
  });
  http.Post("/detokenize", [this](const httplib::Request& req, httplib::Response& res) {
    json body;
    if (!ReadBody(req, res, &body)) return;
    const json* t = Field(body, "tokens");
    if (!t) return SetError(res, Bad("tokens", "'tokens' is required"));
    if (!t->is_array()) return SetError(res, Bad("tokens", "'tokens' must be an array of token ids"));
    std::vector<int32_t> ids;
    for (const json& x : *t) {
      if (!x.is_number_integer()) return SetError(res, Bad("tokens", "'tokens' must be an array of token ids"));
      const int64_t id = x.get<int64_t>();
      if (id < 0 || id >= engine->tokenizer()->n_vocab()) {
        return SetError(res, Bad("tokens", fmt::format("token id {} is outside the vocabulary", id)));
      }
      ids.push_back(static_cast<int32_t>(id));
    }
    auto text = engine->tokenizer()->Decode(ids);
    if (!text.ok()) return SetError(res, FromStatus(text.status()));
    res.set_content(Dump({{"content", *text}}), "application/json");
  });
}

// ---------------------------------------------------------------------------------------------

StatusOr<std::unique_ptr<Server>> Server::Create(Engine* engine, const std::string& model_path,
                                                 const ServerOptions& options) {
  if (options.parallel < 1) return InvalidArgument("--parallel must be at least 1 (got {})", options.parallel);
  if (options.max_queue < 0) return InvalidArgument("--max-queue must not be negative (got {})", options.max_queue);
  if (options.port < 0 || options.port > 65535) return InvalidArgument("--port must be 0..65535 (got {})", options.port);
  if (options.max_steps < 1) return InvalidArgument("--max-steps must be at least 1");
  const int64_t n_ctx = engine->config().n_ctx_train;
  if (options.max_canvas < 0) return InvalidArgument("--max-canvas must not be negative");
  std::unique_ptr<Server> s(new Server());
  s->impl_ = std::make_unique<Impl>();
  Impl& m = *s->impl_;
  m.engine = engine;
  m.opt = options;
  m.canvas_limit = options.max_canvas > 0 ? std::min(options.max_canvas, n_ctx) : n_ctx;
  m.model_id = options.model_id.empty() ? std::filesystem::path(model_path).stem().string() : options.model_id;
  m.created = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  m.slots = std::make_unique<Slots>(options.parallel, options.max_queue);
  engine->EnableConcurrentRequests();
  // Workers: the running and queued generations plus a few for health, metrics and errors.
  const size_t workers = static_cast<size_t>(options.parallel + options.max_queue + 4);
  m.http.new_task_queue = [workers] { return new httplib::ThreadPool(workers); };
  m.http.set_keep_alive_timeout(5);
  // SO_REUSEADDR only: cpp-httplib's default adds SO_REUSEPORT, which lets a second server bind a
  // port that is in use and silently take half of its connections.
  m.http.set_socket_options([](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, reinterpret_cast<const void*>(&yes), sizeof(yes));
  });
  m.Routes();
  return s;
}

Server::~Server() = default;

Status Server::Bind() {
  Impl& m = *impl_;
  if (m.opt.port == 0) {
    m.bound_port = m.http.bind_to_any_port(m.opt.host);
  } else {
    m.bound_port = m.http.bind_to_port(m.opt.host, m.opt.port) ? m.opt.port : -1;
  }
  if (m.bound_port < 0) return Internal("cannot listen on {}:{} (address in use or not available)", m.opt.host, m.opt.port);
  return Status::Ok();
}

Status Server::Serve() {
  if (impl_->bound_port < 0) SCULPT_RETURN_IF_ERROR(Bind());
  if (!impl_->http.listen_after_bind() && !impl_->stopping.load()) return Internal("the server stopped unexpectedly");
  return Status::Ok();
}

int Server::port() const { return impl_->bound_port; }

void Server::Stop() {
  Impl& m = *impl_;
  if (m.stopping.exchange(true)) return;
  const auto deadline = Clock::now() + std::chrono::duration<double>(m.opt.shutdown_grace_s);
  while (m.metrics.in_flight.load() + m.metrics.queued.load() > 0 && Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  m.cancel.store(true);
  m.http.stop();
}

}  // namespace sculpt::server