// lobbykit-loadgen: the load generator of the benchmarks (bench/README.md, scripts/bench.sh).
//
// A libwebsockets client with one lws context per service thread (--threads). It drives a
// server on 127.0.0.1 -- lobbykit-server, the raw relay (bench/raw_relay) or the PeerJS
// server -- through one scenario and prints a table, and the same figures as JSON (--json).
//
// Latency: every load message carries its send time (CLOCK_MONOTONIC ns, taken just before
// lws_write) as "~t<16 hex>:<8 hex sender index>" in its text; the receiver subtracts. Both
// ends live in this process, so the clocks agree.
// Server CPU: utime+stime of --server-pid from /proc/PID/stat around the measured window;
// generator CPU: getrusage(RUSAGE_SELF); steal: the steal column of /proc/stat.
// uv.h first: libwebsockets.h declares its libuv parts only when it has seen it.
#include <uv.h>

#include <libwebsockets.h>

#include <rapidjson/document.h>

#include <dirent.h>
#include <sys/resource.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <cmath>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {

// ---------------------------------------------------------------------------------------
// Clock, /proc readers

std::int64_t now_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return std::int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

void sleep_ms(double ms) {
  std::this_thread::sleep_for(std::chrono::microseconds(static_cast<std::int64_t>(ms * 1000)));
}

std::string read_file(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// utime + stime of a process (all its threads, dead ones included), seconds; -1 if unknown.
double proc_cpu_s(int pid) {
  if (pid <= 0) return -1;
  std::string s = read_file("/proc/" + std::to_string(pid) + "/stat");
  std::size_t rp = s.rfind(')');
  if (rp == std::string::npos) return -1;
  std::istringstream in(s.substr(rp + 2));
  std::string field;
  unsigned long long utime = 0, stime = 0;
  // Fields after the comm: state(3) ppid(4) ... utime(14) stime(15).
  for (int i = 3; i <= 15 && (in >> field); ++i) {
    if (i == 14) utime = std::strtoull(field.c_str(), nullptr, 10);
    if (i == 15) stime = std::strtoull(field.c_str(), nullptr, 10);
  }
  return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

// Resident set size of a process in KiB (VmRSS); -1 if unknown.
long proc_rss_kib(int pid) {
  if (pid <= 0) return -1;
  std::istringstream in(read_file("/proc/" + std::to_string(pid) + "/status"));
  std::string line;
  while (std::getline(in, line))
    if (line.compare(0, 6, "VmRSS:") == 0) return std::strtol(line.c_str() + 6, nullptr, 10);
  return -1;
}

double self_cpu_s() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

// Per thread of a process: run time and time spent runnable but waiting for a CPU
// (run-queue wait), from /proc/PID/task/TID/schedstat, seconds.
struct ThreadTimes {
  double run = 0, wait = 0;
};
std::map<int, ThreadTimes> proc_thread_times(int pid) {
  std::map<int, ThreadTimes> out;
  if (pid <= 0) return out;
  const std::string dir = "/proc/" + std::to_string(pid) + "/task";
  if (DIR* d = opendir(dir.c_str())) {
    while (dirent* e = readdir(d)) {
      if (e->d_name[0] == '.') continue;
      std::istringstream in(read_file(dir + "/" + e->d_name + "/schedstat"));
      unsigned long long run = 0, wait = 0;
      if (in >> run >> wait)
        out[std::atoi(e->d_name)] = {static_cast<double>(run) / 1e9, static_cast<double>(wait) / 1e9};
    }
    closedir(d);
  }
  return out;
}

// The run-queue wait, in a window, of the thread that ran most in it: the server's loop (or
// the generator's busiest service thread). High values mean noisy neighbours took the CPU
// (helper threads of the same process, such as node's, do not count): scripts/bench.sh
// repeats such runs.
double busiest_wait_s(const std::map<int, ThreadTimes>& before,
                      const std::map<int, ThreadTimes>& after) {
  double best_run = -1, wait = 0;
  for (const auto& [tid, t] : after) {
    auto b = before.find(tid);
    const ThreadTimes t0 = b == before.end() ? ThreadTimes{} : b->second;
    if (t.run - t0.run > best_run) {
      best_run = t.run - t0.run;
      wait = t.wait - t0.wait;
    }
  }
  return wait;
}

struct CpuTimes {
  unsigned long long total = 0, steal = 0;
};
CpuTimes machine_cpu() {
  std::istringstream in(read_file("/proc/stat"));
  std::string cpu;
  in >> cpu;
  CpuTimes t;
  unsigned long long v;
  for (int i = 0; i < 10 && (in >> v); ++i) {
    if (i < 8) t.total += v;  // guest time is already inside user
    if (i == 7) t.steal = v;
  }
  return t;
}

// One measured window: wall time, CPU of the server and of this process, steal.
struct Window {
  std::int64_t t0 = 0, t1 = 0;
  double srv0 = -1, srv1 = -1, gen0 = 0, gen1 = 0;
  std::map<int, ThreadTimes> srv_threads0, srv_threads1, gen_threads0, gen_threads1;
  CpuTimes m0, m1;
  int pid = 0;
  void start(int server_pid) {
    pid = server_pid;
    m0 = machine_cpu();
    srv0 = proc_cpu_s(pid);
    gen0 = self_cpu_s();
    srv_threads0 = proc_thread_times(pid);
    gen_threads0 = proc_thread_times(getpid());
    t0 = now_ns();
  }
  void stop() {
    t1 = now_ns();
    gen1 = self_cpu_s();
    srv1 = proc_cpu_s(pid);
    srv_threads1 = proc_thread_times(pid);
    gen_threads1 = proc_thread_times(getpid());
    m1 = machine_cpu();
  }
  double seconds() const { return static_cast<double>(t1 - t0) / 1e9; }
  double server_cpu() const { return srv0 < 0 || srv1 < 0 ? -1 : srv1 - srv0; }
  double gen_cpu() const { return gen1 - gen0; }
  // Run-queue wait of the busiest thread as a share of the window.
  double server_wait_pct() const {
    return 100.0 * busiest_wait_s(srv_threads0, srv_threads1) / seconds();
  }
  double gen_wait_pct() const {
    return 100.0 * busiest_wait_s(gen_threads0, gen_threads1) / seconds();
  }
  double steal_pct() const {
    const double total = static_cast<double>(m1.total - m0.total);
    return total > 0 ? 100.0 * static_cast<double>(m1.steal - m0.steal) / total : 0;
  }
};

// ---------------------------------------------------------------------------------------
// Options

enum class Target { lobbykit, raw, peerjs };
enum class Scenario { relay, broadcast, connect, idle, chat };

struct Options {
  Target target = Target::lobbykit;
  Scenario scenario = Scenario::relay;
  std::string host = "127.0.0.1";
  int port = 0;
  std::string path;  // default per target
  int server_pid = 0;
  std::string json_path;
  std::string label;
  int threads = 1;
  bool libuv = false;  // --event-loop libuv: epoll through lws' libuv plugin; else lws' poll()
  double duration = 5.0;
  double warmup = 1.0;
  // relay
  int pairs = 50;
  std::size_t size = 200;
  bool pingpong = false;
  int window = 16;
  double rate = 0;  // msgs/s over all senders; 0: as fast as the window allows
  // broadcast
  int lobby_size = 100;
  double chat_rate = 100;
  // connect / idle
  int clients = 1000;
  int concurrency = 256;
  int members = 8;
  std::vector<int> steps{1000, 5000, 10000};
  double settle = 1.0;
  // The server's addresses the connections go to in turn (--addresses N: 127.0.0.1 ..
  // 127.0.0.N, a server listening on 0.0.0.0). A connection's local port must be unique
  // per destination address and port, and Linux has about 28,000 ephemeral ports (its
  // default range): past that many connections to one address they run out, and well
  // before, finding a free one costs connect() more and more (at 19,000 the kernel's
  // search was 70 % of the generator's CPU). Local addresses bound with bind() would do
  // the same, but lws 4.1 binds without IP_BIND_ADDRESS_NO_PORT, so each bound address
  // is held to those ports counting TIME_WAIT, and repeated runs fail.
  std::vector<std::string> addresses;
  // chat
  int lobbies = 50;
  bool kill_at_end = false;
  std::string tag;
};

const char* target_name(Target t) {
  switch (t) {
    case Target::lobbykit: return "lobbykit";
    case Target::raw: return "raw";
    case Target::peerjs: return "peerjs";
  }
  return "?";
}
const char* scenario_name(Scenario s) {
  switch (s) {
    case Scenario::relay: return "relay";
    case Scenario::broadcast: return "broadcast";
    case Scenario::connect: return "connect";
    case Scenario::idle: return "idle";
    case Scenario::chat: return "chat";
  }
  return "?";
}

[[noreturn]] void usage(const char* error) {
  if (error) std::fprintf(stderr, "lobbykit-loadgen: %s\n\n", error);
  std::fprintf(stderr,
      "Usage: lobbykit-loadgen --port N [FLAGS]\n"
      "  --target lobbykit|raw|peerjs   server kind (default lobbykit)\n"
      "  --scenario relay|broadcast|connect|idle|chat (default relay)\n"
      "  --host ADDR --port N --path P  where the server is (path: /ws, /, /peerjs)\n"
      "  --server-pid PID               for server CPU (/proc/PID/stat) and RSS\n"
      "  --threads N                    generator service threads (default 1)\n"
      "  --event-loop poll|libuv        the generator's loop (default poll; libuv does not\n"
      "                                 scan every connection per wake-up)\n"
      "  --json FILE  --label TEXT      JSON result file; free text stored in it\n"
      "  --duration S --warmup S        measured window and warm-up (default 5, 1)\n"
      " relay:     --pairs N --size BYTES --mode pipelined|pingpong --window W --rate MSGS_S\n"
      " broadcast: --lobby-size N --chat-rate CHATS_S\n"
      " connect:   --clients N --concurrency C --members M (per pre-created lobby)\n"
      " idle:      --steps 1000,5000,10000 --settle S --concurrency C\n"
      "  --addresses N                  connect to 127.0.0.1 .. 127.0.0.N in turn (the\n"
      "                                 server on 0.0.0.0): the ephemeral ports towards one\n"
      "                                 address end near 28,000 and grow slow to find\n"
      " chat:      --lobbies K --members M --window W --size BYTES [--kill-at-end]\n");
  std::exit(2);
}

Options parse_options(int argc, char** argv) {
  Options o;
  std::string mode = "pipelined";
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) usage(("missing value for " + a).c_str());
      return argv[++i];
    };
    if (a == "--target") {
      std::string v = value();
      if (v == "lobbykit") o.target = Target::lobbykit;
      else if (v == "raw") o.target = Target::raw;
      else if (v == "peerjs") o.target = Target::peerjs;
      else usage("bad --target");
    } else if (a == "--scenario") {
      std::string v = value();
      if (v == "relay") o.scenario = Scenario::relay;
      else if (v == "broadcast") o.scenario = Scenario::broadcast;
      else if (v == "connect") o.scenario = Scenario::connect;
      else if (v == "idle") o.scenario = Scenario::idle;
      else if (v == "chat") o.scenario = Scenario::chat;
      else usage("bad --scenario");
    } else if (a == "--host") o.host = value();
    else if (a == "--port") o.port = std::atoi(value().c_str());
    else if (a == "--path") o.path = value();
    else if (a == "--server-pid") o.server_pid = std::atoi(value().c_str());
    else if (a == "--json") o.json_path = value();
    else if (a == "--label") o.label = value();
    else if (a == "--threads") o.threads = std::max(1, std::atoi(value().c_str()));
    else if (a == "--event-loop") {
      const std::string v = value();
      if (v != "poll" && v != "libuv") usage("bad --event-loop");
      o.libuv = v == "libuv";
    }
    else if (a == "--duration") o.duration = std::atof(value().c_str());
    else if (a == "--warmup") o.warmup = std::atof(value().c_str());
    else if (a == "--pairs") o.pairs = std::max(1, std::atoi(value().c_str()));
    else if (a == "--size") o.size = static_cast<std::size_t>(std::atol(value().c_str()));
    else if (a == "--mode") mode = value();
    else if (a == "--window") o.window = std::max(1, std::atoi(value().c_str()));
    else if (a == "--rate") o.rate = std::atof(value().c_str());
    else if (a == "--lobby-size") o.lobby_size = std::max(2, std::atoi(value().c_str()));
    else if (a == "--chat-rate") o.chat_rate = std::atof(value().c_str());
    else if (a == "--clients") o.clients = std::max(1, std::atoi(value().c_str()));
    else if (a == "--concurrency") o.concurrency = std::max(1, std::atoi(value().c_str()));
    else if (a == "--members") o.members = std::max(1, std::atoi(value().c_str()));
    else if (a == "--steps") {
      o.steps.clear();
      std::stringstream ss(value());
      std::string part;
      while (std::getline(ss, part, ',')) o.steps.push_back(std::atoi(part.c_str()));
    } else if (a == "--settle") o.settle = std::atof(value().c_str());
    else if (a == "--lobbies") o.lobbies = std::max(1, std::atoi(value().c_str()));
    else if (a == "--kill-at-end") o.kill_at_end = true;
    else if (a == "--addresses") {
      const int n = std::atoi(value().c_str());
      if (n < 1 || n > 254) usage("--addresses takes 1 to 254");
      o.addresses.clear();
      for (int k = 1; k <= n; ++k) o.addresses.push_back("127.0.0." + std::to_string(k));
    }
    else if (a == "--help" || a == "-h") usage(nullptr);
    else usage(("unknown flag " + a).c_str());
  }
  if (o.port <= 0) usage("--port is required");
  if (o.addresses.size() > 1 && o.host != "127.0.0.1")
    usage("--addresses spreads connections over loopback addresses: the server is on 127.0.0.1");
  if (mode == "pingpong") o.pingpong = true;
  else if (mode != "pipelined") usage("bad --mode");
  if (o.path.empty())
    o.path = o.target == Target::lobbykit ? "/ws" : o.target == Target::peerjs ? "/peerjs" : "/";
  if (o.target != Target::lobbykit && o.scenario != Scenario::relay &&
      !(o.target == Target::raw && o.scenario == Scenario::idle))
    usage("the raw relay and PeerJS targets run the relay scenario only (and raw: idle)");
  char tag[32];
  std::snprintf(tag, sizeof tag, "b%x%x", static_cast<unsigned>(getpid()),
                static_cast<unsigned>(now_ns() & 0xffff));
  o.tag = tag;
  return o;
}

// ---------------------------------------------------------------------------------------
// Messages

constexpr char kHex[] = "0123456789abcdef";

void put_hex(char* p, std::uint64_t v, int digits) {
  for (int i = digits - 1; i >= 0; --i) {
    p[i] = kHex[v & 15];
    v >>= 4;
  }
}

bool get_hex(const char* p, const char* end, int digits, std::uint64_t& v) {
  if (end - p < digits) return false;
  v = 0;
  for (int i = 0; i < digits; ++i) {
    char c = p[i];
    int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
    if (d < 0) return false;
    v = (v << 4) | static_cast<unsigned>(d);
  }
  return true;
}

// "~t<16 hex ns>:<8 hex sender>": where it starts in a message, and what it says.
constexpr std::size_t kStampBytes = 2 + 16 + 1 + 8;
bool find_stamp(const char* p, std::size_t n, std::int64_t& ts, std::uint32_t& sender) {
  const char* end = p + n;
  while (true) {
    const char* q = static_cast<const char*>(std::memchr(p, '~', static_cast<std::size_t>(end - p)));
    if (!q) return false;
    std::uint64_t t, s;
    if (q + 1 < end && q[1] == 't' && get_hex(q + 2, end, 16, t) && q + 18 < end &&
        q[18] == ':' && get_hex(q + 19, end, 8, s)) {
      ts = static_cast<std::int64_t>(t);
      sender = static_cast<std::uint32_t>(s);
      return true;
    }
    p = q + 1;
  }
}

// Text that looks like SDP (with the \r\n escapes real SDP carries in JSON), as filler.
std::string sdp_filler(std::size_t n) {
  static const std::string line =
      "a=candidate:842163049 1 udp 1677729535 203.0.113.7 49203 typ srflx raddr 10.0.0.2 "
      "rport 49203 generation 0 network-cost 999\\r\\n";
  std::string s;
  while (s.size() < n) s += line;
  s.resize(n);
  // Never end inside an escape.
  while (!s.empty() && s.back() == '\\') s.back() = 'x';
  return s;
}

// A load message: the frame text and where its stamp goes.
struct Template {
  std::string text;
  std::size_t stamp_at = 0;
};

// Builds prefix + stamp + filler + suffix, padded so the whole frame is `size` bytes (or
// as small as it can be).
Template make_template(const std::string& prefix, const std::string& suffix, std::size_t size,
                       std::uint32_t sender) {
  Template t;
  t.text = prefix;
  t.stamp_at = t.text.size();
  char stamp[kStampBytes];
  stamp[0] = '~';
  stamp[1] = 't';
  put_hex(stamp + 2, 0, 16);
  stamp[18] = ':';
  put_hex(stamp + 19, sender, 8);
  t.text.append(stamp, kStampBytes);
  t.text += ' ';
  const std::size_t fixed = t.text.size() + suffix.size();
  if (size > fixed) t.text += sdp_filler(size - fixed);
  t.text += suffix;
  return t;
}

// ---------------------------------------------------------------------------------------
// Latency samples

struct Stats {
  double p50 = 0, p99 = 0, max = 0, mean = 0;
  std::size_t n = 0;
};

Stats stats_us(std::vector<std::uint32_t>& ns) {
  Stats s;
  s.n = ns.size();
  if (ns.empty()) return s;
  auto at = [&](double q) {
    std::size_t k = static_cast<std::size_t>(q * static_cast<double>(ns.size() - 1));
    std::nth_element(ns.begin(), ns.begin() + static_cast<std::ptrdiff_t>(k), ns.end());
    return static_cast<double>(ns[k]) / 1000.0;
  };
  s.p50 = at(0.50);
  s.p99 = at(0.99);
  s.max = static_cast<double>(*std::max_element(ns.begin(), ns.end())) / 1000.0;
  double sum = 0;
  for (auto v : ns) sum += v;
  s.mean = sum / static_cast<double>(ns.size()) / 1000.0;
  return s;
}

// ---------------------------------------------------------------------------------------
// Connections and workers

enum Phase : int { kSetup = 0, kWarmup = 1, kMeasure = 2, kDrain = 3 };
std::atomic<int> g_phase{kSetup};

struct Worker;
struct Group;

struct Conn {
  Worker* w = nullptr;
  std::uint32_t idx = 0;  // global index: the sender field of stamps
  lws* wsi = nullptr;
  bool opened = false, established = false, ready = false, failed = false, closed = false;
  std::string rx;
  std::deque<std::string> ctl;  // setup frames, written before load
  std::uint32_t load_pending = 0;
  Conn* partner = nullptr;
  Group* group = nullptr;
  bool leader = false;
  bool sender = false;       // sends load
  bool named = false, joining = false;
  std::string id;            // peer id (lobbykit), number (raw), id (peerjs)
  std::string lobby_id;      // connect scenario: the lobby to join
  Template tmpl;
  std::int64_t t_open = 0;   // connect scenario: when the connection was started
  std::uint16_t peer_close = 0;
  std::string peer_reason;
  int ctl_creates_left = 0;  // connect scenario control connection: lobbies still to make
};

struct Group {
  std::vector<Conn*> members;
  std::string lobby_id;
  std::uint64_t max_offset = 0;  // chat: newest offset any member was told about
  int ready = 0;
  std::uint32_t index = 0;
};

struct Worker {
  int index = 0;
  const Options* o = nullptr;
  lws_context* ctx = nullptr;
  // No lws validity timers (its idle ping): lws keeps every connection's in one sorted list
  // and moves the connection's entry on each frame it receives, a walk of the list, so with
  // 10,000 connections that walk was a third of the generator's CPU (perf record). The
  // servers turn them off too.
  lws_retry_bo_t no_validity{};
  uv_loop_t uv_loop;                     // Options::libuv: the context runs on this loop
  void* foreign_loops[1] = {&uv_loop};
  lws_protocols protocols[2];
  std::thread th;
  std::vector<std::unique_ptr<Conn>> conns;
  std::vector<std::unique_ptr<Group>> groups;
  std::deque<Conn*> to_open;
  std::size_t open_limit = SIZE_MAX;  // conns that may be opened so far
  std::size_t opened_count = 0;
  int connecting = 0;                  // opened, not yet ready or failed
  std::vector<unsigned char> wbuf;
  std::vector<std::uint32_t> lat;      // ns, measured window only
  std::vector<std::uint32_t> handshake_ns;  // connect scenario
  std::int64_t first_open = 0, last_ready = 0;

  // Pacing: the main thread adds due sends to paced_due and wakes the loop (a 1 ms lws
  // timer would not do: lws 4.1 polls with a 0 ms timeout, spinning, for the last
  // millisecond before every timer).
  std::vector<Conn*> senders;
  double rate = 0;  // msgs/s for this worker
  std::size_t rr = 0;
  std::atomic<std::uint64_t> paced_due{0};
  std::atomic<std::uint64_t> skipped{0};
  struct Timer {
    lws_sorted_usec_list_t sul;
    Worker* self;
  } hb_timer;

  // Read by the main thread.
  std::atomic<std::int64_t> last_rx{0};  // when anything last arrived (ns)
  std::atomic<std::uint64_t> delivered{0};
  std::atomic<std::uint64_t> sent{0};
  std::atomic<int> ready_count{0}, failed_count{0}, closed_count{0};
  std::atomic<bool> started{false}, stop{false};

  std::mutex mu;
  std::vector<std::function<void()>> posted;

  void post(std::function<void()> fn) {
    {
      std::lock_guard<std::mutex> lock(mu);
      posted.push_back(std::move(fn));
    }
    if (ctx) lws_cancel_service(ctx);
  }
  void drain_posts() {
    std::vector<std::function<void()>> batch;
    {
      std::lock_guard<std::mutex> lock(mu);
      batch.swap(posted);
    }
    for (auto& fn : batch) fn();
  }

  void run();
  void pump_opens();
  void open(Conn* c);
  void want_write(Conn* c) {
    if (c->wsi && c->established && !c->closed) lws_callback_on_writable(c->wsi);
  }
  void send_ctl(Conn* c, std::string frame) {
    const bool idle = c->ctl.empty() && c->load_pending == 0;
    c->ctl.push_back(std::move(frame));
    if (idle) want_write(c);
  }
  void add_load(Conn* c, std::uint32_t n = 1) {
    const bool idle = c->ctl.empty() && c->load_pending == 0;
    c->load_pending += n;
    if (idle) want_write(c);
  }

  // Callbacks.
  void on_established(Conn* c);
  int on_receive(Conn* c, const void* in, std::size_t len);
  int on_writeable(Conn* c);
  void on_closed(Conn* c, const char* why);
  void message(Conn* c, const char* p, std::size_t n);
  void lobbykit_setup(Conn* c, const char* p, std::size_t n);
  void on_ready(Conn* c);
  void on_load(Conn* c, const char* p, std::size_t n);
  void take_paced();
  static void on_heartbeat(lws_sorted_usec_list_t* sul);
};

int callback(lws* wsi, lws_callback_reasons reason, void* /*user*/, void* in, std::size_t len) {
  auto* w = static_cast<Worker*>(lws_context_user(lws_get_context(wsi)));
  auto* c = static_cast<Conn*>(lws_get_opaque_user_data(wsi));
  switch (reason) {
    case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
      if (w) {
        w->drain_posts();
        w->take_paced();
      }
      return 0;
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
      if (c) w->on_closed(c, in ? static_cast<const char*>(in) : "connection error");
      return 0;
    case LWS_CALLBACK_CLIENT_ESTABLISHED:
      if (!c) return -1;
      c->wsi = wsi;
      w->on_established(c);
      return 0;
    case LWS_CALLBACK_CLIENT_RECEIVE:
      return c ? w->on_receive(c, in, len) : -1;
    case LWS_CALLBACK_CLIENT_WRITEABLE:
      return c ? w->on_writeable(c) : -1;
    case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
      if (c && len >= 2) {
        const auto* b = static_cast<const unsigned char*>(in);
        c->peer_close = static_cast<std::uint16_t>((b[0] << 8) | b[1]);
        c->peer_reason.assign(reinterpret_cast<const char*>(b + 2), len - 2);
      }
      return 0;
    case LWS_CALLBACK_CLIENT_CLOSED:
      if (c) w->on_closed(c, "closed");
      return 0;
    case LWS_CALLBACK_WSI_DESTROY:
      if (c && !c->closed) w->on_closed(c, "destroyed");
      return 0;
    default:
      return 0;
  }
}

void Worker::run() {
  std::memset(protocols, 0, sizeof protocols);
  protocols[0].name = "bench";
  protocols[0].callback = callback;
  protocols[0].rx_buffer_size = 16 * 1024;
  lws_context_creation_info info;
  std::memset(&info, 0, sizeof info);
  info.port = CONTEXT_PORT_NO_LISTEN;
  info.protocols = protocols;
  info.user = this;
  info.gid = -1;
  info.uid = -1;
  if (o->libuv) {
    if (uv_loop_init(&uv_loop) != 0) {
      std::fprintf(stderr, "lobbykit-loadgen: uv_loop_init failed\n");
      std::exit(1);
    }
    info.options |= LWS_SERVER_OPTION_LIBUV;
    info.foreign_loops = foreign_loops;
  }
  ctx = lws_create_context(&info);
  if (!ctx) {
    std::fprintf(stderr, "lobbykit-loadgen: lws context creation failed\n");
    std::exit(1);
  }
  std::memset(&hb_timer, 0, sizeof hb_timer);
  hb_timer.self = this;
  wbuf.resize(LWS_PRE + 128 * 1024);
  if (o->target == Target::peerjs)
    lws_sul_schedule(ctx, 0, &hb_timer.sul, on_heartbeat, 5 * LWS_US_PER_SEC);
  started = true;
  drain_posts();
  pump_opens();
  // lws_cancel_service() wakes either loop: stop_workers() and the pacer use it.
  while (!stop.load(std::memory_order_relaxed)) {
    if (o->libuv) uv_run(&uv_loop, UV_RUN_ONCE);
    else if (lws_service(ctx, 0) < 0) break;
  }
  lws_sul_cancel(&hb_timer.sul);
  for (auto& c : conns) c->closed = true;  // nothing below is a failure
  lws_context_destroy(ctx);
  if (o->libuv) {
    // The loop closes lws' handles; a generator about to exit need not wait for the rest.
    for (int i = 0; i < 3; ++i) uv_run(&uv_loop, UV_RUN_NOWAIT);
    uv_loop_close(&uv_loop);
  }
}

void Worker::pump_opens() {
  while (!to_open.empty() && connecting < o->concurrency && opened_count < open_limit) {
    Conn* c = to_open.front();
    to_open.pop_front();
    open(c);
  }
}

void Worker::open(Conn* c) {
  ++opened_count;
  ++connecting;
  c->opened = true;
  c->t_open = now_ns();
  if (!first_open) first_open = c->t_open;
  std::string path = o->path;
  if (o->target == Target::peerjs) path += "?key=peerjs&id=" + c->id + "&token=bench";
  lws_client_connect_info i;
  std::memset(&i, 0, sizeof i);
  i.context = ctx;
  const std::string& to =
      o->addresses.size() > 1 ? o->addresses[opened_count % o->addresses.size()] : o->host;
  i.address = to.c_str();
  i.port = o->port;
  i.path = path.c_str();
  i.host = to.c_str();
  i.origin = to.c_str();
  i.protocol = nullptr;
  i.opaque_user_data = c;
  i.pwsi = &c->wsi;
  i.retry_and_idle_policy = &no_validity;
  if (!lws_client_connect_via_info(&i) && !c->closed) on_closed(c, "connect refused");
}

std::string json_int_frame(const char* type, int id, const std::string& data) {
  std::string s = "{\"type\":\"";
  s += type;
  s += "\",\"id\":" + std::to_string(id);
  if (!data.empty()) s += ",\"data\":" + data;
  s += "}";
  return s;
}

void Worker::on_established(Conn* c) {
  c->established = true;
  if (o->target != Target::lobbykit) {
    if (!c->ctl.empty()) want_write(c);
    return;  // raw: "id N" arrives; peerjs: OPEN arrives
  }
  send_ctl(c, json_int_frame("auth", 1, ""));
  if (o->scenario == Scenario::idle) return;
  if (c->ctl_creates_left > 0) {
    for (int k = 0; k < c->ctl_creates_left; ++k) {
      // One lobby per control request, ids from 100 on.
      send_ctl(c, json_int_frame("create_lobby", 100 + k,
                                 "{\"name\":\"" + o->tag + "-L" + std::to_string(c->idx) + "-" +
                                     std::to_string(k) + "\",\"private\":true," +
                                     "\"max_participants\":" + std::to_string(o->members) + "}"));
    }
    return;
  }
  send_ctl(c, json_int_frame("set_name", 2,
                             "{\"name\":\"" + o->tag + "-" + std::to_string(c->idx) + "\"}"));
  if (o->scenario == Scenario::connect)  // pipelined: the three requests at once
    send_ctl(c, json_int_frame("join_lobby", 3, "{\"lobby_id\":\"" + c->lobby_id + "\"}"));
}

int Worker::on_receive(Conn* c, const void* in, std::size_t len) {
  if (g_phase.load(std::memory_order_relaxed) == kSetup)
    last_rx.store(now_ns(), std::memory_order_relaxed);
  const bool final = lws_is_final_fragment(c->wsi) && lws_remaining_packet_payload(c->wsi) == 0;
  if (final && c->rx.empty()) {
    message(c, static_cast<const char*>(in), len);
    return 0;
  }
  c->rx.append(static_cast<const char*>(in), len);
  if (!final) return 0;
  std::string text;
  text.swap(c->rx);
  message(c, text.data(), text.size());
  if (c->rx.empty()) {
    text.clear();
    c->rx.swap(text);
  }
  return 0;
}

int Worker::on_writeable(Conn* c) {
  if (c->closed) return -1;
  std::size_t n = 0;
  if (!c->ctl.empty()) {
    const std::string& f = c->ctl.front();
    n = f.size();
    if (wbuf.size() < LWS_PRE + n) wbuf.resize(LWS_PRE + n);
    std::memcpy(wbuf.data() + LWS_PRE, f.data(), n);
    c->ctl.pop_front();
  } else if (c->load_pending > 0) {
    const Template& t = c->tmpl;
    n = t.text.size();
    if (wbuf.size() < LWS_PRE + n) wbuf.resize(LWS_PRE + n);
    char* p = reinterpret_cast<char*>(wbuf.data() + LWS_PRE);
    std::memcpy(p, t.text.data(), n);
    put_hex(p + t.stamp_at + 2, static_cast<std::uint64_t>(now_ns()), 16);
    --c->load_pending;
    sent.fetch_add(1, std::memory_order_relaxed);
  } else {
    return 0;
  }
  if (lws_write(c->wsi, wbuf.data() + LWS_PRE, n, LWS_WRITE_TEXT) < static_cast<int>(n))
    return -1;
  if (!c->ctl.empty() || c->load_pending > 0) lws_callback_on_writable(c->wsi);
  return 0;
}

void Worker::on_closed(Conn* c, const char* why) {
  if (c->closed) return;
  c->closed = true;
  c->wsi = nullptr;
  if (!c->ready) {
    c->failed = true;
    --connecting;
    failed_count.fetch_add(1);
    std::fprintf(stderr, "lobbykit-loadgen: connection %u failed during setup: %s %u %s\n",
                 c->idx, why, c->peer_close, c->peer_reason.c_str());
    pump_opens();
    return;
  }
  closed_count.fetch_add(1);
  if (g_phase.load() < kDrain && !(o->kill_at_end && g_phase.load() >= kMeasure))
    std::fprintf(stderr, "lobbykit-loadgen: connection %u closed: %s %u %s\n", c->idx, why,
                 c->peer_close, c->peer_reason.c_str());
}

bool starts_with(const char* p, std::size_t n, const char* prefix) {
  const std::size_t k = std::strlen(prefix);
  return n >= k && std::memcmp(p, prefix, k) == 0;
}

void Worker::message(Conn* c, const char* p, std::size_t n) {
  switch (o->target) {
    case Target::lobbykit:
      if (starts_with(p, n, "{\"type\":\"description\"") || starts_with(p, n, "{\"type\":\"chat\"")) {
        on_load(c, p, n);
        return;
      }
      lobbykit_setup(c, p, n);
      return;
    case Target::raw:
      if (c->id.empty()) {
        if (starts_with(p, n, "id ")) {
          c->id.assign(p + 3, n - 3);
          on_ready(c);
        }
        return;
      }
      on_load(c, p, n);
      return;
    case Target::peerjs:
      if (starts_with(p, n, "{\"type\":\"OFFER\"")) {
        on_load(c, p, n);
      } else if (starts_with(p, n, "{\"type\":\"OPEN\"")) {
        on_ready(c);
      } else {
        std::fprintf(stderr, "lobbykit-loadgen: peerjs says %.*s\n", static_cast<int>(std::min<std::size_t>(n, 200)), p);
      }
      return;
  }
}

std::string json_str(const std::string& s) { return "\"" + s + "\""; }

void Worker::lobbykit_setup(Conn* c, const char* p, std::size_t n) {
  // Pushes a setup does not wait for.
  if (starts_with(p, n, "{\"type\":\"participant_") || starts_with(p, n, "{\"type\":\"peer_"))
    return;
  if (o->scenario == Scenario::connect && !c->ctl_creates_left) {
    if (starts_with(p, n, "{\"type\":\"result\",\"id\":3,")) {
      const std::int64_t t = now_ns();
      handshake_ns.push_back(static_cast<std::uint32_t>(std::min<std::int64_t>(t - c->t_open, UINT32_MAX)));
      last_ready = t;
      on_ready(c);
      return;
    }
    if (!starts_with(p, n, "{\"type\":\"error\"")) return;  // welcome, set_name result
  }
  if (starts_with(p, n, "{\"type\":\"result\",\"id\":4,")) {  // joined (big snapshot)
    on_ready(c);
    return;
  }
  rapidjson::Document d;
  d.Parse(p, n);
  if (d.HasParseError() || !d.IsObject() || !d.HasMember("type")) return;
  const std::string type = d["type"].GetString();
  const int id = d.HasMember("id") && d["id"].IsInt() ? d["id"].GetInt() : 0;
  if (type == "error") {
    std::fprintf(stderr, "lobbykit-loadgen: connection %u got %.*s\n", c->idx,
                 static_cast<int>(std::min<std::size_t>(n, 300)), p);
    if (!c->ready && !c->failed) {
      c->failed = true;
      --connecting;
      failed_count.fetch_add(1);
      pump_opens();
    }
    return;
  }
  if (type == "welcome") {
    c->id = d["data"]["peer_id"].GetString();
    if (o->scenario == Scenario::idle) on_ready(c);
    return;
  }
  if (type != "result") return;
  if (id >= 100) {  // control connection: a lobby was made
    std::string lobby = d["data"]["lobby"]["id"].GetString();
    c->lobby_id += lobby + ",";
    if (--c->ctl_creates_left == 0) on_ready(c);
    return;
  }
  if (id == 2) {
    c->named = true;
    Group* g = c->group;
    if (!g) return;
    if (c->leader) {
      send_ctl(c, json_int_frame("create_lobby", 3,
                                 "{\"name\":\"" + o->tag + "-g" + std::to_string(g->index) +
                                     "\",\"private\":true,\"max_participants\":" +
                                     std::to_string(g->members.size()) + "}"));
    } else if (!g->lobby_id.empty() && !c->joining) {
      c->joining = true;
      send_ctl(c, json_int_frame("join_lobby", 4, "{\"lobby_id\":" + json_str(g->lobby_id) + "}"));
    }
    return;
  }
  if (id == 3) {
    Group* g = c->group;
    g->lobby_id = d["data"]["lobby"]["id"].GetString();
    for (Conn* m : g->members) {
      if ((m == c || m->named) && !m->joining) {
        m->joining = true;
        send_ctl(m, json_int_frame("join_lobby", 4, "{\"lobby_id\":" + json_str(g->lobby_id) + "}"));
      }
    }
    return;
  }
}

void Worker::on_ready(Conn* c) {
  if (c->ready) return;
  c->ready = true;
  --connecting;
  Group* g = c->group;
  if (g && ++g->ready == static_cast<int>(g->members.size())) {
    // Build the load templates now that every id is known.
    for (Conn* m : g->members) {
      const std::uint32_t me = m->idx;
      switch (o->scenario) {
        case Scenario::relay: {
          const std::string& to = m->partner->id;
          if (o->target == Target::lobbykit) {
            m->tmpl = make_template("{\"type\":\"relay_description\",\"data\":{\"to\":\"" + to +
                                        "\",\"description\":{\"type\":\"offer\",\"sdp\":\"v=0 ",
                                    "\"}}}", o->size, me);
          } else if (o->target == Target::raw) {
            m->tmpl = make_template(to + " {\"sdp\":\"v=0 ", "\"}", o->size, me);
          } else {
            m->tmpl = make_template("{\"type\":\"OFFER\",\"dst\":\"" + to +
                                        "\",\"payload\":{\"sdp\":{\"type\":\"offer\",\"sdp\":\"v=0 ",
                                    "\"},\"type\":\"media\",\"connectionId\":\"mc_bench\"}}",
                                    o->size, me);
          }
          break;
        }
        case Scenario::broadcast:
        case Scenario::chat:
          m->tmpl = make_template("{\"type\":\"chat\",\"data\":{\"text\":\"", "\"}}", o->size, me);
          break;
        default:
          break;
      }
    }
  }
  ready_count.fetch_add(1);
  pump_opens();
}

void Worker::on_load(Conn* c, const char* p, std::size_t n) {
  std::int64_t ts;
  std::uint32_t from;
  if (!find_stamp(p, n, ts, from)) return;
  const int phase = g_phase.load(std::memory_order_relaxed);
  const std::int64_t lat_ns = now_ns() - ts;
  switch (o->scenario) {
    case Scenario::relay:
      delivered.fetch_add(1, std::memory_order_relaxed);
      if (phase == kMeasure) lat.push_back(static_cast<std::uint32_t>(std::min<std::int64_t>(lat_ns, UINT32_MAX)));
      if (phase >= kDrain || o->rate > 0) return;
      if (o->pingpong) add_load(c);               // answer at once
      else if (c->partner) add_load(c->partner);  // the sender may send one more
      return;
    case Scenario::broadcast:
      delivered.fetch_add(1, std::memory_order_relaxed);
      if (phase == kMeasure) lat.push_back(static_cast<std::uint32_t>(std::min<std::int64_t>(lat_ns, UINT32_MAX)));
      return;
    case Scenario::chat: {
      // The newest offset this lobby's members were told about (kill -9 check).
      static const char key[] = "\"offset\":";
      const char* q = static_cast<const char*>(memmem(p, n, key, sizeof key - 1));
      if (q && c->group) {
        std::uint64_t off = std::strtoull(q + sizeof key - 1, nullptr, 10);
        c->group->max_offset = std::max(c->group->max_offset, off);
      }
      if (from != c->idx) return;  // someone else's message: counted by its sender
      delivered.fetch_add(1, std::memory_order_relaxed);
      if (phase == kMeasure) lat.push_back(static_cast<std::uint32_t>(std::min<std::int64_t>(lat_ns, UINT32_MAX)));
      if (phase < kDrain) add_load(c);
      return;
    }
    default:
      return;
  }
}

void Worker::take_paced() {
  std::uint64_t due = paced_due.exchange(0, std::memory_order_relaxed);
  if (g_phase.load() >= kDrain || senders.empty()) return;
  const std::uint32_t cap = static_cast<std::uint32_t>(o->window);
  for (; due > 0; --due) {
    Conn* c = senders[rr++ % senders.size()];
    if (c->closed || c->load_pending >= cap) {
      skipped.fetch_add(1, std::memory_order_relaxed);  // it is behind: not queued
      continue;
    }
    add_load(c);
  }
}

void Worker::on_heartbeat(lws_sorted_usec_list_t* sul) {
  Worker* w = reinterpret_cast<Timer*>(sul)->self;
  for (auto& c : w->conns)
    if (c->ready && !c->closed) w->send_ctl(c.get(), "{\"type\":\"HEARTBEAT\"}");
  lws_sul_schedule(w->ctx, 0, &w->hb_timer.sul, on_heartbeat, 5 * LWS_US_PER_SEC);
}

// ---------------------------------------------------------------------------------------
// JSON output

class Json {
 public:
  Json& num(const std::string& k, double v) {
    key(k);
    char b[64];
    if (std::isfinite(v)) std::snprintf(b, sizeof b, "%.6g", v);
    else std::snprintf(b, sizeof b, "null");
    s_ += b;
    return *this;
  }
  Json& str(const std::string& k, const std::string& v) {
    key(k);
    s_ += '"';
    for (char ch : v) {
      if (ch == '"' || ch == '\\') s_ += '\\';
      if (static_cast<unsigned char>(ch) < 0x20) continue;
      s_ += ch;
    }
    s_ += '"';
    return *this;
  }
  Json& raw(const std::string& k, const std::string& v) {
    key(k);
    s_ += v;
    return *this;
  }
  std::string text() const { return "{" + s_ + "}"; }

 private:
  void key(const std::string& k) {
    if (!s_.empty()) s_ += ",";
    s_ += "\"" + k + "\":";
  }
  std::string s_;
};

std::string stats_json(const Stats& s) {
  Json j;
  j.num("p50", s.p50).num("p99", s.p99).num("max", s.max).num("mean", s.mean).num("n", static_cast<double>(s.n));
  return j.text();
}

// ---------------------------------------------------------------------------------------
// The run

struct Run {
  Options o;
  std::vector<std::unique_ptr<Worker>> workers;
  std::vector<Conn*> all;

  explicit Run(Options opts) : o(std::move(opts)) {
    for (int t = 0; t < o.threads; ++t) {
      auto w = std::make_unique<Worker>();
      w->index = t;
      w->o = &o;
      workers.push_back(std::move(w));
    }
  }

  Conn* add_conn(Worker& w) {
    auto c = std::make_unique<Conn>();
    c->w = &w;
    c->idx = static_cast<std::uint32_t>(all.size());
    Conn* raw = c.get();
    all.push_back(raw);
    w.conns.push_back(std::move(c));
    return raw;
  }

  // A group of conns on one worker; the first is its leader.
  Group* add_group(Worker& w, int size) {
    auto g = std::make_unique<Group>();
    g->index = static_cast<std::uint32_t>(w.groups.size() * workers.size() + static_cast<std::size_t>(w.index));
    Group* raw = g.get();
    w.groups.push_back(std::move(g));
    for (int k = 0; k < size; ++k) {
      Conn* c = add_conn(w);
      c->group = raw;
      c->leader = k == 0;
      if (o.target == Target::peerjs) c->id = o.tag + "p" + std::to_string(c->idx);
      raw->members.push_back(c);
      w.to_open.push_back(c);
    }
    return raw;
  }

  void start_workers() {
    for (auto& w : workers) w->th = std::thread([p = w.get()] { p->run(); });
    for (auto& w : workers)
      while (!w->started) sleep_ms(1);
  }

  void stop_workers() {
    for (auto& w : workers) {
      w->stop = true;
      if (w->ctx) lws_cancel_service(w->ctx);
    }
    for (auto& w : workers) w->th.join();
  }

  int ready() const {
    int n = 0;
    for (auto& w : workers) n += w->ready_count.load();
    return n;
  }
  int failed() const {
    int n = 0;
    for (auto& w : workers) n += w->failed_count.load();
    return n;
  }
  int closed() const {
    int n = 0;
    for (auto& w : workers) n += w->closed_count.load();
    return n;
  }
  std::uint64_t delivered() const {
    std::uint64_t n = 0;
    for (auto& w : workers) n += w->delivered.load();
    return n;
  }
  std::uint64_t sent() const {
    std::uint64_t n = 0;
    for (auto& w : workers) n += w->sent.load();
    return n;
  }
  std::uint64_t skipped() const {
    std::uint64_t n = 0;
    for (auto& w : workers) n += w->skipped.load();
    return n;
  }

  // Waits until `want` conns are ready; false on failure or timeout.
  bool wait_ready(int want, double timeout_s) {
    const std::int64_t deadline = now_ns() + static_cast<std::int64_t>(timeout_s * 1e9);
    while (ready() < want) {
      if (failed() > 0) return false;
      if (now_ns() > deadline) {
        std::fprintf(stderr, "lobbykit-loadgen: only %d of %d connections ready\n", ready(), want);
        return false;
      }
      sleep_ms(2);
    }
    return true;
  }

  // Waits until nothing has arrived for quiet_ms (the pushes a setup caused, such as the
  // participant_joined storm of a big lobby, are through), at most timeout_s.
  void wait_quiet(double quiet_ms, double timeout_s) {
    const std::int64_t deadline = now_ns() + static_cast<std::int64_t>(timeout_s * 1e9);
    while (now_ns() < deadline) {
      std::int64_t last = 0;
      for (auto& w : workers) last = std::max(last, w->last_rx.load());
      if (now_ns() - last > static_cast<std::int64_t>(quiet_ms * 1e6)) return;
      sleep_ms(20);
    }
    std::fprintf(stderr, "lobbykit-loadgen: setup traffic did not settle in %.0f s\n", timeout_s);
  }

  std::vector<std::uint32_t> merged_latency() {
    std::vector<std::uint32_t> all_ns;
    for (auto& w : workers) all_ns.insert(all_ns.end(), w->lat.begin(), w->lat.end());
    return all_ns;
  }

  Json base_json() const {
    Json j;
    j.str("scenario", scenario_name(o.scenario)).str("target", target_name(o.target)).str("label", o.label);
    j.num("threads", o.threads);
    return j;
  }

  void write_json(const Json& j) const {
    if (o.json_path.empty()) return;
    std::ofstream f(o.json_path);
    f << j.text() << "\n";
  }

  // Common figures of a measured window.
  void window_json(Json& j, const Window& w, double msgs) const {
    const double secs = w.seconds();
    const double srv = w.server_cpu(), gen = w.gen_cpu();
    j.num("seconds", secs).num("msgs", msgs).num("msgs_per_s", msgs / secs);
    j.num("server_cpu_s", srv).num("server_cpu_util", srv / secs);
    j.num("server_cpu_s_per_100k", msgs > 0 ? srv / msgs * 1e5 : NAN);
    j.num("gen_cpu_s", gen).num("gen_cpu_util", gen / secs);
    j.num("gen_cpu_s_per_100k", msgs > 0 ? gen / msgs * 1e5 : NAN);
    j.num("steal_pct", w.steal_pct());
    j.num("server_wait_pct", w.server_wait_pct()).num("gen_wait_pct", w.gen_wait_pct());
    // Which side ran out of CPU: each has one core (taskset); 0.9 of it counts as saturated.
    const double su = srv / secs, gu = gen / secs / o.threads;
    std::string b = su >= 0.9 ? "server" : gu >= 0.9 ? "generator" : "neither";
    if (su >= 0.9 && gu >= 0.9) b = "both";
    j.str("bottleneck", b);
  }

  void print_window(const Window& w, double msgs) const {
    const double secs = w.seconds();
    std::printf("  %-26s %.0f\n", "msgs/s", msgs / secs);
    if (w.server_cpu() >= 0)
      std::printf("  %-26s %.2f core, %.3f s per 100k msgs\n", "server CPU", w.server_cpu() / secs,
                  msgs > 0 ? w.server_cpu() / msgs * 1e5 : 0.0);
    std::printf("  %-26s %.2f core, %.3f s per 100k msgs\n", "generator CPU",
                w.gen_cpu() / secs, msgs > 0 ? w.gen_cpu() / msgs * 1e5 : 0.0);
    std::printf("  %-26s %.1f %%\n", "steal", w.steal_pct());
    std::printf("  %-26s server %.0f %%, generator %.0f %% of the window\n", "run-queue wait",
                w.server_wait_pct(), w.gen_wait_pct());
  }

  int run() {
    std::printf("== %s / %s%s%s ==\n", scenario_name(o.scenario), target_name(o.target),
                o.label.empty() ? "" : " / ", o.label.c_str());
    switch (o.scenario) {
      case Scenario::relay: return relay();
      case Scenario::broadcast: return broadcast();
      case Scenario::connect: return connect();
      case Scenario::idle: return idle();
      case Scenario::chat: return chat();
    }
    return 1;
  }

  bool paced() const { return o.rate > 0 || o.scenario == Scenario::broadcast; }

  // Sleeps, or when paced hands each worker its due sends every millisecond until `end`.
  std::int64_t pace_t0 = 0;
  std::vector<std::uint64_t> pace_issued;
  void pace_until(std::int64_t end) {
    if (!paced()) {
      sleep_ms(static_cast<double>(end - now_ns()) / 1e6);
      return;
    }
    if (pace_issued.empty()) {
      pace_issued.assign(workers.size(), 0);
      pace_t0 = now_ns();
    }
    timespec next;
    clock_gettime(CLOCK_MONOTONIC, &next);
    while (now_ns() < end) {
      next.tv_nsec += 1'000'000;
      if (next.tv_nsec >= 1'000'000'000) {
        next.tv_nsec -= 1'000'000'000;
        ++next.tv_sec;
      }
      clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, nullptr);
      const double elapsed = static_cast<double>(now_ns() - pace_t0) / 1e9;
      for (std::size_t i = 0; i < workers.size(); ++i) {
        Worker& w = *workers[i];
        const auto due = static_cast<std::uint64_t>(w.rate * elapsed);
        if (due <= pace_issued[i]) continue;
        w.paced_due.fetch_add(due - pace_issued[i], std::memory_order_relaxed);
        pace_issued[i] = due;
        lws_cancel_service(w.ctx);
      }
    }
  }

  // Load phase shared by relay, broadcast and chat: warm-up, measured window, drain.
  Window load_window(std::uint64_t& msgs) {
    g_phase = kWarmup;
    if (!paced()) {
      for (auto& w : workers) {
        Worker* p = w.get();
        p->post([p, this] {
          for (Conn* c : p->senders)
            p->add_load(c, o.pingpong ? (c->leader ? 1 : 0) : static_cast<std::uint32_t>(o.window));
        });
      }
    }
    pace_until(now_ns() + static_cast<std::int64_t>(o.warmup * 1e9));
    Window win;
    const std::uint64_t d0 = delivered();
    g_phase = kMeasure;
    win.start(o.server_pid);
    pace_until(now_ns() + static_cast<std::int64_t>(o.duration * 1e9));
    win.stop();
    const std::uint64_t d1 = delivered();
    msgs = d1 - d0;
    return win;
  }

  int relay() {
    for (int i = 0; i < o.pairs; ++i) {
      Worker& w = *workers[static_cast<std::size_t>(i) % workers.size()];
      Group* g = add_group(w, 2);
      g->members[0]->partner = g->members[1];
      g->members[1]->partner = g->members[0];
      for (Conn* c : g->members) {
        c->sender = true;
        w.senders.push_back(c);
      }
    }
    for (auto& w : workers) w->rate = o.rate * static_cast<double>(w->senders.size()) / (2.0 * o.pairs);
    start_workers();
    if (!wait_ready(2 * o.pairs, 60)) return fail_exit();
    wait_quiet(200, 30);
    std::uint64_t msgs = 0;
    Window win = load_window(msgs);
    g_phase = kDrain;
    sleep_ms(300);
    auto lat_ns = merged_latency();
    Stats s = stats_us(lat_ns);
    const int lost = closed();
    stop_workers();

    Json j = base_json();
    j.num("pairs", o.pairs).num("size", static_cast<double>(o.size)).str("mode", o.pingpong ? "pingpong" : "pipelined");
    j.num("window", o.window).num("rate", o.rate).num("skipped", static_cast<double>(skipped()));
    j.num("closed", lost);
    window_json(j, win, static_cast<double>(msgs));
    j.raw("latency_us", stats_json(s));
    write_json(j);
    std::printf("  pairs %d, %zu B, %s, window %d%s\n", o.pairs, o.size,
                o.pingpong ? "ping-pong" : "pipelined", o.window,
                o.rate > 0 ? (", paced at " + std::to_string(static_cast<long>(o.rate)) + " msgs/s").c_str() : "");
    print_window(win, static_cast<double>(msgs));
    std::printf("  %-26s p50 %.0f  p99 %.0f  max %.0f\n", "latency us", s.p50, s.p99, s.max);
    if (skipped()) std::printf("  %-26s %" PRIu64 "\n", "paced sends skipped", skipped());
    if (lost) std::printf("  connections lost: %d\n", lost);
    return lost ? 1 : 0;
  }

  int broadcast() {
    Worker& w = *workers[0];
    Group* g = add_group(w, o.lobby_size);
    g->members[0]->sender = true;
    w.senders.push_back(g->members[0]);
    w.rate = o.chat_rate;
    o.window = std::max(o.window, 1 << 20);  // pacing never skips the one sender
    start_workers();
    if (!wait_ready(o.lobby_size, 120)) return fail_exit();
    wait_quiet(500, 120);  // the join pushes (n^2 / 2 of them) are through
    std::uint64_t msgs = 0;
    Window win = load_window(msgs);
    g_phase = kDrain;
    sleep_ms(300);
    auto lat_ns = merged_latency();
    Stats s = stats_us(lat_ns);
    const int lost = closed();
    stop_workers();

    Json j = base_json();
    j.num("lobby_size", o.lobby_size).num("chat_rate", o.chat_rate).num("size", static_cast<double>(o.size));
    j.num("closed", lost);
    window_json(j, win, static_cast<double>(msgs));  // msgs = deliveries
    j.raw("latency_us", stats_json(s));
    write_json(j);
    std::printf("  lobby of %d, %.0f chats/s, %zu B\n", o.lobby_size, o.chat_rate, o.size);
    print_window(win, static_cast<double>(msgs));
    std::printf("  %-26s p50 %.0f  p99 %.0f  max %.0f\n", "delivery latency us", s.p50, s.p99, s.max);
    if (lost) std::printf("  connections lost: %d\n", lost);
    return lost ? 1 : 0;
  }

  int chat() {
    for (int i = 0; i < o.lobbies; ++i) {
      Worker& w = *workers[static_cast<std::size_t>(i) % workers.size()];
      Group* g = add_group(w, o.members);
      for (Conn* c : g->members) {
        c->sender = true;
        w.senders.push_back(c);
      }
    }
    start_workers();
    if (!wait_ready(o.lobbies * o.members, 120)) return fail_exit();
    wait_quiet(200, 30);
    std::uint64_t msgs = 0;
    Window win = load_window(msgs);
    if (o.kill_at_end && o.server_pid > 0) {
      // kill -9 while messages are in flight; what anyone was told must be in the file.
      kill(o.server_pid, SIGKILL);
      sleep_ms(500);
    }
    g_phase = kDrain;
    sleep_ms(300);
    auto lat_ns = merged_latency();
    Stats s = stats_us(lat_ns);
    stop_workers();
    std::string acked = "{";
    for (auto& w : workers)
      for (auto& g : w->groups) {
        if (acked.size() > 1) acked += ",";
        acked += "\"" + g->lobby_id + "\":" + std::to_string(g->max_offset);
      }
    acked += "}";

    Json j = base_json();
    j.num("lobbies", o.lobbies).num("members", o.members).num("window", o.window).num("size", static_cast<double>(o.size));
    j.num("killed", o.kill_at_end ? 1 : 0);
    window_json(j, win, static_cast<double>(msgs));
    j.raw("latency_us", stats_json(s));
    j.raw("acked_offsets", acked);
    write_json(j);
    std::printf("  %d lobbies of %d, window %d, %zu B\n", o.lobbies, o.members, o.window, o.size);
    print_window(win, static_cast<double>(msgs));
    std::printf("  %-26s p50 %.0f  p99 %.0f  max %.0f\n", "stored+pushed latency us", s.p50, s.p99, s.max);
    return 0;
  }

  // Control connections make the lobbies the clients join (100 per connection).
  std::vector<std::string> make_lobbies(int count) {
    Worker& w = *workers[0];
    std::vector<Conn*> ctl;
    for (int made = 0; made < count; made += 100) {
      Conn* c = add_conn(w);
      c->ctl_creates_left = std::min(100, count - made);
      w.to_open.push_back(c);
      ctl.push_back(c);
    }
    start_workers();
    if (!wait_ready(static_cast<int>(ctl.size()), 60)) return {};
    std::vector<std::string> ids;
    std::mutex m;
    // The ids were collected on the loop thread; read them there.
    bool done = false;
    w.post([&] {
      std::lock_guard<std::mutex> lock(m);
      for (Conn* c : ctl) {
        std::stringstream ss(c->lobby_id);
        std::string id;
        while (std::getline(ss, id, ','))
          if (!id.empty()) ids.push_back(id);
      }
      done = true;
    });
    while (true) {
      {
        std::lock_guard<std::mutex> lock(m);
        if (done) break;
      }
      sleep_ms(1);
    }
    return ids;
  }

  int connect() {
    const int lobbies = (o.clients + o.members - 1) / o.members;
    // Clients are created before the workers start; their lobbies are filled in below.
    std::vector<Conn*> clients;
    for (int i = 0; i < o.clients; ++i) {
      Worker& w = *workers[static_cast<std::size_t>(i) % workers.size()];
      clients.push_back(add_conn(w));
    }
    std::vector<std::string> ids = make_lobbies(lobbies);
    if (static_cast<int>(ids.size()) != lobbies) return fail_exit();
    const int ctl_ready = ready();
    for (std::size_t i = 0; i < clients.size(); ++i) clients[i]->lobby_id = ids[i / static_cast<std::size_t>(o.members)];
    Window win;
    win.start(o.server_pid);
    for (auto& w : workers) {
      Worker* p = w.get();
      p->post([p, clients] {
        for (Conn* c : clients)
          if (c->w == p) p->to_open.push_back(c);
        p->open_limit = SIZE_MAX;
        p->pump_opens();
      });
    }
    const bool ok = wait_ready(ctl_ready + o.clients, 300);
    win.stop();
    std::int64_t first = INT64_MAX, last = 0;
    std::vector<std::uint32_t> hs;
    stop_workers();
    for (auto& w : workers) {
      for (Conn* c : clients)
        if (c->w == w.get() && c->t_open) first = std::min(first, c->t_open);
      last = std::max(last, w->last_ready);
      hs.insert(hs.end(), w->handshake_ns.begin(), w->handshake_ns.end());
    }
    if (!ok) return 1;
    Stats s = stats_us(hs);
    const double secs = static_cast<double>(last - first) / 1e9;
    Json j = base_json();
    j.num("clients", o.clients).num("concurrency", o.concurrency).num("members", o.members);
    j.num("seconds", secs).num("conns_per_s", o.clients / secs);
    j.num("server_cpu_s", win.server_cpu()).num("server_cpu_util", win.server_cpu() / win.seconds());
    j.num("server_cpu_ms_per_conn", win.server_cpu() / o.clients * 1e3);
    j.num("gen_cpu_s", win.gen_cpu()).num("gen_cpu_util", win.gen_cpu() / win.seconds());
    j.num("steal_pct", win.steal_pct());
    j.num("server_wait_pct", win.server_wait_pct()).num("gen_wait_pct", win.gen_wait_pct());
    const double su = win.server_cpu() / win.seconds(), gu = win.gen_cpu() / win.seconds() / o.threads;
    j.str("bottleneck", su >= 0.9 ? "server" : gu >= 0.9 ? "generator" : "neither");
    j.raw("handshake_us", stats_json(s));
    write_json(j);
    std::printf("  %d clients (open + auth + set_name + join_lobby), %d at a time, lobbies of %d\n",
                o.clients, o.concurrency, o.members);
    std::printf("  %-26s %.0f\n", "sessions/s", o.clients / secs);
    std::printf("  %-26s p50 %.1f  p99 %.1f  max %.1f\n", "handshake ms", s.p50 / 1000, s.p99 / 1000, s.max / 1000);
    std::printf("  %-26s %.2f core, %.3f ms per session\n", "server CPU", su, win.server_cpu() / o.clients * 1e3);
    std::printf("  %-26s %.2f core\n", "generator CPU", win.gen_cpu() / win.seconds());
    std::printf("  %-26s %.1f %%\n", "steal", win.steal_pct());
    return 0;
  }

  int idle() {
    const int max_n = *std::max_element(o.steps.begin(), o.steps.end());
    for (int i = 0; i < max_n; ++i) {
      Worker& w = *workers[static_cast<std::size_t>(i) % workers.size()];
      Conn* c = add_conn(w);
      w.to_open.push_back(c);
    }
    for (auto& w : workers) w->open_limit = 0;
    start_workers();
    sleep_ms(o.settle * 1000);
    const long base = proc_rss_kib(o.server_pid);
    std::string steps_json = "[";
    std::printf("  server RSS at start: %ld KiB\n", base);
    for (int n : o.steps) {
      for (auto& w : workers) {
        Worker* p = w.get();
        const std::size_t share = static_cast<std::size_t>(n) / workers.size() +
                                  (static_cast<std::size_t>(p->index) < static_cast<std::size_t>(n) % workers.size() ? 1 : 0);
        p->post([p, share] {
          p->open_limit = share;
          p->pump_opens();
        });
      }
      if (!wait_ready(n, 300)) {
        stop_workers();
        return 1;
      }
      sleep_ms(o.settle * 1000);
      const long rss = proc_rss_kib(o.server_pid);
      const double per = static_cast<double>(rss - base) * 1024.0 / n;
      std::printf("  %6d sessions: RSS %ld KiB, %.0f bytes per session\n", n, rss, per);
      if (steps_json.size() > 1) steps_json += ",";
      Json s;
      s.num("sessions", n).num("rss_kib", static_cast<double>(rss)).num("bytes_per_session", per);
      steps_json += s.text();
    }
    steps_json += "]";
    stop_workers();
    Json j = base_json();
    j.num("rss_base_kib", static_cast<double>(base)).raw("steps", steps_json);
    write_json(j);
    return 0;
  }

  int fail_exit() {
    std::fprintf(stderr, "lobbykit-loadgen: setup failed (%d ready, %d failed)\n", ready(), failed());
    stop_workers();
    return 1;
  }
};

}  // namespace

int main(int argc, char** argv) {
  signal(SIGPIPE, SIG_IGN);
  lws_set_log_level(LLL_ERR, nullptr);
  Options o = parse_options(argc, argv);
  Run run(o);
  const int rc = run.run();
  std::fflush(stdout);
  return rc;
}
