// openapi/openapi.yaml stays exact with the server: the same routes, methods,
// query parameters and error codes as api/routes.cc and api/errors.h.
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>

#include <gtest/gtest.h>

#include "api/errors.h"
#include "api/routes.h"

namespace sh::api {
namespace {

struct DocRoute {
  std::set<std::string> methods;
  std::set<std::string> query_params;
};

std::string read_spec() {
  std::ifstream f(std::string(SH_SOURCE_DIR) + "/openapi/openapi.yaml");
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

TEST(OpenApi, EveryErrorCodeIsDocumented) {
  const std::string spec = read_spec();
  for (int code : kAllErrorCodes) {
    EXPECT_NE(spec.find(std::to_string(code)), std::string::npos)
        << "error code " << code << " is not documented in openapi.yaml";
  }
}

}  // namespace
}  // namespace sh::api
