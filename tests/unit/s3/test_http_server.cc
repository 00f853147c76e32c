#include "tests/unit/s3/test_http_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <chrono>
#include <cstring>
#include <thread>

#include "core/text/ascii.h"

namespace sh::s3::testing {
namespace {

struct PendingRequest {
  TestRequest req;
};

struct TruncatedBody {
  std::string body;
  size_t sent = 0;
};

ssize_t truncated_reader(void* cls, uint64_t pos, char* buf, size_t max) {
  auto* t = static_cast<TruncatedBody*>(cls);
  const size_t half = t->body.size() / 2;
  if (pos >= half) return MHD_CONTENT_READER_END_WITH_ERROR;
  size_t n = std::min(max, half - static_cast<size_t>(pos));
  std::memcpy(buf, t->body.data() + pos, n);
  return static_cast<ssize_t>(n);
}

void free_truncated(void* cls) { delete static_cast<TruncatedBody*>(cls); }

MHD_Result collect_header(void* cls, MHD_ValueKind, const char* key, const char* value) {
  auto* headers = static_cast<std::map<std::string, std::string>*>(cls);
  (*headers)[text::ascii_lowered(key)] = value ? value : "";
  return MHD_YES;
}

}  // namespace

TestHttpServer::TestHttpServer(Handler handler) : handler_(std::move(handler)) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = 0;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  daemon_ = MHD_start_daemon(
      MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, 0, nullptr,
      nullptr, &TestHttpServer::on_request, this, MHD_OPTION_SOCK_ADDR, &addr,
      MHD_OPTION_NOTIFY_COMPLETED, &TestHttpServer::on_completed, this,
      MHD_OPTION_NOTIFY_CONNECTION, &TestHttpServer::on_connection, this, MHD_OPTION_END);
  if (daemon_ != nullptr) {
    const MHD_DaemonInfo* info = MHD_get_daemon_info(daemon_, MHD_DAEMON_INFO_BIND_PORT);
    port_ = info ? info->port : 0;
  }
}

TestHttpServer::~TestHttpServer() {
  if (daemon_ != nullptr) MHD_stop_daemon(daemon_);
}

std::vector<TestRequest> TestHttpServer::requests() const {
  std::lock_guard<std::mutex> lock(mu_);
  return requests_;
}

void TestHttpServer::on_connection(void* cls, MHD_Connection*, void**,
                                   MHD_ConnectionNotificationCode code) {
  if (code == MHD_CONNECTION_NOTIFY_STARTED) static_cast<TestHttpServer*>(cls)->connections_++;
}

void TestHttpServer::on_completed(void*, MHD_Connection*, void** con_cls, MHD_RequestTerminationCode) {
  delete static_cast<PendingRequest*>(*con_cls);
  *con_cls = nullptr;
}

MHD_Result TestHttpServer::on_request(void* cls, MHD_Connection* c, const char* url,
                                      const char* method, const char*, const char* upload_data,
                                      size_t* upload_size, void** con_cls) {
  auto* self = static_cast<TestHttpServer*>(cls);
  auto* pending = static_cast<PendingRequest*>(*con_cls);
  if (pending == nullptr) {
    pending = new PendingRequest;
    pending->req.method = method;
    pending->req.path = url;
    MHD_get_connection_values(c, MHD_HEADER_KIND, &collect_header, &pending->req.headers);
    *con_cls = pending;
    return MHD_YES;
  }
  if (*upload_size != 0) {
    pending->req.body.append(upload_data, *upload_size);
    *upload_size = 0;
    return MHD_YES;
  }
  TestResponse resp;
  try {
    resp = self->handler_(pending->req);
  } catch (...) {
    resp.status = 500;
  }
  {
    std::lock_guard<std::mutex> lock(self->mu_);
    self->requests_.push_back(pending->req);
  }
  if (resp.delay_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(resp.delay_ms));
  MHD_Response* r;
  if (resp.truncate) {
    auto* t = new TruncatedBody{resp.body};
    r = MHD_create_response_from_callback(resp.body.size(), 4096, &truncated_reader, t, &free_truncated);
  } else {
    r = MHD_create_response_from_buffer(resp.body.size(), resp.body.data(), MHD_RESPMEM_MUST_COPY);
  }
  for (const auto& [k, v] : resp.headers) MHD_add_response_header(r, k.c_str(), v.c_str());
  MHD_Result ret = MHD_queue_response(c, static_cast<unsigned>(resp.status), r);
  MHD_destroy_response(r);
  return ret;
}

}  // namespace sh::s3::testing
