// Test support: run the real `streamhouse` binary and talk HTTP to it.
#pragma once

#include <sys/types.h>

#include <map>
#include <string>
#include <vector>

#include "tests/support/temp_dir.h"
#include "tests/support/test_paths.h"

namespace sh::testing {

// Path of the built binary (the build tree's service/streamhouse).
std::string streamhouse_binary();

struct CommandResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

// Runs argv to completion with `input` on stdin; extra environment variables in `env`.
CommandResult run_command(const std::vector<std::string>& argv, const std::string& input = "",
                          const std::map<std::string, std::string>& env = {});

// A `streamhouse serve` child process on an ephemeral port.
class ServerProcess {
 public:
  // Starts `streamhouse serve --listen 127.0.0.1:0 <args>` and waits until it
  // logs its port (fails the test and returns with port()==0 on timeout).
  explicit ServerProcess(std::vector<std::string> args,
                         std::map<std::string, std::string> env = {});
  ~ServerProcess();  // SIGKILL if still running

  int port() const { return port_; }
  std::string url(const std::string& path) const;
  // Sends SIGTERM and waits; returns the exit status (or -1 on timeout).
  int terminate(int timeout_ms = 15000);
  // Everything the server logged so far.
  std::string log() const;

 private:
  pid_t pid_ = -1;
  int port_ = 0;
  std::string log_path_;
};

struct HttpResult {
  long status = 0;
  std::string body;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string error;                            // transport error, "" if none
};

HttpResult http_get(const std::string& url, const std::vector<std::string>& headers = {},
                    long timeout_ms = 20000);
HttpResult http_request(const std::string& method, const std::string& url,
                        const std::string& body = "",
                        const std::vector<std::string>& headers = {}, long timeout_ms = 20000);

// A fresh temporary directory, removed on destruction; path() as a string for
// building command lines.
class TempDir {
 public:
  TempDir() : path_(dir_.path().string()) {}
  const std::string& path() const { return path_; }

 private:
  ScratchDir dir_{"sh-e2e"};
  std::string path_;
};

}  // namespace sh::testing
