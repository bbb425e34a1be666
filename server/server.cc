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

#include "server/metrics.h"

namespace sculpt::server {

namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

std::string Dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

// ---------------------------------------------------------------------------------------------
// Errors: OpenAI's shape {"error": {"message", "type", "param", "code"}}.

struct ApiError {
  ApiError(int status_, std::string message_, std::string param_ = "",
           std::string type_ = "invalid_request_error", std::string code_ = "")
      : status(status_), message(std::move(message_)), param(std::move(param_)), type(std::move(type_)),
        code(std::move(code_)) {}
  int status;
  std::string message;
  std::string param;
  std::string type;
  std::string code;
};

ApiError Bad(std::string param, std::string message) {
  return ApiError{400, std::move(message), std::move(param)};
}

json ErrorJson(const ApiError& e) {
  return {{"error",
           {{"message", e.message},
            {"type", e.type},
            {"param", e.param.empty() ? json(nullptr) : json(e.param)},
            {"code", e.code.empty() ? json(nullptr) : json(e.code)}}}};
}

void SetError(httplib::Response& res, const ApiError& e) {
  res.status = e.status;
  res.set_content(Dump(ErrorJson(e)), "application/json");
}

ApiError FromStatus(const Status& s) {
  switch (s.code()) {
    case StatusCode::kInvalidArgument:
    case StatusCode::kOutOfRange:
      return ApiError{400, s.message()};
    case StatusCode::kNotFound:
      return ApiError{404, s.message(), "", "not_found_error"};
    default:
      return ApiError{500, s.message(), "", "server_error"};
  }
}

using MaybeError = std::optional<ApiError>;
#define API_TRY(expr)                \
  do {                               \
    if (MaybeError e_ = (expr)) return e_; \
  } while (0)

// ---------------------------------------------------------------------------------------------
// Typed field readers: absent (or null) leaves *out unchanged; a wrong type or range is a 400.

const json* Field(const json& body, const char* name) {
  auto it = body.find(name);
  if (it == body.end() || it->is_null()) return nullptr;
  return &*it;
}

MaybeError GetInt(const json& body, const char* name, int64_t lo, int64_t hi, int64_t* out) {
  const json* v = Field(body, name);
  if (!v) return std::nullopt;
  int64_t x;
  if (v->is_number_integer()) {
    x = v->get<int64_t>();
  } else if (v->is_number_float() && v->get<double>() == static_cast<double>(static_cast<int64_t>(v->get<double>()))) {
    x = static_cast<int64_t>(v->get<double>());
  } else {
    return Bad(name, fmt::format("'{}' must be an integer", name));
  }
  if (x < lo || x > hi) return Bad(name, fmt::format("'{}' must be between {} and {} (got {})", name, lo, hi, x));
  *out = x;
  return std::nullopt;
}

MaybeError GetNumber(const json& body, const char* name, double lo, double hi, double* out) {
  const json* v = Field(body, name);
  if (!v) return std::nullopt;
  if (!v->is_number()) return Bad(name, fmt::format("'{}' must be a number", name));
  const double x = v->get<double>();
  if (!(x >= lo && x <= hi)) return Bad(name, fmt::format("'{}' must be between {} and {} (got {})", name, lo, hi, x));
  *out = x;
  return std::nullopt;
}

MaybeError GetBool(const json& body, const char* name, bool* out) {
  const json* v = Field(body, name);
  if (!v) return std::nullopt;
  if (!v->is_boolean()) return Bad(name, fmt::format("'{}' must be true or false", name));
  *out = v->get<bool>();
  return std::nullopt;
}

MaybeError GetString(const json& body, const char* name, std::string* out) {
  const json* v = Field(body, name);
  if (!v) return std::nullopt;
  if (!v->is_string()) return Bad(name, fmt::format("'{}' must be a string", name));
  *out = v->get<std::string>();
  return std::nullopt;
}

// "stop": a string or an array of at most 4 non-empty strings.
MaybeError GetStop(const json& body, std::vector<std::string>* out) {
  const json* v = Field(body, "stop");
  if (!v) return std::nullopt;
  if (v->is_string()) {
    if (!v->get<std::string>().empty()) out->push_back(v->get<std::string>());
    return std::nullopt;
  }
  if (!v->is_array() || v->size() > 4) return Bad("stop", "'stop' must be a string or an array of up to 4 strings");
  for (const json& s : *v) {
    if (!s.is_string()) return Bad("stop", "'stop' must be a string or an array of up to 4 strings");
    if (!s.get<std::string>().empty()) out->push_back(s.get<std::string>());
  }
  return std::nullopt;
}

// ---------------------------------------------------------------------------------------------
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

// ---------------------------------------------------------------------------------------------
// A generation request, parsed.

enum class Endpoint { kCompletion, kChat, kInfill };

struct Job {
  Endpoint endpoint = Endpoint::kCompletion;
  bool stream = false;
  bool infill = false;  // run Engine::Infill (suffix given, or /infill)
  GenerateRequest gen;
  InfillRequest fill;
  std::vector<std::string> stop;
  std::string id;
  int64_t created = 0;
  bool queued = false;  // admitted to the queue: Run() waits for a slot first
  uint64_t ticket = 0;
};

// Newly final text of the generated area, in order, from the step events: the longest prefix of
// the area without a mask, decoded incrementally; stop strings cut it, and text that could still
// become the start of a stop string is held back.
class Deltas {
 public:
  Deltas(const Engine& e, int64_t area, bool eog_ends, std::vector<std::string> stop)
      : engine_(e), mask_(e.config().mask_id), ids_(static_cast<size_t>(area), e.config().mask_id),
        eog_ends_(eog_ends), decoder_(*e.tokenizer()), stop_(std::move(stop)) {
    for (const std::string& s : stop_) hold_ = std::max(hold_, s.size() - 1);
  }

  void Apply(const StepEvent& e) {
    for (const auto& [idx, tok] : e.committed) {
      if (idx >= static_cast<int64_t>(ids_.size())) ids_.resize(static_cast<size_t>(idx) + 1, mask_);
      ids_[static_cast<size_t>(idx)] = tok;
    }
    for (int64_t idx : e.remasked) ids_[static_cast<size_t>(idx)] = mask_;
    while (!ended_ && final_ < ids_.size() && ids_[final_] != mask_) {
      const int32_t id = ids_[final_++];
      if (engine_.config().IsEog(id)) {
        if (eog_ends_) ended_ = true;
        continue;
      }
      text_ += decoder_.Push(id);
    }
    CheckStop();
  }

  // Text to send now (held back: a possible stop-string start, an unfinished character).
  std::string Take(bool final) {
    size_t upto = text_.size();
    if (!final && !stopped_) {
      upto -= std::min(upto, hold_);
      while (upto > sent_ && upto < text_.size() && (static_cast<unsigned char>(text_[upto]) & 0xC0) == 0x80) --upto;
    }
    if (upto <= sent_) return {};
    std::string d = text_.substr(sent_, upto - sent_);
    sent_ = upto;
    return d;
  }

  // The final text (from the response) replaces what the steps built, when it extends it.
  void Finish(const std::string& text) {
    if (stopped_) return;
    if (text.compare(0, sent_, text_, 0, sent_) == 0) text_ = text;
    CheckStop();
  }

  bool stopped() const { return stopped_; }
  const std::string& text() const { return text_; }
  size_t sent() const { return sent_; }
  const std::vector<int32_t>& ids() const { return ids_; }

 private:
  void CheckStop() {
    if (stopped_) return;
    size_t cut = std::string::npos;
    for (const std::string& s : stop_) cut = std::min(cut, text_.find(s));
    if (cut != std::string::npos && cut >= sent_) {
      text_.resize(cut);
      stopped_ = true;
    }
  }

  const Engine& engine_;
  int32_t mask_;
  std::vector<int32_t> ids_;
  bool eog_ends_;
  StreamDecoder decoder_;
  std::vector<std::string> stop_;
  size_t hold_ = 0, final_ = 0, sent_ = 0;
  std::string text_;
  bool ended_ = false, stopped_ = false;
};

std::string Snapshot(const Engine& e, const std::vector<int32_t>& ids) {
  std::string out;
  for (int32_t id : ids) {
    if (id == e.config().mask_id) {
      out += "\u2591";
    } else if (!e.config().IsEog(id)) {
      out += e.tokenizer()->Piece(id);
    }
  }
  return out;
}

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

  void Routes();
  MaybeError ParseOptions(const json& body, GenerationOptions* o) const;
  MaybeError CheckModel(const json& body) const;
  MaybeError ParseCompletion(const json& body, Job* job) const;
  MaybeError ParseChat(const json& body, Job* job) const;
  MaybeError ParseInfill(const json& body, Job* job) const;
  void Generate(const httplib::Request& req, httplib::Response& res, Endpoint ep);
  void Run(const std::shared_ptr<Job>& job, httplib::DataSink& sink);
};

MaybeError Server::Impl::CheckModel(const json& body) const {
  std::string model;
  API_TRY(GetString(body, "model", &model));
  if (!model.empty() && model != model_id) {
    ApiError e{404, fmt::format("model '{}' does not exist; this server serves '{}'", model, model_id), "model",
               "invalid_request_error", "model_not_found"};
    return e;
  }
  return std::nullopt;
}

MaybeError Server::Impl::ParseOptions(const json& body, GenerationOptions* o) const {
  const ModelConfig& c = engine->config();
  API_TRY(GetNumber(body, "temperature", 0.0, 2.0, &o->sampler.temperature));
  API_TRY(GetNumber(body, "top_p", 0.0, 1.0, &o->sampler.top_p));
  if (o->sampler.top_p <= 0.0) return Bad("top_p", "'top_p' must be greater than 0");
  API_TRY(GetInt(body, "top_k", 0, c.n_vocab, &o->sampler.top_k));
  int64_t seed = 0;
  API_TRY(GetInt(body, "seed", 0, INT64_MAX, &seed));
  o->seed = static_cast<uint64_t>(seed);
  API_TRY(GetInt(body, "steps", 1, opt.max_steps, &o->steps));
  API_TRY(GetInt(body, "block_length", 1, canvas_limit, &o->block_length));
  API_TRY(GetString(body, "algorithm", &o->algorithm));
  API_TRY(GetNumber(body, "alg_temp", 0.0, 1e6, &o->alg_temp));
  API_TRY(GetNumber(body, "eps", 0.0, 1.0, &o->eps));
  API_TRY(GetNumber(body, "threshold", 0.0, 1.0, &o->threshold));
  API_TRY(GetNumber(body, "factor", 0.0, 1e6, &o->factor));
  API_TRY(GetNumber(body, "eb_gamma", 0.0, 1e6, &o->eb_gamma));
  API_TRY(GetNumber(body, "cfg_scale", 0.0, 1e3, &o->cfg_scale));
  API_TRY(GetBool(body, "suppress_eos", &o->suppress_eos));
  API_TRY(GetBool(body, "no_eos_confidence", &o->no_eos_confidence));
  API_TRY(GetBool(body, "early_stop", &o->early_stop));
  API_TRY(GetBool(body, "block_causal", &o->block_causal));
  std::string schedule, cache, remask;
  API_TRY(GetString(body, "schedule", &schedule));
  if (schedule == "linear") o->schedule = TransferSchedule::kLinear;
  else if (schedule == "timestep") o->schedule = TransferSchedule::kTimestep;
  else if (!schedule.empty()) return Bad("schedule", "'schedule' must be \"linear\" or \"timestep\"");
  API_TRY(GetString(body, "cache", &cache));
  if (!cache.empty()) {
    auto m = CacheModeByName(cache);
    if (!m.ok()) return Bad("cache", m.status().message());
    o->cache = *m;
  }
  API_TRY(GetString(body, "remask", &remask));
  if (!remask.empty()) {
    const auto colon = remask.find(':');
    const std::string name = remask.substr(0, colon);
    o->remask_eta = 0.1;
    if (colon != std::string::npos) {
      char* end = nullptr;
      const std::string num = remask.substr(colon + 1);
      o->remask_eta = std::strtod(num.c_str(), &end);
      if (num.empty() || *end != '\0') return Bad("remask", "'remask' must be cap|rescale|conf[:ETA]");
    }
    if (name == "cap") o->remask = RemaskStrategy::kCap;
    else if (name == "rescale") o->remask = RemaskStrategy::kRescale;
    else if (name == "conf") o->remask = RemaskStrategy::kConf;
    else return Bad("remask", "'remask' must be cap|rescale|conf[:ETA]");
  }
  const Status v = o->Validate();
  if (!v.ok()) return Bad("", v.message());
  return std::nullopt;
}

// Prompt: a string, an array of one string, or an array of token ids.
static MaybeError ReadPrompt(const json& body, const Engine& engine, GenerateRequest* g) {
  const json* p = Field(body, "prompt");
  if (!p) return Bad("prompt", "'prompt' is required");
  if (p->is_string()) {
    g->prompt = p->get<std::string>();
  } else if (p->is_array() && p->size() == 1 && (*p)[0].is_string()) {
    g->prompt = (*p)[0].get<std::string>();
  } else if (p->is_array() && !p->empty() && std::all_of(p->begin(), p->end(), [](const json& x) { return x.is_number_integer(); })) {
    for (const json& x : *p) {
      const int64_t id = x.get<int64_t>();
      if (id < 0 || id >= engine.config().n_vocab) return Bad("prompt", fmt::format("token id {} is outside the vocabulary", id));
      g->prompt_tokens.push_back(static_cast<int32_t>(id));
    }
  } else {
    return Bad("prompt", "'prompt' must be a string, an array of one string, or an array of token ids");
  }
  if (g->prompt.empty() && g->prompt_tokens.empty()) return Bad("prompt", "'prompt' is empty");
  return std::nullopt;
}

MaybeError Server::Impl::ParseCompletion(const json& body, Job* job) const {
  API_TRY(CheckModel(body));
  API_TRY(ReadPrompt(body, *engine, &job->gen));
  int64_t n = 1;
  API_TRY(GetInt(body, "n", 1, 1, &n));
  int64_t max_tokens = 16;
  API_TRY(GetInt(body, "max_tokens", 1, canvas_limit, &max_tokens));
  API_TRY(GetBool(body, "stream", &job->stream));
  API_TRY(GetStop(body, &job->stop));
  GenerationOptions o;
  API_TRY(ParseOptions(body, &o));
  o.n_generate = max_tokens;
  std::string suffix;
  API_TRY(GetString(body, "suffix", &suffix));
  if (Field(body, "suffix")) {  // insertion: the text between prompt and suffix
    if (!job->gen.prompt_tokens.empty()) return Bad("suffix", "'suffix' needs a text prompt");
    job->infill = true;
    job->fill.segments = {job->gen.prompt, suffix};
    job->fill.hole_tokens = {max_tokens};
    job->fill.options = o;
    return std::nullopt;
  }
  job->gen.options = o;
  return std::nullopt;
}

MaybeError Server::Impl::ParseChat(const json& body, Job* job) const {
  API_TRY(CheckModel(body));
  const json* msgs = Field(body, "messages");
  if (!msgs) return Bad("messages", "'messages' is required");
  if (!msgs->is_array() || msgs->empty()) return Bad("messages", "'messages' must be a non-empty array");
  std::vector<ChatMessage> messages;
  for (const json& m : *msgs) {
    if (!m.is_object()) return Bad("messages", "each message must be an object with 'role' and 'content'");
    ChatMessage cm;
    API_TRY(GetString(m, "role", &cm.role));
    if (cm.role != "system" && cm.role != "user" && cm.role != "assistant" && cm.role != "developer") {
      return Bad("messages", fmt::format("unknown role '{}' (system, developer, user, assistant)", cm.role));
    }
    if (cm.role == "developer") cm.role = "system";
    const json* content = Field(m, "content");
    if (!content) return Bad("messages", "each message needs 'content'");
    if (content->is_string()) {
      cm.content = content->get<std::string>();
    } else if (content->is_array()) {  // [{"type": "text", "text": ...}]
      for (const json& part : *content) {
        if (!part.is_object() || part.value("type", "") != "text" || !part.contains("text") || !part["text"].is_string()) {
          return Bad("messages", "content parts must be {\"type\": \"text\", \"text\": ...}");
        }
        cm.content += part["text"].get<std::string>();
      }
    } else {
      return Bad("messages", "'content' must be a string or an array of text parts");
    }
    messages.push_back(std::move(cm));
  }
  int64_t n = 1;
  API_TRY(GetInt(body, "n", 1, 1, &n));
  int64_t max_tokens = std::min<int64_t>(128, canvas_limit);
  API_TRY(GetInt(body, "max_tokens", 1, canvas_limit, &max_tokens));
  API_TRY(GetInt(body, "max_completion_tokens", 1, canvas_limit, &max_tokens));
  API_TRY(GetBool(body, "stream", &job->stream));
  API_TRY(GetStop(body, &job->stop));
  GenerationOptions o;
  API_TRY(ParseOptions(body, &o));
  o.n_generate = max_tokens;
  auto tmpl = ResolveChatTemplate(engine->tokenizer()->vocab(), "");
  if (!tmpl.ok()) return FromStatus(tmpl.status());
  const std::string text = FormatChat(*tmpl, messages, /*add_assistant=*/true);
  job->gen.prompt_tokens = engine->tokenizer()->Encode(text, /*add_special=*/true, /*parse_special=*/true);
  job->gen.options = o;
  return std::nullopt;
}

MaybeError Server::Impl::ParseInfill(const json& body, Job* job) const {
  API_TRY(CheckModel(body));
  std::string prefix, suffix, prompt;
  API_TRY(GetString(body, "input_prefix", &prefix));
  API_TRY(GetString(body, "input_suffix", &suffix));
  API_TRY(GetString(body, "prompt", &prompt));
  if (!Field(body, "input_prefix") && !Field(body, "input_suffix")) {
    return Bad("input_prefix", "'input_prefix' or 'input_suffix' is required");
  }
  std::string extra;
  if (const json* ex = Field(body, "input_extra")) {  // [{"filename": ..., "text": ...}]: context before the prefix
    if (!ex->is_array()) return Bad("input_extra", "'input_extra' must be an array of {\"filename\", \"text\"}");
    for (const json& chunk : *ex) {
      if (!chunk.is_object() || !chunk.contains("text") || !chunk["text"].is_string()) {
        return Bad("input_extra", "each 'input_extra' entry needs a string 'text'");
      }
      extra += chunk["text"].get<std::string>();
      if (!extra.empty() && extra.back() != '\n') extra += '\n';
    }
  }
  int64_t hole = 0;  // 0: the engine tries several sizes
  API_TRY(GetInt(body, "n_predict", 0, canvas_limit, &hole));
  API_TRY(GetInt(body, "max_tokens", 0, canvas_limit, &hole));
  API_TRY(GetBool(body, "stream", &job->stream));
  API_TRY(GetStop(body, &job->stop));
  GenerationOptions o;
  API_TRY(ParseOptions(body, &o));
  if (engine->config().causal && hole == 0) hole = std::min<int64_t>(64, canvas_limit);
  o.n_generate = std::max<int64_t>(hole, 1);
  job->infill = true;
  job->fill.segments = {extra + prefix + prompt, suffix};
  job->fill.hole_tokens = {hole};
  job->fill.options = o;
  return std::nullopt;
}

// Runs one generation inside the response's content provider, writing SSE events (stream) or
// the JSON answer at the end.
void Server::Impl::Run(const std::shared_ptr<Job>& job, httplib::DataSink& sink) {
  const Engine& e = *engine;
  const bool v1 = job->endpoint != Endpoint::kInfill;
  const bool chat = job->endpoint == Endpoint::kChat;
  bool client_gone = false;
  auto write = [&](const std::string& s) {
    if (client_gone) return false;
    if (!sink.write(s.data(), s.size())) client_gone = true;
    return !client_gone;
  };
  auto event = [&](const json& j) { return write("data: " + Dump(j) + "\n\n"); };
  auto chunk = [&](const std::string& delta, const json& finish, const json* sculpt, bool first) {
    json c;
    if (job->endpoint == Endpoint::kInfill) {
      c = {{"content", delta}, {"stop", !finish.is_null()}};
    } else {
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
      c = {{"id", job->id}, {"object", chat ? "chat.completion.chunk" : "text_completion"},
           {"created", job->created}, {"model", model_id}, {"choices", json::array({choice})}};
    }
    if (sculpt) c["sculpt"] = *sculpt;
    return event(c);
  };

  // Wait for a slot (the ticket was taken in the handler).
  struct Release {
    Slots* s;
    Metrics* m;
    ~Release() {
      s->Release();
      --m->in_flight;
    }
  };
  if (job->queued) {
    ++metrics.queued;
    const bool got = slots->WaitTurn(job->ticket, [&] { return cancel.load() || !sink.is_writable(); });
    --metrics.queued;
    if (!got) return;
  }
  ++metrics.in_flight;
  Release release{slots.get(), &metrics};

  const int64_t area = job->infill ? job->fill.hole_tokens[0] : job->gen.options.n_generate;
  const bool remasking = (job->infill ? job->fill.options : job->gen.options).remask != RemaskStrategy::kNone;
  // Progressive text needs one run whose committed tokens stay committed.
  const bool progressive = !remasking && !(job->infill && area == 0);
  Deltas deltas(e, std::max<int64_t>(area, 0), /*eog_ends=*/!job->infill, job->stop);
  bool first = true;
  if (job->stream && chat) {
    if (!chunk("", nullptr, nullptr, true)) return;
    first = false;
  }
  StepCallback cb = [&](const StepEvent& ev) {
    if (cancel.load()) return false;
    if (!job->stream) return sink.is_writable();
    deltas.Apply(ev);
    json committed = json::array();
    for (const auto& [idx, tok] : ev.committed) committed.push_back({idx, tok});
    json sculpt = {{"step", ev.step}, {"n_masked", ev.n_masked}, {"committed", committed},
                   {"remasked", ev.remasked}, {"text_snapshot", Snapshot(e, deltas.ids())}};
    const std::string d = progressive ? deltas.Take(false) : std::string();
    if (!chunk(d, nullptr, &sculpt, false)) return false;
    return !deltas.stopped();
  };

  std::string text;
  GenerationResult result;
  int64_t prompt_tokens = 0;
  Status status;
  if (job->infill) {
    auto r = engine->Infill(job->fill, cb);
    if (r.ok()) {
      text = r->fills[0];
      result = std::move(r->result);
      int64_t holes = 0;
      for (int64_t h : r->hole_tokens) holes += h;
      prompt_tokens = static_cast<int64_t>(result.canvas.size()) - holes;
    } else {
      status = r.status();
    }
  } else {
    auto r = engine->Generate(job->gen, cb);
    if (r.ok()) {
      text = r->text;
      result = std::move(r->result);
      prompt_tokens = static_cast<int64_t>(r->prompt_ids.size());
    } else {
      status = r.status();
    }
  }
  int64_t completion_tokens = 0;
  bool eog = false;
  for (int32_t id : result.ids) {
    if (e.config().IsEog(id)) {
      eog = true;
      if (!job->infill) break;
      continue;
    }
    if (id != e.config().mask_id) ++completion_tokens;
  }
  metrics.Generation(prompt_tokens, completion_tokens, result.steps, result.cancelled || !status.ok());
  if (client_gone) return;
  if (!status.ok()) {  // headers are out: the error goes in the body
    const ApiError err = FromStatus(status);
    if (job->stream) {
      event(ErrorJson(err));
    } else {
      write(Dump(ErrorJson(err)));
    }
    return;
  }
  deltas.Finish(text);
  const std::string finish = result.cancelled && !deltas.stopped() ? "cancelled"
                             : (deltas.stopped() || eog || job->infill) ? "stop" : "length";
  const json usage = {{"prompt_tokens", prompt_tokens}, {"completion_tokens", completion_tokens},
                      {"total_tokens", prompt_tokens + completion_tokens}};
  const json sculpt = {{"ids", result.ids}, {"steps", result.steps}, {"forward_passes", result.forward_passes},
                       {"ms", result.total_ms}, {"mode", e.config().causal ? "autoregressive" : "diffusion"}};
  if (job->stream) {
    const std::string rest = deltas.Take(true);
    if (!rest.empty() && !chunk(rest, nullptr, nullptr, first)) return;
    json fin_sculpt = sculpt;
    fin_sculpt["usage"] = usage;
    if (!chunk("", finish, &fin_sculpt, false)) return;
    if (v1) write("data: [DONE]\n\n");
    return;
  }
  const std::string final_text = deltas.text();
  json out;
  if (job->endpoint == Endpoint::kInfill) {
    out = {{"content", final_text}, {"model", model_id}, {"tokens_predicted", completion_tokens},
           {"tokens_evaluated", prompt_tokens}, {"stop", true}, {"stop_type", finish == "length" ? "limit" : "eos"},
           {"sculpt", sculpt}};
  } else {
    json choice = {{"index", 0}, {"finish_reason", finish}};
    if (chat) {
      choice["message"] = {{"role", "assistant"}, {"content", final_text}};
    } else {
      choice["text"] = final_text;
      choice["logprobs"] = nullptr;
    }
    out = {{"id", job->id}, {"object", chat ? "chat.completion" : "text_completion"}, {"created", job->created},
           {"model", model_id}, {"choices", json::array({choice})}, {"usage", usage}, {"sculpt", sculpt}};
  }
  write(Dump(out));
}

void Server::Impl::Generate(const httplib::Request& req, httplib::Response& res, Endpoint ep) {
  json body;
  try {
    body = json::parse(req.body);
  } catch (const json::exception& ex) {
    return SetError(res, Bad("", fmt::format("the body is not valid JSON: {}", ex.what())));
  }
  if (!body.is_object()) return SetError(res, Bad("", "the body must be a JSON object"));
  if (!engine->tokenizer()) return SetError(res, ApiError{400, "the model file has no tokenizer"});
  auto job = std::make_shared<Job>();
  job->endpoint = ep;
  MaybeError err = ep == Endpoint::kChat ? ParseChat(body, job.get())
                   : ep == Endpoint::kInfill ? ParseInfill(body, job.get())
                                             : ParseCompletion(body, job.get());
  if (err) return SetError(res, *err);
  // The canvas limit, checked here so that the answer can still be a 400.
  int64_t prompt_len = 0;
  if (job->infill) {
    for (const std::string& s : job->fill.segments) prompt_len += static_cast<int64_t>(engine->tokenizer()->Encode(s).size());
  } else {
    prompt_len = job->gen.prompt_tokens.empty()
                     ? static_cast<int64_t>(engine->tokenizer()->Encode(job->gen.prompt, true).size())
                     : static_cast<int64_t>(job->gen.prompt_tokens.size());
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
  http.Post("/v1/completions", [this](const httplib::Request& q, httplib::Response& r) { Generate(q, r, Endpoint::kCompletion); });
  http.Post("/v1/chat/completions", [this](const httplib::Request& q, httplib::Response& r) { Generate(q, r, Endpoint::kChat); });
  http.Post("/infill", [this](const httplib::Request& q, httplib::Response& r) { Generate(q, r, Endpoint::kInfill); });
  http.Post("/tokenize", [this](const httplib::Request& req, httplib::Response& res) {
    json body;
    try {
      body = json::parse(req.body);
    } catch (const json::exception& ex) {
      return SetError(res, Bad("", fmt::format("the body is not valid JSON: {}", ex.what())));
    }
    if (!body.is_object()) return SetError(res, Bad("", "the body must be a JSON object"));
    if (!engine->tokenizer()) return SetError(res, ApiError{400, "the model file has no tokenizer"});
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
    try {
      body = json::parse(req.body);
    } catch (const json::exception& ex) {
      return SetError(res, Bad("", fmt::format("the body is not valid JSON: {}", ex.what())));
    }
    if (!body.is_object()) return SetError(res, Bad("", "the body must be a JSON object"));
    if (!engine->tokenizer()) return SetError(res, ApiError{400, "the model file has no tokenizer"});
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
