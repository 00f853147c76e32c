// Load generator of bench/soak.sh: one epoll thread, HTTP/1.1 keep-alive over raw
// non-blocking sockets, a weighted mix of the read path's request kinds.
//
//   closed  --concurrency C: C "busy" requests (warm, cold, stream, commit) always in
//           flight; the waiting kinds (poll, follow) of the same mix are sent beside
//           them without taking a slot. Prints the completed requests/s of the whole
//           mix: the capacity.
//   open    --rate R: requests are due at fixed 1/R intervals, whatever the server
//           does (latency counts from the due time, so a stall is not hidden);
//           a due request waits in a backlog when --max-conns connections are busy.
//
// Every --interval-ms it appends one JSON line to --out: per kind sent/ok/errors, a
// log-bucketed latency histogram of the busy kinds, the connections open and the
// backlog. An error is any unexpected status (expected: 200, 204 for commits), a
// connection reset/EOF/timeout before the response ended, or a body that fails its
// check (records answer without "records", stream without its end line, error line).
//
// Build: g++ -std=c++20 -O2 -Wall -Wextra -Werror -o loadgen loadgen.cc
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <map>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;
double now_s() { return std::chrono::duration<double>(Clock::now().time_since_epoch()).count(); }

enum Kind { kWarm, kCold, kPoll, kStream, kFollow, kCommit, kKinds };
constexpr std::array<const char*, kKinds> kKindName = {"warm", "cold", "poll", "stream", "follow", "commit"};
bool is_busy(int k) { return k != kPoll && k != kFollow; }

struct Config {
  int port = 0;
  std::string mode = "open";
  double seconds = 10, rate = 100, interval_ms = 5000;
  int concurrency = 16, max_conns = 900;
  std::string out = "/dev/stdout";
  std::array<double, kKinds> weight = {45, 30, 6, 8, 4, 3};
  std::string warm_topic = "warm", cold_topic = "cold";
  int warm_parts = 1, cold_parts = 4;
  long warm_records = 5000, cold_records = 100000;
  int warm_window = 2000;   // warm reads start in [0, warm_window)
  int max_records = 100;
  int stream_records = 500;
  int poll_timeout_ms = 500;
  int follow_ms = 1000;
  int groups = 32;
  double idle_close_s = 5, request_timeout_s = 30;
  unsigned seed = 1;
};

// Log buckets, 5% wide, from 10 us; enough for p99 of an interval.
constexpr double kBucketBase = 1e-5, kBucketGrowth = 1.05;
int bucket_of(double s) {
  if (s <= kBucketBase) return 0;
  return 1 + static_cast<int>(std::log(s / kBucketBase) / std::log(kBucketGrowth));
}
double bucket_upper(int b) { return kBucketBase * std::pow(kBucketGrowth, b); }

struct IntervalStats {
  std::array<long, kKinds> sent{}, ok{}, err{};
  std::map<std::string, long> err_reason;
  std::array<std::map<int, long>, kKinds> hist;  // busy kinds
  std::array<double, kKinds> max_latency{};
  double poll_max_late = 0;  // long-poll answer after timeout_ms, beyond it
  double poll_min = 1e9;
};

struct Conn {
  int fd = -1;
  bool connecting = false, reused = false, in_request = false;
  int kind = 0;
  double due = 0, started = 0, last_used = 0, follow_until = 0;
  std::string out;      // request bytes not yet written
  std::string hdr;      // response header bytes
  bool got_headers = false, chunked = false, close_after = false;
  int status = 0;
  long content_left = 0;
  // chunked decoding
  enum { kSize, kData, kDataCrlf, kTrailer } cstate = kSize;
  std::string cline;
  long chunk_left = 0;
  std::string head, tail;  // first/last body bytes for the body checks
  long body_bytes = 0;
};

struct Gen {
  Config cfg;
  int ep = -1;
  std::mt19937_64 rng;
  std::vector<Conn*> idle;
  std::vector<Conn*> all;  // every open connection
  std::vector<Conn*> graveyard;
  long open_conns = 0, busy_in_flight = 0, waiting_in_flight = 0;
  std::deque<std::pair<int, double>> backlog;  // (kind, due)
  IntervalStats cur;
  double t0 = 0, interval_start = 0;
  FILE* out = nullptr;
  std::array<long, kKinds> total_ok{}, total_err{}, total_sent{};
  long max_backlog = 0, max_open = 0;

  int pick_kind() {
    double sum = 0;
    for (double w : cfg.weight) sum += w;
    double x = std::uniform_real_distribution<double>(0, sum)(rng);
    for (int k = 0; k < kKinds; ++k) {
      if (x < cfg.weight[k]) return k;
      x -= cfg.weight[k];
    }
    return kWarm;
  }
  long uni(long n) { return std::uniform_int_distribution<long>(0, n - 1)(rng); }

  std::string request(int kind) {
    char path[512];
    std::string body;
    switch (kind) {
      case kWarm:
        snprintf(path, sizeof path, "/topics/%s/partitions/%ld/records?offset=%ld&max_records=%d", cfg.warm_topic.c_str(),
                 uni(cfg.warm_parts), uni(std::min<long>(cfg.warm_window, cfg.warm_records)), cfg.max_records);
        break;
      case kCold:
        snprintf(path, sizeof path, "/topics/%s/partitions/%ld/records?offset=%ld&max_records=%d", cfg.cold_topic.c_str(),
                 uni(cfg.cold_parts), uni(cfg.cold_records - cfg.max_records), cfg.max_records);
        break;
      case kPoll:
        snprintf(path, sizeof path, "/topics/%s/partitions/%ld/records?offset=latest&timeout_ms=%d", cfg.warm_topic.c_str(),
                 uni(cfg.warm_parts), cfg.poll_timeout_ms);
        break;
      case kStream: {
        long start = uni(cfg.cold_records - cfg.stream_records);
        snprintf(path, sizeof path, "/topics/%s/partitions/%ld/records/stream?offset=%ld&end_offset=%ld", cfg.cold_topic.c_str(),
                 uni(cfg.cold_parts), start, start + cfg.stream_records);
        break;
      }
      case kFollow:
        snprintf(path, sizeof path, "/topics/%s/partitions/%ld/records/stream?offset=latest&follow=true", cfg.warm_topic.c_str(),
                 uni(cfg.warm_parts));
        break;
      case kCommit: {
        snprintf(path, sizeof path, "/consumer-groups/soak-g%ld/offsets", uni(cfg.groups));
        char b[256];
        snprintf(b, sizeof b, "{\"offsets\":[{\"topic\":\"%s\",\"partition\":%ld,\"offset\":%ld}]}", cfg.cold_topic.c_str(),
                 uni(cfg.cold_parts), uni(cfg.cold_records));
        body = b;
        break;
      }
      default: break;
    }
    std::string r = kind == kCommit ? "POST " : "GET ";
    r += path;
    r += " HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: soak-loadgen\r\n";
    if (kind == kCommit) {
      r += "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
    }
    r += "\r\n";
    r += body;
    return r;
  }

  void watch(Conn* c, uint32_t events, int op) {
    epoll_event ev{};
    ev.events = events;
    ev.data.ptr = c;
    if (epoll_ctl(ep, op, c->fd, &ev) != 0) {
      perror("epoll_ctl");
      std::exit(3);
    }
  }

  Conn* open_conn() {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return nullptr;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(cfg.port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    auto* c = new Conn;
    c->fd = fd;
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      if (errno != EINPROGRESS) {
        ::close(fd);
        delete c;
        return nullptr;
      }
      c->connecting = true;
    }
    watch(c, EPOLLIN | EPOLLOUT | EPOLLRDHUP, EPOLL_CTL_ADD);
    all.push_back(c);
    ++open_conns;
    max_open = std::max(max_open, open_conns);
    return c;
  }

  // Closes c; the object is freed after the current epoll batch (its events may follow).
  void close_conn(Conn* c) {
    if (c->fd < 0) return;
    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, nullptr);
    ::close(c->fd);
    c->fd = -1;
    all.erase(std::find(all.begin(), all.end(), c));
    auto it = std::find(idle.begin(), idle.end(), c);
    if (it != idle.end()) idle.erase(it);
    --open_conns;
    graveyard.push_back(c);
  }
  void bury() {
    for (Conn* c : graveyard) delete c;
    graveyard.clear();
  }

  // Starts `kind` (due at `due`) now; false when no connection can be had.
  bool start(int kind, double due) {
    Conn* c = nullptr;
    if (!idle.empty()) {
      c = idle.back();
      idle.pop_back();
    }
    if (c == nullptr) {
      if (open_conns >= cfg.max_conns) return false;
      c = open_conn();
      if (c == nullptr) {
        fail_kind(kind, "connect");
        return true;
      }
    } else {
      c->reused = true;
    }
    c->in_request = true;
    c->kind = kind;
    c->due = due;
    c->started = now_s();
    c->out = request(kind);
    c->hdr.clear();
    c->got_headers = c->chunked = c->close_after = false;
    c->status = 0;
    c->content_left = 0;
    c->cstate = Conn::kSize;
    c->cline.clear();
    c->chunk_left = 0;
    c->head.clear();
    c->tail.clear();
    c->body_bytes = 0;
    c->follow_until = 0;
    ++cur.sent[kind];
    ++total_sent[kind];
    (is_busy(kind) ? busy_in_flight : waiting_in_flight)++;
    if (!c->connecting) flush(c);
    return true;
  }

  void fail_kind(int kind, const std::string& why) {
    ++cur.err[kind];
    ++total_err[kind];
    ++cur.err_reason[std::string(kKindName[kind]) + ":" + why];
  }

  void flush(Conn* c) {
    while (!c->out.empty()) {
      ssize_t n = ::send(c->fd, c->out.data(), c->out.size(), MSG_NOSIGNAL);
      if (n > 0) {
        c->out.erase(0, static_cast<size_t>(n));
        continue;
      }
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        watch(c, EPOLLIN | EPOLLOUT | EPOLLRDHUP, EPOLL_CTL_MOD);
        return;
      }
      finish(c, false, "send");
      return;
    }
  }

  // The request on `c` ended: ok, or an error with a reason. Frees or recycles c.
  void finish(Conn* c, bool ok, const std::string& why) {
    if (!c->in_request) {
      close_conn(c);
      return;
    }
    const int k = c->kind;
    const double t = now_s();
    const double lat = t - c->due;
    (is_busy(k) ? busy_in_flight : waiting_in_flight)--;
    c->in_request = false;
    if (ok) {
      ++cur.ok[k];
      ++total_ok[k];
      if (is_busy(k)) ++cur.hist[k][bucket_of(lat)];
      cur.max_latency[k] = std::max(cur.max_latency[k], lat);
      if (k == kPoll) {
        cur.poll_max_late = std::max(cur.poll_max_late, lat - cfg.poll_timeout_ms / 1000.0);
        cur.poll_min = std::min(cur.poll_min, t - c->started);
      }
    } else {
      fail_kind(k, why + (c->reused ? "(reused conn)" : ""));
    }
    if (!ok || c->close_after || k == kFollow) {
      close_conn(c);
    } else {
      c->last_used = t;
      idle.push_back(c);
    }
  }

  static void keep(std::string& s, const char* p, size_t n, bool head) {
    constexpr size_t kKeep = 256;
    if (head) {
      if (s.size() < kKeep) s.append(p, std::min(n, kKeep - s.size()));
    } else {
      s.append(p, n);
      if (s.size() > 2 * kKeep) s.erase(0, s.size() - kKeep);
    }
  }

  void body_bytes(Conn* c, const char* p, size_t n) {
    keep(c->head, p, n, true);
    keep(c->tail, p, n, false);
    c->body_bytes += static_cast<long>(n);
  }

  // Whole response received: check it.
  void complete(Conn* c) {
    const int k = c->kind;
    const int want = k == kCommit ? 204 : 200;
    if (c->status != want) {
      finish(c, false, "status " + std::to_string(c->status));
      return;
    }
    if (k == kWarm || k == kCold || k == kPoll) {
      if (c->head.find("\"records\"") == std::string::npos && c->tail.find("\"records\"") == std::string::npos) {
        finish(c, false, "body without records");
        return;
      }
    }
    if (k == kStream) {
      if (c->tail.find("{\"end\":") == std::string::npos || c->tail.find("{\"error\":") != std::string::npos) {
        finish(c, false, "stream without end line");
        return;
      }
    }
    if (k == kFollow) {  // the server ended a follower: not expected within follow_ms
      finish(c, false, "follow stream ended");
      return;
    }
    finish(c, true, "");
  }

  // Feeds received bytes; returns false when c was finished/freed.
  bool feed(Conn* c, const char* p, size_t n) {
    if (!c->in_request) {  // bytes on an idle connection: protocol error
      close_conn(c);
      return false;
    }
    if (!c->got_headers) {
      c->hdr.append(p, n);
      size_t e = c->hdr.find("\r\n\r\n");
      if (e == std::string::npos) {
        if (c->hdr.size() > 65536) {
          finish(c, false, "huge headers");
          return false;
        }
        return true;
      }
      std::string h = c->hdr.substr(0, e + 2);
      std::string rest = c->hdr.substr(e + 4);
      c->got_headers = true;
      if (h.size() < 12 || h.compare(0, 5, "HTTP/") != 0) {
        finish(c, false, "bad status line");
        return false;
      }
      c->status = std::atoi(h.c_str() + 9);
      std::string lower = h;
      std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char ch) { return std::tolower(ch); });
      c->chunked = lower.find("\r\ntransfer-encoding: chunked") != std::string::npos;
      c->close_after = lower.find("\r\nconnection: close") != std::string::npos;
      size_t cl = lower.find("\r\ncontent-length:");
      c->content_left = cl == std::string::npos ? 0 : std::atol(lower.c_str() + cl + 17);
      if (c->kind == kFollow && c->status == 200) c->follow_until = now_s() + cfg.follow_ms / 1000.0;
      c->hdr.clear();
      if (!c->chunked && c->content_left == 0 && rest.empty()) {
        if (c->kind == kFollow && c->status == 200) return true;
        complete(c);
        return false;
      }
      return feed_body(c, rest.data(), rest.size());
    }
    return feed_body(c, p, n);
  }

  bool feed_body(Conn* c, const char* p, size_t n) {
    if (!c->chunked) {
      size_t take = std::min<size_t>(n, static_cast<size_t>(std::max<long>(c->content_left, 0)));
      body_bytes(c, p, take);
      c->content_left -= static_cast<long>(take);
      if (take < n) {
        finish(c, false, "bytes after body");
        return false;
      }
      if (c->content_left == 0) {
        complete(c);
        return false;
      }
      return true;
    }
    size_t i = 0;
    while (i < n) {
      switch (c->cstate) {
        case Conn::kSize: {
          const char* nl = static_cast<const char*>(memchr(p + i, '\n', n - i));
          if (nl == nullptr) {
            c->cline.append(p + i, n - i);
            i = n;
            break;
          }
          c->cline.append(p + i, static_cast<size_t>(nl - (p + i)));
          i = static_cast<size_t>(nl - p) + 1;
          c->chunk_left = std::strtol(c->cline.c_str(), nullptr, 16);
          c->cline.clear();
          c->cstate = c->chunk_left == 0 ? Conn::kTrailer : Conn::kData;
          break;
        }
        case Conn::kData: {
          size_t take = std::min<size_t>(n - i, static_cast<size_t>(c->chunk_left));
          body_bytes(c, p + i, take);
          i += take;
          c->chunk_left -= static_cast<long>(take);
          if (c->chunk_left == 0) {
            c->cstate = Conn::kDataCrlf;
            c->cline.clear();
          }
          break;
        }
        case Conn::kDataCrlf: {
          const char* nl = static_cast<const char*>(memchr(p + i, '\n', n - i));
          if (nl == nullptr) {
            i = n;
            break;
          }
          i = static_cast<size_t>(nl - p) + 1;
          c->cstate = Conn::kSize;
          break;
        }
        case Conn::kTrailer: {
          const char* nl = static_cast<const char*>(memchr(p + i, '\n', n - i));
          if (nl == nullptr) {
            c->cline.append(p + i, n - i);
            i = n;
            break;
          }
          c->cline.append(p + i, static_cast<size_t>(nl - (p + i)));
          i = static_cast<size_t>(nl - p) + 1;
          bool empty = c->cline.empty() || c->cline == "\r";
          c->cline.clear();
          if (empty) {
            if (i < n) {
              finish(c, false, "bytes after body");
              return false;
            }
            complete(c);
            return false;
          }
          break;
        }
      }
    }
    if (c->kind == kFollow && c->tail.find("{\"error\":") != std::string::npos) {
      finish(c, false, "error line in follow stream");
      return false;
    }
    return true;
  }

  void on_event(Conn* c, uint32_t ev) {
    if (c->connecting) {
      int err = 0;
      socklen_t len = sizeof err;
      getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
      if (err != 0) {
        finish(c, false, "connect");
        return;
      }
      c->connecting = false;
      watch(c, EPOLLIN | EPOLLRDHUP, EPOLL_CTL_MOD);
      flush(c);
      return;
    }
    if ((ev & EPOLLOUT) && !c->out.empty()) {
      flush(c);
      if (c->fd >= 0 && c->out.empty()) watch(c, EPOLLIN | EPOLLRDHUP, EPOLL_CTL_MOD);
      return;
    }
    if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
      char buf[65536];
      for (;;) {
        ssize_t n = ::recv(c->fd, buf, sizeof buf, 0);
        if (n > 0) {
          if (!feed(c, buf, static_cast<size_t>(n))) return;
          continue;
        }
        if (n == 0) {
          if (c->in_request) {
            finish(c, false, c->got_headers ? "eof in body" : "eof before response");
          } else {
            close_conn(c);
          }
          return;
        }
        if (errno == EAGAIN || errno == EWOULDBLOCK) return;
        if (errno == EINTR) continue;
        if (c->in_request) {
          finish(c, false, std::string("recv ") + strerror(errno));
        } else {
          close_conn(c);
        }
        return;
      }
    }
  }

  void housekeeping(double t) {
    std::vector<Conn*> snapshot = all;
    for (Conn* c : snapshot) {
      if (c->in_request) {
        if (c->kind == kFollow && c->follow_until > 0 && t >= c->follow_until) {
          finish(c, true, "");  // held long enough: the client closes it
        } else if (t - c->started > cfg.request_timeout_s) {
          finish(c, false, "timeout");
        }
      } else if (t - c->last_used > cfg.idle_close_s) {
        close_conn(c);
      }
    }
  }

  void write_interval(double t) {
    auto pct = [](const std::map<int, long>& h, double q) {
      long n = 0;
      for (auto& [b, cnt] : h) n += cnt;
      if (n == 0) return 0.0;
      long want = static_cast<long>(std::ceil(q * static_cast<double>(n)));
      long acc = 0;
      for (auto& [b, cnt] : h) {
        acc += cnt;
        if (acc >= want) return bucket_upper(b);
      }
      return bucket_upper(h.rbegin()->first);
    };
    std::string s = "{\"t\":" + std::to_string(t - t0) + ",\"dt\":" + std::to_string(t - interval_start);
    for (const char* name : {"sent", "ok", "err"}) {
      s += ",\"" + std::string(name) + "\":{";
      const auto& arr = std::string(name) == "sent" ? cur.sent : std::string(name) == "ok" ? cur.ok : cur.err;
      for (int k = 0; k < kKinds; ++k) s += (k ? ",\"" : "\"") + std::string(kKindName[k]) + "\":" + std::to_string(arr[k]);
      s += "}";
    }
    s += ",\"max_ms\":{";
    for (int k = 0; k < kKinds; ++k) {
      s += (k ? ",\"" : "\"") + std::string(kKindName[k]) + "\":" + std::to_string(cur.max_latency[k] * 1e3);
    }
    s += "},\"p99_ms\":{";
    bool first = true;
    for (int k = 0; k < kKinds; ++k) {
      if (!is_busy(k)) continue;
      s += (first ? "\"" : ",\"") + std::string(kKindName[k]) + "\":" + std::to_string(pct(cur.hist[k], 0.99) * 1e3);
      first = false;
    }
    s += "},\"hist\":{";
    first = true;
    for (int k = 0; k < kKinds; ++k) {
      if (!is_busy(k)) continue;
      s += (first ? "\"" : ",\"") + std::string(kKindName[k]) + "\":{";
      first = false;
      bool f2 = true;
      for (auto& [b, cnt] : cur.hist[k]) {
        s += (f2 ? "\"" : ",\"") + std::to_string(b) + "\":" + std::to_string(cnt);
        f2 = false;
      }
      s += "}";
    }
    s += "},\"errors\":{";
    first = true;
    for (auto& [why, cnt] : cur.err_reason) {
      s += (first ? "\"" : ",\"") + why + "\":" + std::to_string(cnt);
      first = false;
    }
    s += "},\"poll_max_late_ms\":" + std::to_string(cur.poll_max_late * 1e3) +
         ",\"poll_min_ms\":" + std::to_string(cur.poll_min < 1e8 ? cur.poll_min * 1e3 : 0.0) +
         ",\"conns\":" + std::to_string(open_conns) + ",\"backlog\":" + std::to_string(backlog.size()) +
         ",\"in_flight_busy\":" + std::to_string(busy_in_flight) +
         ",\"in_flight_waiting\":" + std::to_string(waiting_in_flight) + "}\n";
    fputs(s.c_str(), out);
    fflush(out);
    cur = IntervalStats{};
    interval_start = t;
  }

  int run() {
    rng.seed(cfg.seed);
    ep = epoll_create1(EPOLL_CLOEXEC);
    out = fopen(cfg.out.c_str(), "a");
    if (out == nullptr) {
      perror(cfg.out.c_str());
      return 2;
    }
    t0 = interval_start = now_s();
    const double end = t0 + cfg.seconds;
    const bool open_loop = cfg.mode == "open";
    const double step = open_loop ? 1.0 / cfg.rate : 0;
    double next_due = t0;
    double next_house = t0 + 0.05;
    std::array<epoll_event, 256> evs{};
    for (;;) {
      double t = now_s();
      if (t >= end) break;
      if (open_loop) {
        while (next_due <= t && next_due < end) {
          backlog.emplace_back(pick_kind(), next_due);
          next_due += step;
        }
        while (!backlog.empty()) {
          if (!start(backlog.front().first, backlog.front().second)) break;
          backlog.pop_front();
        }
        max_backlog = std::max<long>(max_backlog, static_cast<long>(backlog.size()));
        if (backlog.size() > 200000) {
          fprintf(stderr, "loadgen: backlog over 200000 requests: the server stopped answering\n");
          break;
        }
      } else {
        int guard = 0;
        while (busy_in_flight < cfg.concurrency && guard++ < 1000) {
          int k = pick_kind();
          if (!is_busy(k) && waiting_in_flight >= cfg.max_conns / 4) continue;
          if (!start(k, now_s())) break;
        }
      }
      if (t >= next_house) {
        housekeeping(t);
        next_house = t + 0.05;
      }
      if (t - interval_start >= cfg.interval_ms / 1000.0) write_interval(t);
      double wake = std::min({end, next_house, interval_start + cfg.interval_ms / 1000.0});
      if (open_loop && backlog.empty()) wake = std::min(wake, next_due);
      if (open_loop && !backlog.empty()) wake = std::min(wake, t + 0.001);
      double wait = std::max(0.0, wake - now_s());
      timespec ts{static_cast<time_t>(wait), static_cast<long>((wait - std::floor(wait)) * 1e9)};
      int n = epoll_pwait2(ep, evs.data(), static_cast<int>(evs.size()), &ts, nullptr);
      if (n < 0 && errno != EINTR) {
        perror("epoll_pwait2");
        return 3;
      }
      for (int i = 0; i < n; ++i) {
        Conn* c = static_cast<Conn*>(evs[static_cast<size_t>(i)].data.ptr);
        if (c->fd >= 0) on_event(c, evs[static_cast<size_t>(i)].events);
      }
      bury();
    }
    // Let what is in flight finish (followers are closed at their time), then report.
    const double drain_end = now_s() + cfg.request_timeout_s;
    while ((busy_in_flight + waiting_in_flight) > 0 && now_s() < drain_end) {
      housekeeping(now_s());
      timespec ts{0, 20'000'000};
      int n = epoll_pwait2(ep, evs.data(), static_cast<int>(evs.size()), &ts, nullptr);
      for (int i = 0; i < n; ++i) {
        Conn* c = static_cast<Conn*>(evs[static_cast<size_t>(i)].data.ptr);
        if (c->fd >= 0) on_event(c, evs[static_cast<size_t>(i)].events);
      }
      bury();
    }
    write_interval(now_s());
    long unsent = static_cast<long>(backlog.size());
    while (!all.empty()) close_conn(all.back());
    bury();
    const double secs = cfg.seconds;
    long ok = 0, err = 0, sent = 0;
    for (int k = 0; k < kKinds; ++k) {
      ok += total_ok[k];
      err += total_err[k];
      sent += total_sent[k];
    }
    std::string s = "{\"summary\":true,\"mode\":\"" + cfg.mode + "\",\"seconds\":" + std::to_string(secs) +
                    ",\"sent\":" + std::to_string(sent) + ",\"ok\":" + std::to_string(ok) + ",\"err\":" + std::to_string(err) +
                    ",\"unsent\":" + std::to_string(unsent) + ",\"rate\":" + std::to_string(static_cast<double>(ok + err) / secs) +
                    ",\"max_backlog\":" + std::to_string(max_backlog) + ",\"max_conns\":" + std::to_string(max_open) + ",\"ok_by_kind\":{";
    for (int k = 0; k < kKinds; ++k) s += (k ? ",\"" : "\"") + std::string(kKindName[k]) + "\":" + std::to_string(total_ok[k]);
    s += "}}\n";
    fputs(s.c_str(), out);
    fclose(out);
    printf("%s", s.c_str());
    return 0;
  }
};

bool parse_mix(const std::string& spec, std::array<double, kKinds>* w) {
  std::array<double, kKinds> out{};
  size_t pos = 0;
  while (pos < spec.size()) {
    size_t comma = spec.find(',', pos);
    std::string item = spec.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    pos = comma == std::string::npos ? spec.size() : comma + 1;
    size_t eq = item.find('=');
    if (eq == std::string::npos) return false;
    std::string name = item.substr(0, eq);
    int k = -1;
    for (int i = 0; i < kKinds; ++i) {
      if (name == kKindName[i]) k = i;
    }
    if (k < 0) return false;
    out[k] = std::atof(item.c_str() + eq + 1);
  }
  *w = out;
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  Gen g;
  Config& c = g.cfg;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i], v = argv[i + 1];
    if (k == "--port") c.port = std::atoi(v.c_str());
    else if (k == "--mode") c.mode = v;
    else if (k == "--seconds") c.seconds = std::atof(v.c_str());
    else if (k == "--rate") c.rate = std::atof(v.c_str());
    else if (k == "--concurrency") c.concurrency = std::atoi(v.c_str());
    else if (k == "--max-conns") c.max_conns = std::atoi(v.c_str());
    else if (k == "--interval-ms") c.interval_ms = std::atof(v.c_str());
    else if (k == "--out") c.out = v;
    else if (k == "--mix") {
      if (!parse_mix(v, &c.weight)) {
        fprintf(stderr, "loadgen: bad --mix %s\n", v.c_str());
        return 2;
      }
    } else if (k == "--warm-topic") c.warm_topic = v;
    else if (k == "--cold-topic") c.cold_topic = v;
    else if (k == "--warm-parts") c.warm_parts = std::atoi(v.c_str());
    else if (k == "--cold-parts") c.cold_parts = std::atoi(v.c_str());
    else if (k == "--warm-records") c.warm_records = std::atol(v.c_str());
    else if (k == "--cold-records") c.cold_records = std::atol(v.c_str());
    else if (k == "--warm-window") c.warm_window = std::atoi(v.c_str());
    else if (k == "--max-records") c.max_records = std::atoi(v.c_str());
    else if (k == "--stream-records") c.stream_records = std::atoi(v.c_str());
    else if (k == "--poll-timeout-ms") c.poll_timeout_ms = std::atoi(v.c_str());
    else if (k == "--follow-ms") c.follow_ms = std::atoi(v.c_str());
    else if (k == "--groups") c.groups = std::atoi(v.c_str());
    else if (k == "--seed") c.seed = static_cast<unsigned>(std::atoi(v.c_str()));
    else {
      fprintf(stderr, "loadgen: unknown option %s\n", k.c_str());
      return 2;
    }
  }
  if (c.port <= 0 || (c.mode != "open" && c.mode != "closed") || c.rate <= 0) {
    fprintf(stderr, "usage: loadgen --port P --mode open|closed [--rate R | --concurrency C] --seconds S --out FILE\n");
    return 2;
  }
  return g.run();
}
