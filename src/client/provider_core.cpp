#include "client/provider_core.hpp"

#include "client/client_core.hpp"
#include "protocol/client_decode.hpp"
#include "protocol/envelope.hpp"
#include "protocol/json.hpp"

#include <algorithm>
#include <cstdio>
#include <exception>
#include <utility>

namespace lobbykit::client {

using protocol::JsonBuilder;
using protocol::read_string;

namespace {

void log_error(const char* what, const char* detail) {
  std::fprintf(stderr, "lobbykit: %s: %s\n", what, detail);
}

std::uint32_t read_u32(const rapidjson::Value& v, const char* key, std::uint32_t fallback) {
  const std::int64_t n = protocol::read_int(v, key, -1);
  return n < 0 || n > 0xffffffffLL ? fallback : static_cast<std::uint32_t>(n);
}

std::string to_json(const rapidjson::Value& v) {
  JsonBuilder b;
  v.Accept(b.w());
  return b.take();
}

bool connection_gone(const ClientError& e) {
  return e.code == "connection_lost" || e.code == "timeout" || e.code == "not_connected";
}

}  // namespace

ProviderCore::ProviderCore(ProviderOptions options, Link& link, EventSink sink, Random random)
    : options_(std::move(options)), link_(link), sink_(std::move(sink)),
      status_interval_ms_(options_.status_interval_ms != 0 ? options_.status_interval_ms
                                                           : kDefaultProviderStatusIntervalMs),
      dialer_(*this, link, options_.reconnect, options_.connect_timeout_ms, std::move(random)) {}

// --- notices ---------------------------------------------------------------------------

void ProviderCore::deliver() {
  ++depth_;  // calls made by handlers queue their notices; this loop delivers them
  while (!notices_.empty()) {
    std::function<void()> fn = std::move(notices_.front());
    notices_.pop_front();
    try {
      fn();
    } catch (const std::exception& e) {
      log_error("a provider handler threw", e.what());
    } catch (...) {
      log_error("a provider handler threw", "unknown exception");
    }
  }
  --depth_;
}

void ProviderCore::emit(ProviderEvent e) {
  later([this, e = std::move(e)] {
    if (sink_) sink_(e);
  });
}

void ProviderCore::set_state(ConnectionState s) {
  if (snap_.state == s) return;
  snap_.state = s;
  if (on_state_) on_state_(s);
  emit(provider_event::StateChanged{s});
}

void ProviderCore::report_error(ClientError e) {
  snap_.last_error = e;
  emit(provider_event::Error{std::move(e)});
}

ProviderSnapshot ProviderCore::snapshot() const {
  ProviderSnapshot s = snap_;
  s.jobs = job_order_;
  s.load = reported_load();
  return s;
}

double ProviderCore::reported_load() const {
  if (load_) return *load_;
  return static_cast<double>(jobs_.size()) / static_cast<double>(options_.max_jobs);
}

// --- lifecycle -------------------------------------------------------------------------

void ProviderCore::start(SteadyMs now) {
  Entry entry(*this);
  dialer_.start(now);
}

void ProviderCore::stop(SteadyMs now) {
  Entry entry(*this);
  if (!dialer_.stop("provider stopped")) return;
  status_at_.reset();
  requests_.fail_all("stopped", "The provider was stopped.", now);
  fail_deferred("stopped", "The provider was stopped.", now);
  for (auto& [id, job] : jobs_) {
    if (!job.ending) continue;
    Reply r;
    r.error = make_client_error("stopped", "The provider was stopped.");
    for (auto& cb : job.end_callbacks)
      later([cb = std::move(cb), r] {
        if (cb) cb(r);
      });
    job.end_callbacks.clear();
  }
  set_state(ConnectionState::disconnected);
}

void ProviderCore::reconnect(SteadyMs now) {
  Entry entry(*this);
  dialer_.reconnect(now);
}

void ProviderCore::on_open(SteadyMs now) {
  Entry entry(*this);
  dialer_.on_open(now);
}

void ProviderCore::on_closed(std::uint16_t code, std::string_view /*reason*/, SteadyMs now) {
  Entry entry(*this);
  dialer_.on_closed(code, now);
}

void ProviderCore::link_opened(SteadyMs now) { send_hello(now); }

void ProviderCore::link_ended(SteadyMs now) {
  status_at_.reset();
  for (auto& [id, job] : jobs_) job.end_in_flight = false;
  requests_.fail_all("connection_lost", "The connection closed before the server answered.",
                     now);
  fail_deferred("connection_lost", "The connection closed before the server answered.", now);
}

std::optional<ClientError> ProviderCore::no_retry_after(std::uint16_t code) {
  if (code == 4007)  // a wrong key: trying again cannot help
    return make_client_error("unauthorized", "The server refused the provider key.");
  if (code == kCloseTlsRefused)
    return make_client_error("tls_failed", "The server's TLS certificate was refused.");
  return std::nullopt;
}

void ProviderCore::gave_up(const ClientError& e) { report_error(e); }

void ProviderCore::state_changed(ConnectionState s) { set_state(s); }

void ProviderCore::tick(SteadyMs now) {
  Entry entry(*this);
  requests_.expire(now);
  if (dialer_.is_accepted()) send_deferred(now);
  dialer_.tick(now, "no hello result in time");
  if (status_at_ && now >= *status_at_) send_status(now);
}

std::optional<SteadyMs> ProviderCore::next_deadline() const {
  std::optional<SteadyMs> next = dialer_.next_deadline();
  auto consider = [&next](std::optional<SteadyMs> t) {
    if (t && (!next || *t < *next)) next = t;
  };
  consider(status_at_);
  consider(requests_.next_deadline());
  for (const Deferred& d : deferred_) consider(d.at);
  return next;
}

// --- requests --------------------------------------------------------------------------

// A request the server refused with rate_limited goes again after retry_after_ms, on the
// same connection: a provider's answers must not be lost to a burst.
void ProviderCore::send_request(std::string_view type, std::string data_json, SteadyMs now,
                                RequestTable::Done done) {
  std::string frame_type(type);
  std::string data = data_json;
  link_.send(requests_.add(
      type, std::move(data_json), now + static_cast<SteadyMs>(options_.request_timeout_ms),
      [this, frame_type = std::move(frame_type), data = std::move(data),
       done = std::move(done)](const Reply& r, const rapidjson::Value& d, SteadyMs at) mutable {
        if (r.error && r.error->code == "rate_limited" && dialer_.is_accepted()) {
          const SteadyMs wait = std::max<std::int64_t>(r.error->retry_after_ms, 1);
          deferred_.push_back(Deferred{at + wait, std::move(frame_type), std::move(data),
                                       std::move(done)});
          return;
        }
        done(r, d, at);
      }));
}

void ProviderCore::send_deferred(SteadyMs now) {
  std::vector<Deferred> due;
  for (auto it = deferred_.begin(); it != deferred_.end();) {
    if (it->at <= now) {
      due.push_back(std::move(*it));
      it = deferred_.erase(it);
    } else {
      ++it;
    }
  }
  for (Deferred& d : due) send_request(d.type, std::move(d.data_json), now, std::move(d.done));
}

void ProviderCore::fail_deferred(const char* code, const char* message, SteadyMs now) {
  std::vector<Deferred> failed;
  failed.swap(deferred_);
  for (Deferred& d : failed) {
    Reply r;
    r.error = make_client_error(code, message);
    d.done(r, empty_json_object(), now);
  }
}

void ProviderCore::on_text(std::string_view text, SteadyMs now) {
  Entry entry(*this);
  if (!dialer_.open()) return;
  rapidjson::Document doc;
  protocol::Envelope env;
  if (protocol::parse_envelope(text, doc, env)) return;  // not an envelope: nothing to do
  if (requests_.settle(env, now)) return;
  if (dialer_.is_accepted()) on_push(env.type, *env.data, now);
}

void ProviderCore::send_hello(SteadyMs now) {
  JsonBuilder b;
  b.begin_object().str("key", options_.key).str("name", options_.name);
  if (!options_.version.empty()) b.str("version", options_.version);
  b.key("kinds").w().StartArray();
  for (const BotKind& k : options_.kinds)
    b.begin_object().str("kind", k.kind).str("description", k.description).end_object();
  b.end_array().unum("max_jobs", options_.max_jobs);
  if (!snap_.provider_id.empty() && !token_.empty()) {
    b.key("resume").begin_object().str("provider_id", snap_.provider_id).str("token", token_)
        .end_object();
  }
  b.end_object();
  send_request("provider_hello", b.take(), now,
               [this](const Reply& r, const rapidjson::Value& data, SteadyMs at) {
                 on_hello_reply(r, data, at);
               });
}

void ProviderCore::on_hello_reply(const Reply& r, const rapidjson::Value& data, SteadyMs now) {
  if (r.error) {
    if (r.error->code == "connection_lost" || r.error->code == "stopped") return;
    const std::string& code = r.error->code;
    if (code == "unauthorized" || code == "bad_field") {
      // The options are wrong (key, name, kinds, max_jobs): trying again cannot help.
      ClientError e = *r.error;
      dialer_.end("provider_hello refused", now);
      report_error(std::move(e));
      return;
    }
    if (code != "timeout") report_error(*r.error);
    dialer_.abandon("provider_hello failed", now);
    return;
  }
  dialer_.accepted();
  snap_.provider_id = read_string(data, "provider_id");
  token_ = read_string(data, "token");
  if (options_.status_interval_ms == 0)
    status_interval_ms_ = std::max<std::uint32_t>(
        1, read_u32(data, "status_interval_ms", kDefaultProviderStatusIntervalMs));
  provider_event::Registered reg;
  reg.provider_id = snap_.provider_id;
  reg.resumed = protocol::read_bool(data, "resumed");
  if (const rapidjson::Value* list = protocol::read_array(data, "jobs")) {
    for (const auto& j : list->GetArray()) {
      if (!j.IsObject()) continue;
      reg.jobs.push_back(KeptJob{read_string(j, "job_id"), read_string(j, "state"),
                                 read_u32(j, "attempt", 0)});
    }
  }
  set_state(ConnectionState::connected);
  emit(std::move(reg));
  // What this side knows goes back to the server: a drain, the jobs (the server cancels the
  // ones it no longer has), and the job_ends the last connection lost.
  if (!snap_.accepting) send_drain(now, nullptr);
  send_status(now);
  for (auto& [id, job] : jobs_)
    if (job.ending && !job.end_in_flight) send_end(id, now);
}

void ProviderCore::send_status(SteadyMs now) {
  if (!dialer_.is_accepted()) return;
  JsonBuilder b;
  b.begin_object().key("load").w().Double(reported_load());
  b.key("jobs").w().StartArray();
  for (const std::string& id : job_order_) b.value(id);
  b.end_array().boolean("accepting", snap_.accepting).end_object();
  JsonBuilder frame;
  frame.begin_object().str("type", "provider_status").raw("data", b.view()).end_object();
  link_.send(frame.take());
  status_at_ = now + static_cast<SteadyMs>(status_interval_ms_);
}

void ProviderCore::accept(const std::string& job_id, AcceptCallback cb, SteadyMs now) {
  Entry entry(*this);
  auto fail = [&](const char* code, const char* message) {
    AcceptReply r;
    r.error = make_client_error(code, message);
    later([cb = std::move(cb), r] {
      if (cb) cb(r);
    });
  };
  if (dialer_.stopped()) return fail("stopped", "The provider was stopped.");
  if (!dialer_.is_accepted()) return fail("not_connected", "Not connected to the server.");
  JsonBuilder b;
  b.begin_object().str("job_id", job_id).end_object();
  send_request("job_accept", b.take(), now,
               [this, job_id, cb = std::move(cb)](const Reply& r, const rapidjson::Value& data,
                                                  SteadyMs) {
                 AcceptReply out;
                 out.error = r.error;
                 if (!r.error) {
                   out.job.job_id = read_string(data, "job_id");
                   if (out.job.job_id.empty()) out.job.job_id = job_id;
                   out.job.credential = read_string(data, "credential");
                   out.job.lobby_id = read_string(data, "lobby_id");
                   out.job.bot_name = read_string(data, "bot_name");
                   out.job.join_timeout_ms = read_u32(data, "join_timeout_ms", 0);
                   if (jobs_.emplace(job_id, Job{}).second) job_order_.push_back(job_id);
                 }
                 later([cb, out] {
                   if (cb) cb(out);
                 });
               });
}

void ProviderCore::decline(const std::string& job_id, const std::string& reason,
                           ReplyCallback cb, SteadyMs now) {
  Entry entry(*this);
  Reply r;
  if (dialer_.stopped() || !dialer_.is_accepted()) {
    r.error = dialer_.stopped() ? make_client_error("stopped", "The provider was stopped.")
                     : make_client_error("not_connected", "Not connected to the server.");
    later([cb = std::move(cb), r] {
      if (cb) cb(r);
    });
    return;
  }
  JsonBuilder b;
  b.begin_object().str("job_id", job_id);
  if (!reason.empty()) b.str("reason", reason);
  b.end_object();
  send_request("job_decline", b.take(), now,
               [this, cb = std::move(cb)](const Reply& reply, const rapidjson::Value&, SteadyMs) {
                 later([cb, reply] {
                   if (cb) cb(reply);
                 });
               });
}

void ProviderCore::end_job(const std::string& job_id, const std::string& reason, bool retry,
                           ReplyCallback cb, SteadyMs now) {
  Entry entry(*this);
  auto it = jobs_.find(job_id);
  if (dialer_.stopped() || it == jobs_.end()) {
    Reply r;
    r.error = dialer_.stopped()
                  ? make_client_error("stopped", "The provider was stopped.")
                  : make_client_error("job_not_found", "This provider runs no such job.");
    later([cb = std::move(cb), r] {
      if (cb) cb(r);
    });
    return;
  }
  Job& job = it->second;
  job.end_callbacks.push_back(std::move(cb));
  if (job.ending) return;  // the first end_job's reason stands; one answer for all
  job.ending = true;
  job.end_reason = reason;
  job.end_retry = retry;
  if (dialer_.is_accepted()) send_end(job_id, now);  // else after the next hello
}

void ProviderCore::send_end(const std::string& job_id, SteadyMs now) {
  Job& job = jobs_.at(job_id);
  job.end_in_flight = true;
  JsonBuilder b;
  b.begin_object().str("job_id", job_id);
  if (!job.end_reason.empty()) b.str("reason", job.end_reason);
  b.boolean("retry", job.end_retry).end_object();
  send_request("job_end", b.take(), now,
               [this, job_id](const Reply& r, const rapidjson::Value&, SteadyMs at) {
                 auto it = jobs_.find(job_id);
                 if (it == jobs_.end()) return;  // cancelled meanwhile: settled then
                 it->second.end_in_flight = false;
                 if (r.error && connection_gone(*r.error)) {
                   // Sent again after the next hello; a timeout on a live connection ends
                   // it, as the server is not answering.
                   if (r.error->code == "timeout" && dialer_.busy())
                     dialer_.abandon("job_end timed out", at);
                   return;
                 }
                 if (r.error && r.error->code == "stopped") return;
                 finish_end(job_id, r);
               });
}

// The job is over: forget it, and answer every end_job() that asked.
void ProviderCore::finish_end(const std::string& job_id, const Reply& r) {
  auto it = jobs_.find(job_id);
  if (it == jobs_.end()) return;
  std::vector<ReplyCallback> callbacks = std::move(it->second.end_callbacks);
  jobs_.erase(it);
  job_order_.erase(std::remove(job_order_.begin(), job_order_.end(), job_id), job_order_.end());
  for (auto& cb : callbacks)
    later([cb = std::move(cb), r] {
      if (cb) cb(r);
    });
}

void ProviderCore::drain(ReplyCallback cb, SteadyMs now) {
  Entry entry(*this);
  snap_.accepting = false;  // holds for later connections too
  if (dialer_.stopped() || !dialer_.is_accepted()) {
    // Nothing to tell now; the next hello is followed by provider_drain.
    Reply r;
    if (dialer_.stopped()) r.error = make_client_error("stopped", "The provider was stopped.");
    later([cb = std::move(cb), r] {
      if (cb) cb(r);
    });
    return;
  }
  send_drain(now, std::move(cb));
  send_status(now);
}

void ProviderCore::send_drain(SteadyMs now, ReplyCallback cb) {
  send_request("provider_drain", "{}", now,
               [this, cb = std::move(cb)](const Reply& r, const rapidjson::Value&, SteadyMs) {
                 if (r.error && !connection_gone(*r.error) && r.error->code != "stopped")
                   report_error(*r.error);
                 later([cb, r] {
                   if (cb) cb(r);
                 });
               });
}

void ProviderCore::set_load(std::optional<double> load, SteadyMs /*now*/) {
  Entry entry(*this);
  if (load) {
    double v = *load;
    if (!(v >= 0.0)) v = 0.0;  // also NaN
    if (v > 1.0) v = 1.0;
    load = v;
  }
  load_ = load;  // goes out with the next heartbeat
}

// --- pushes ----------------------------------------------------------------------------

void ProviderCore::on_push(std::string_view type, const rapidjson::Value& d, SteadyMs now) {
  if (type == "job_offer") {
    JobOffer o;
    o.job_id = read_string(d, "job_id");
    o.dispatch_id = read_string(d, "dispatch_id");
    o.kind = read_string(d, "kind");
    o.lobby_id = read_string(d, "lobby_id");
    o.lobby_name = read_string(d, "lobby_name");
    if (const rapidjson::Value* m = protocol::read_object(d, "metadata"))
      o.metadata_json = to_json(*m);
    o.attempt = read_u32(d, "attempt", 1);
    o.timeout_ms = read_u32(d, "timeout_ms", 0);
    if (o.job_id.empty()) return;
    emit(provider_event::Offer{std::move(o)});
  } else if (type == "job_cancel") {
    std::string job_id = read_string(d, "job_id");
    std::string reason = read_string(d, "reason");
    auto it = jobs_.find(job_id);
    if (it != jobs_.end() && it->second.ending) {
      // Ended on this side already; the server has let it go too.
      finish_end(job_id, Reply{});
      return;
    }
    if (it != jobs_.end()) {
      jobs_.erase(it);
      job_order_.erase(std::remove(job_order_.begin(), job_order_.end(), job_id),
                       job_order_.end());
    }
    emit(provider_event::Cancel{std::move(job_id), std::move(reason)});
  } else if (type == "drain") {
    snap_.accepting = false;
    emit(provider_event::Drain{});
    send_status(now);
  } else if (type == "reconnect") {
    dialer_.set_hint(protocol::read_reconnect_hint(d));
  } else if (type == "error") {
    report_error(read_client_error(d));
  }
}

}  // namespace lobbykit::client
