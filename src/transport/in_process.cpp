#include "transport/in_process.hpp"

#include "router/address.hpp"
#include "router/hub.hpp"

#include <utility>

namespace lobbykit::transport {

InProcessTransport::InProcessTransport(std::size_t max_message_bytes,
                                       std::size_t max_outbound_bytes)
    : max_message_bytes_(max_message_bytes), max_outbound_bytes_(max_outbound_bytes) {}

InProcessTransport::~InProcessTransport() = default;

void InProcessTransport::attach(router::Hub& hub, PostToLoop post_to_loop) {
  std::lock_guard<std::mutex> lock(mu_);
  hub_ = &hub;
  post_ = std::move(post_to_loop);
}

// --- client side -----------------------------------------------------------------------

router::ConnId InProcessTransport::connect(std::shared_ptr<InProcessClientEnd> end) {
  std::lock_guard<std::mutex> lock(mu_);
  if (ended_ || !post_ || !end) return 0;
  const router::ConnId id = next_id_++;
  Conn c;
  c.end = std::move(end);
  conns_.emplace(id, std::move(c));
  if (!post_([this, id] { open_task(id); })) {
    conns_.erase(id);
    return 0;
  }
  return id;
}

void InProcessTransport::send_text(router::ConnId id, std::string text) {
  std::lock_guard<std::mutex> lock(mu_);
  if (post_) post_([this, id, text = std::move(text)] { message_task(id, text); });
}

void InProcessTransport::disconnect(router::ConnId id) {
  std::lock_guard<std::mutex> lock(mu_);
  // When the loop has ended the task is refused; shut() or detach() closes the entry.
  if (post_) post_([this, id] { disconnect_task(id); });
}

// --- loop thread -----------------------------------------------------------------------

void InProcessTransport::open_task(router::ConnId id) {
  std::shared_ptr<InProcessClientEnd> end;
  router::Hub* hub = nullptr;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = conns_.find(id);
    if (it == conns_.end() || !hub_) return;  // the client gave up meanwhile
    it->second.opened = true;
    end = it->second.end;
    hub = hub_;
  }
  hub->on_open(id, router::kInProcessAddress);
  end->opened();
}

void InProcessTransport::message_task(router::ConnId id, const std::string& text) {
  router::Hub* hub = nullptr;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = conns_.find(id);
    if (it == conns_.end() || !it->second.opened || it->second.closing) return;
    hub = hub_;
  }
  if (!hub) return;
  // The same cap a WebSocket connection has.
  if (text.size() > max_message_bytes_) {
    close(id, protocol::CloseCode::too_big, "message too big");
    return;
  }
  hub->on_message(id, text);
}

void InProcessTransport::disconnect_task(router::ConnId id) {
  router::Hub* hub = nullptr;
  bool opened = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = conns_.find(id);
    if (it == conns_.end()) return;
    opened = it->second.opened;
    hub = hub_;
    conns_.erase(it);
  }
  if (opened && hub) hub->on_close(id);
}

void InProcessTransport::send(router::ConnId id, router::Frame frame) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = conns_.find(id);
  if (it == conns_.end() || it->second.closing || !frame) return;
  Conn& c = it->second;
  // As over WebSocket: a client that does not keep up is closed, not buffered without end.
  if (c.end->backlog_bytes() + c.queued_bytes + frame->size() > max_outbound_bytes_) {
    c.queue.clear();
    c.queued_bytes = 0;
    c.closing = true;
    c.close_code = static_cast<std::uint16_t>(protocol::CloseCode::slow_consumer);
    c.close_reason = "slow consumer";
    schedule_delivery_locked();
    return;
  }
  c.queued_bytes += frame->size();
  c.queue.push_back(std::move(frame));
  schedule_delivery_locked();
}

void InProcessTransport::close(router::ConnId id, protocol::CloseCode code,
                               std::string_view reason) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = conns_.find(id);
  if (it == conns_.end() || it->second.closing) return;
  it->second.closing = true;
  it->second.close_code = static_cast<std::uint16_t>(code);
  it->second.close_reason.assign(reason);
  schedule_delivery_locked();
}

void InProcessTransport::schedule_delivery_locked() {
  if (delivery_scheduled_ || !post_) return;
  // Posted rather than done now: every frame of this loop iteration goes out after one
  // flush. If the loop has ended the post is refused and shut() delivers instead.
  delivery_scheduled_ = post_([this] { delivery_task(); });
}

void InProcessTransport::delivery_task() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    delivery_scheduled_ = false;
  }
  deliver();
}

void InProcessTransport::deliver() {
  struct Out {
    router::ConnId id;
    std::shared_ptr<InProcessClientEnd> end;
    std::vector<router::Frame> frames;
    bool close;
    bool opened;
    std::uint16_t code;
    std::string reason;
  };
  router::Hub* hub = nullptr;
  {
    std::lock_guard<std::mutex> lock(mu_);
    hub = hub_;
  }
  // Durability: nothing leaves before the store holds what it acknowledges.
  if (hub) hub->flush();
  std::vector<Out> outs;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto it = conns_.begin(); it != conns_.end();) {
      Conn& c = it->second;
      if (c.queue.empty() && !c.closing) {
        ++it;
        continue;
      }
      outs.push_back(Out{it->first, c.end, std::move(c.queue), c.closing, c.opened,
                         c.close_code, c.close_reason});
      c.queue.clear();
      c.queued_bytes = 0;
      it = c.closing ? conns_.erase(it) : std::next(it);
    }
  }
  for (Out& o : outs) {
    if (!o.frames.empty()) o.end->frames(std::move(o.frames));
    if (!o.close) continue;
    o.end->closed(o.code, std::move(o.reason));
    if (o.opened && hub) hub->on_close(o.id);
  }
}

// --- the end ---------------------------------------------------------------------------

void InProcessTransport::shut(std::uint16_t code, std::string_view reason) {
  deliver();
  std::unordered_map<router::ConnId, Conn> left;
  router::Hub* hub = nullptr;
  {
    std::lock_guard<std::mutex> lock(mu_);
    ended_ = true;
    post_ = nullptr;
    hub = hub_;
    left.swap(conns_);
  }
  if (hub) hub->flush();  // what deliver()'s closes caused
  for (auto& [id, c] : left) {
    if (!c.queue.empty()) c.end->frames(std::move(c.queue));
    c.end->closed(c.closing ? c.close_code : code,
                  c.closing ? c.close_reason : std::string(reason));
    if (c.opened && hub) hub->on_close(id);
  }
  if (hub) hub->flush();
}

void InProcessTransport::detach() {
  std::unordered_map<router::ConnId, Conn> left;
  {
    std::lock_guard<std::mutex> lock(mu_);
    ended_ = true;
    post_ = nullptr;
    hub_ = nullptr;
    left.swap(conns_);
  }
  for (auto& [id, c] : left) c.end->closed(1001, "the server is gone");
}

}  // namespace lobbykit::transport
