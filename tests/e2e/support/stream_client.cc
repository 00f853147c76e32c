#include "tests/e2e/support/stream_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <sstream>
#include <thread>

#include <fmt/format.h>
#include <gtest/gtest.h>

namespace sh::testing {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

std::vector<std::string> split_lines(const std::string& body) {
  std::vector<std::string> out;
  std::istringstream in(body);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

std::vector<SseEvent> sse_events(const std::string& body) {
  std::vector<SseEvent> out;
  SseEvent cur;
  bool has_data = false;
  for (const std::string& l : split_lines(body)) {
    if (l.empty()) {
      if (has_data) out.push_back(cur);
      cur = SseEvent{};
      has_data = false;
      continue;
    }
    if (l[0] == ':') continue;
    const size_t colon = l.find(": ");
    const std::string field = l.substr(0, colon);
    const std::string value = colon == std::string::npos ? "" : l.substr(colon + 2);
    if (field == "event") cur.event = value;
    if (field == "id") cur.id = value;
    if (field == "data") {
      cur.data = value;
      has_data = true;
    }
  }
  return out;
}

std::string sse_last_event_id(const std::string& body) {
  std::string id;
  for (const std::string& l : split_lines(body)) {
    if (l.rfind("id: ", 0) == 0) id = l.substr(4);
  }
  return id;
}

StreamClient::StreamClient(int port, const std::string& path, const std::vector<std::string>& headers,
                           int rcvbuf) {
  fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
  if (rcvbuf > 0) ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ADD_FAILURE() << "connect failed";
    return;
  }
  std::string req = fmt::format("GET {} HTTP/1.1\r\nHost: 127.0.0.1\r\n", path);
  for (const auto& h : headers) req += h + "\r\n";
  req += "\r\n";
  (void)!::write(fd_, req.data(), req.size());
}

StreamClient::~StreamClient() { close(); }

void StreamClient::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

bool StreamClient::read_some(std::chrono::milliseconds wait, size_t max) {
  if (fd_ < 0 || eof_) return false;
  pollfd p{fd_, POLLIN, 0};
  if (::poll(&p, 1, static_cast<int>(wait.count())) <= 0) return false;
  std::string buf(max, '\0');
  ssize_t n = ::read(fd_, buf.data(), buf.size());
  if (n <= 0) {
    eof_ = true;
    return false;
  }
  raw_.append(buf.data(), static_cast<size_t>(n));
  decode();
  return true;
}

bool StreamClient::read_until(const std::string& what, std::chrono::milliseconds timeout) {
  const auto give_up = Clock::now() + timeout;
  while (body.find(what) == std::string::npos) {
    if (done || eof_ || Clock::now() > give_up) return body.find(what) != std::string::npos;
    read_some(100ms);
  }
  return true;
}

bool StreamClient::read_to_end(std::chrono::milliseconds timeout) {
  const auto give_up = Clock::now() + timeout;
  while (!done && !eof_ && Clock::now() < give_up) read_some(100ms);
  return done;
}

void StreamClient::decode() {
  if (status == 0) {
    size_t end = raw_.find("\r\n\r\n");
    if (end == std::string::npos) return;
    head = raw_.substr(0, end);
    status = std::atoi(head.c_str() + 9);
    pos_ = end + 4;
  }
  for (;;) {
    if (chunk_left_ > 0) {  // chunk data, possibly partial
      const size_t take = std::min(chunk_left_, raw_.size() - pos_);
      body.append(raw_, pos_, take);
      pos_ += take;
      chunk_left_ -= take;
      if (chunk_left_ > 0) break;
      crlf_due_ = true;
    }
    if (crlf_due_) {
      if (raw_.size() - pos_ < 2) break;
      pos_ += 2;
      crlf_due_ = false;
    }
    const size_t eol = raw_.find("\r\n", pos_);
    if (eol == std::string::npos) break;
    const size_t size = std::strtoul(raw_.c_str() + pos_, nullptr, 16);
    pos_ = eol + 2;
    if (size == 0) {
      done = true;
      break;
    }
    chunk_left_ = size;
  }
  raw_.erase(0, pos_);
  pos_ = 0;
}

double metric_value(const ServerProcess& server, const std::string& name) {
  auto r = http_get(server.url("/metrics"));
  for (const std::string& l : split_lines(r.body)) {
    if (l.rfind(name + " ", 0) == 0) return std::atof(l.c_str() + name.size() + 1);
  }
  return -1;
}

bool metric_becomes(const ServerProcess& server, const std::string& name, double want,
                    std::chrono::milliseconds timeout) {
  const auto give_up = Clock::now() + timeout;
  while (Clock::now() < give_up) {
    if (metric_value(server, name) == want) return true;
    std::this_thread::sleep_for(50ms);
  }
  return false;
}

}  // namespace sh::testing
