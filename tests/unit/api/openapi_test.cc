// openapi/openapi.yaml stays exact with the server: the same routes, methods,
// query parameters and error codes as api/routes.cc and api/errors.h.
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>

#include <gtest/gtest.h>

#include "api/auth.h"
#include "api/errors.h"
#include "api/routes.h"
#include "tests/support/test_paths.h"

namespace sh::api {
namespace {

struct DocRoute {
  std::set<std::string> methods;
  std::set<std::string> query_params;
};

std::string read_spec() {
  std::ifstream f(sh::testing::source_dir() + "/openapi/openapi.yaml");
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// Reads the `paths:` section of our own document (two-space indentation).
std::map<std::string, DocRoute> doc_routes(const std::string& spec) {
  std::map<std::string, DocRoute> routes;
  std::istringstream in(spec);
  std::string line, path, pending_name;
  bool in_paths = false;
  const std::regex path_re(R"(^  (/[^:]*):\s*$)"), method_re(R"(^    (get|post|put|delete|head):\s*$)"),
      name_re(R"(^\s+- name: (\S+)\s*$)"), in_re(R"(^\s+in: (\S+)\s*$)");
  std::smatch m;
  while (std::getline(in, line)) {
    if (line == "paths:") {
      in_paths = true;
      continue;
    }
    if (!line.empty() && line[0] != ' ') in_paths = false;
    if (!in_paths) continue;
    if (std::regex_match(line, m, path_re)) {
      path = m[1];
      routes[path];
    } else if (std::regex_match(line, m, method_re)) {
      routes[path].methods.insert(m[1]);
    } else if (std::regex_match(line, m, name_re)) {
      pending_name = m[1];
    } else if (std::regex_match(line, m, in_re)) {
      if (m[1] == "query") routes[path].query_params.insert(pending_name);
      pending_name.clear();
    }
  }
  return routes;
}

TEST(OpenApi, RoutesMethodsAndQueryParametersMatchTheServer) {
  auto doc = doc_routes(read_spec());
  std::set<std::string> served;
  for (const RouteSpec& r : route_specs()) {
    std::string path(r.path);
    served.insert(path);
    ASSERT_TRUE(doc.count(path)) << "route " << path << " is served but not in openapi.yaml";
    std::set<std::string> methods(r.methods.begin(), r.methods.end());
    EXPECT_EQ(doc[path].methods, methods) << "methods of " << path;
    std::set<std::string> params(r.query_params.begin(), r.query_params.end());
    EXPECT_EQ(doc[path].query_params, params) << "query parameters of " << path;
  }
  for (const auto& [path, _] : doc) {
    EXPECT_TRUE(served.count(path)) << "openapi.yaml documents " << path << " which is not served";
  }
}

// "path method" → the operation's `security:` value, e.g. "[{bearerAuth: []}]".
std::map<std::string, std::string> doc_security(const std::string& spec) {
  std::map<std::string, std::string> out;
  std::istringstream in(spec);
  std::string line, path, method;
  bool in_paths = false;
  const std::regex path_re(R"(^  (/[^:]*):\s*$)"), method_re(R"(^    (get|post|put|delete|head):\s*$)"),
      security_re(R"(^      security: (.*)$)");
  std::smatch m;
  while (std::getline(in, line)) {
    if (line == "paths:") {
      in_paths = true;
      continue;
    }
    if (!line.empty() && line[0] != ' ') in_paths = false;
    if (!in_paths) continue;
    if (std::regex_match(line, m, path_re)) {
      path = m[1];
    } else if (std::regex_match(line, m, method_re)) {
      method = m[1];
    } else if (std::regex_match(line, m, security_re)) {
      out[path + " " + method] = m[1];
    }
  }
  return out;
}

TEST(OpenApi, SecurityOfEveryOperationMatchesTheServer) {
  const std::string spec = read_spec();
  ASSERT_NE(spec.find("  securitySchemes:\n    bearerAuth:\n      type: http\n      scheme: bearer\n"),
            std::string::npos)
      << "components.securitySchemes.bearerAuth (http bearer) is missing";
  const auto doc = doc_security(spec);
  const auto routes = doc_routes(spec);
  for (const RouteSpec& r : route_specs()) {
    if (!routes.count(std::string(r.path))) continue;  // reported by the test above
    for (std::string_view m : r.methods) {
      std::string method(m);
      for (char& c : method) c = static_cast<char>(c - 'a' + 'A');
      const std::string key = std::string(r.path) + " " + std::string(m);
      const Scope plain = route_scope(r.id, method, /*metrics_auth=*/false);
      const Scope with_metrics = route_scope(r.id, method, /*metrics_auth=*/true);
      std::string want;
      if (plain == Scope::kNone && with_metrics == Scope::kNone) {
        want = "[]";
      } else if (plain == Scope::kNone) {
        want = "[{}, {bearerAuth: []}]";  // optional: only with --metrics-auth
      } else {
        want = "[{bearerAuth: []}]";
      }
      ASSERT_TRUE(doc.count(key)) << key << " has no `security:` in openapi.yaml";
      EXPECT_EQ(doc.at(key), want) << "security of " << key;
    }
  }
}

TEST(OpenApi, EveryErrorCodeIsDocumented) {
  const std::string spec = read_spec();
  for (int code : kAllErrorCodes) {
    EXPECT_NE(spec.find(std::to_string(code)), std::string::npos)
        << "error code " << code << " is not documented in openapi.yaml";
  }
}

}  // namespace
}  // namespace sh::api
