// A tiny HTTP server on 127.0.0.1 (libmicrohttpd, one thread per connection)
// whose answers a test scripts with a handler. Used to exercise the curl
// transport and the HTTP credential providers over real sockets.
#pragma once

#include <fmt/format.h>
#include <microhttpd.h>

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace sh::s3::testing {

struct TestRequest {
  std::string method;
  std::string path;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
};

struct TestResponse {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  int delay_ms = 0;       // sleep before answering
  bool truncate = false;  // announce body.size() bytes, send half, then drop the connection
};

class TestHttpServer {
 public:
  using Handler = std::function<TestResponse(const TestRequest&)>;
  explicit TestHttpServer(Handler handler);
  ~TestHttpServer();
  TestHttpServer(const TestHttpServer&) = delete;
  TestHttpServer& operator=(const TestHttpServer&) = delete;

  bool ok() const { return daemon_ != nullptr; }
  int port() const { return port_; }
  std::string base_url() const { return fmt::format("http://127.0.0.1:{}", port_); }
  std::vector<TestRequest> requests() const;
  // TCP connections accepted so far.
  int connections() const { return connections_.load(); }

 private:
  static MHD_Result on_request(void* cls, MHD_Connection* c, const char* url, const char* method,
                               const char* version, const char* upload_data, size_t* upload_size,
                               void** con_cls);
  static void on_completed(void* cls, MHD_Connection* c, void** con_cls, MHD_RequestTerminationCode);
  static void on_connection(void* cls, MHD_Connection* c, void** socket_context,
                            MHD_ConnectionNotificationCode code);

  Handler handler_;
  MHD_Daemon* daemon_ = nullptr;
  int port_ = 0;
  mutable std::mutex mu_;
  std::vector<TestRequest> requests_;
  std::atomic<int> connections_{0};
};

}  // namespace sh::s3::testing
