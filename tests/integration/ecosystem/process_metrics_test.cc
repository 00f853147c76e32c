// api/process_metrics: /proc parsing, the families a scrape gets, and the
// Registry that adds them at Collect() time.
#include "api/process_metrics.h"

#include <sys/resource.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>

#include <gtest/gtest.h>
#include <prometheus/counter.h>
#include <prometheus/text_serializer.h>

#include "tests/support/temp_dir.h"

namespace sh::api {
namespace {

// A stat line as the kernel writes it, with a command name that holds ") (" and
// spaces: fields must be counted from the last ')'.
constexpr const char* kStat =
    "4242 (my ) (odd name) S 1 4242 4242 0 -1 4194560 1200 0 3 0 "
    "250 130 0 0 20 0 17 0 98765 123456789 4321 18446744073709551615 1 1 0 0 0 0 0 4096 0 0 0 0 "
    "17 1 0 0 0 0 0 0 0 0 0 0 0 0 0\n";

TEST(ProcStat, ParsesFieldsAfterTheLastParenthesis) {
  auto st = parse_proc_stat(kStat);
  ASSERT_TRUE(st.has_value());
  EXPECT_EQ(st->utime_ticks, 250u);
  EXPECT_EQ(st->stime_ticks, 130u);
  EXPECT_EQ(st->num_threads, 17);
  EXPECT_EQ(st->starttime_ticks, 98765u);
  EXPECT_EQ(st->vsize_bytes, 123456789u);
  EXPECT_EQ(st->rss_pages, 4321);
}

TEST(ProcStat, RejectsTruncatedOrNonNumericText) {
  EXPECT_FALSE(parse_proc_stat("").has_value());
  EXPECT_FALSE(parse_proc_stat("4242 (no close paren S 1 2 3").has_value());
  // Cut after field 23 (vsize): rss (field 24) is missing.
  std::string s(kStat);
  std::string cut = s.substr(0, s.find(" 4321 "));
  EXPECT_FALSE(parse_proc_stat(cut).has_value()) << cut;
  std::string bad = s;
  bad.replace(bad.find(" 250 "), 5, " 2x0 ");
  EXPECT_FALSE(parse_proc_stat(bad).has_value());
  std::string negative_cpu = s;
  negative_cpu.replace(negative_cpu.find(" 250 "), 5, " -25 ");
  EXPECT_FALSE(parse_proc_stat(negative_cpu).has_value()) << "utime is unsigned";
}

TEST(ProcStat, ParsesTheRealFileOfThisProcess) {
  std::ifstream f("/proc/self/stat");
  std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  auto st = parse_proc_stat(text);
  ASSERT_TRUE(st.has_value()) << text;
  EXPECT_GE(st->num_threads, 1);
  EXPECT_GT(st->rss_pages, 0);
  EXPECT_GT(st->vsize_bytes, static_cast<uint64_t>(st->rss_pages));
}

TEST(BootTime, FindsTheBtimeLine) {
  EXPECT_EQ(parse_boot_time("cpu  1 2 3\nintr 5\nbtime 1767225600\nprocesses 9\n"),
            std::optional<uint64_t>(1767225600));
  EXPECT_FALSE(parse_boot_time("cpu 1 2 3\n").has_value());
  EXPECT_FALSE(parse_boot_time("btime soon\n").has_value());
}

std::map<std::string, prometheus::MetricFamily> by_name(std::vector<prometheus::MetricFamily> v) {
  std::map<std::string, prometheus::MetricFamily> m;
  for (auto& f : v) m[f.name] = std::move(f);
  return m;
}

TEST(CollectProcessMetrics, ComputesStandardMetricsFromProc) {
  testing::ScratchDir proc("sh-fake-proc");
  const auto& p = proc.path();
  std::filesystem::create_directories(p / "self" / "fd");
  std::ofstream(p / "self" / "stat") << kStat;
  std::ofstream(p / "stat") << "cpu  1 2 3\nbtime 1767225600\n";
  for (const char* fd : {"0", "1", "2", "7", "9"}) std::ofstream(p / "self" / "fd" / fd) << "";

  auto m = by_name(collect_process_metrics(BuildInfo{"9.8.7", "gcc x", "Release"}, p.string()));
  const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  const double page = static_cast<double>(sysconf(_SC_PAGESIZE));
  ASSERT_TRUE(m.count("process_cpu_seconds_total"));
  EXPECT_EQ(m["process_cpu_seconds_total"].type, prometheus::MetricType::Counter);
  EXPECT_DOUBLE_EQ(m["process_cpu_seconds_total"].metric[0].counter.value, 380 / ticks);
  ASSERT_TRUE(m.count("process_resident_memory_bytes"));
  EXPECT_DOUBLE_EQ(m["process_resident_memory_bytes"].metric[0].gauge.value, 4321 * page);
  EXPECT_DOUBLE_EQ(m["process_virtual_memory_bytes"].metric[0].gauge.value, 123456789);
  EXPECT_DOUBLE_EQ(m["process_threads"].metric[0].gauge.value, 17);
  ASSERT_TRUE(m.count("process_start_time_seconds"));
  EXPECT_DOUBLE_EQ(m["process_start_time_seconds"].metric[0].gauge.value, 1767225600 + 98765 / ticks);
  ASSERT_TRUE(m.count("process_open_fds"));
  EXPECT_DOUBLE_EQ(m["process_open_fds"].metric[0].gauge.value, 5);
  rlimit lim{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &lim), 0);
  ASSERT_TRUE(m.count("process_max_fds"));
  EXPECT_DOUBLE_EQ(m["process_max_fds"].metric[0].gauge.value, static_cast<double>(lim.rlim_cur));

  ASSERT_TRUE(m.count("streamhouse_build_info"));
  const auto& info = m["streamhouse_build_info"].metric[0];
  EXPECT_EQ(info.gauge.value, 1);
  std::map<std::string, std::string> labels;
  for (const auto& l : info.label) labels[l.name] = l.value;
  EXPECT_EQ(labels["version"], "9.8.7");
  EXPECT_EQ(labels["compiler"], "gcc x");
  EXPECT_EQ(labels["build_type"], "Release");
}

TEST(CollectProcessMetrics, LeavesOutWhatCannotBeRead) {
  testing::ScratchDir empty("sh-no-proc");
  auto m = by_name(collect_process_metrics(this_build(), empty.path().string()));
  EXPECT_FALSE(m.count("process_cpu_seconds_total")) << "no stat file: no CPU metric, not a 0";
  EXPECT_FALSE(m.count("process_resident_memory_bytes"));
  EXPECT_FALSE(m.count("process_open_fds"));
  EXPECT_TRUE(m.count("process_max_fds")) << "getrlimit does not need /proc";
  EXPECT_TRUE(m.count("streamhouse_build_info"));
}

TEST(CollectProcessMetrics, CountsTheOpenDescriptorsOfThisProcess) {
  auto before = by_name(collect_process_metrics(this_build()));
  ASSERT_TRUE(before.count("process_open_fds"));
  const double n = before["process_open_fds"].metric[0].gauge.value;
  int fds[3];
  for (int& fd : fds) fd = dup(0);
  auto after = by_name(collect_process_metrics(this_build()));
  for (int fd : fds) close(fd);
  EXPECT_EQ(after["process_open_fds"].metric[0].gauge.value, n + 3)
      << "three dup()s are three more open descriptors, the directory's own not counted";
}

TEST(ProcessMetricsRegistry, CollectHasRegisteredAndProcessFamilies) {
  ProcessMetricsRegistry registry(BuildInfo{"1.2.3", "cc", "Debug"});
  prometheus::BuildCounter().Name("streamhouse_test_total").Help("t").Register(registry).Add({}).Increment(2);
  auto m = by_name(registry.Collect());
  ASSERT_TRUE(m.count("streamhouse_test_total"));
  EXPECT_EQ(m["streamhouse_test_total"].metric[0].counter.value, 2);
  EXPECT_TRUE(m.count("process_cpu_seconds_total"));
  EXPECT_TRUE(m.count("process_resident_memory_bytes"));
  EXPECT_TRUE(m.count("process_start_time_seconds"));
  // Through the base class, as ApiService holds it.
  prometheus::Registry& base = registry;
  const std::string text = prometheus::TextSerializer().Serialize(base.Collect());
  EXPECT_NE(text.find("# TYPE process_cpu_seconds_total counter"), std::string::npos) << text;
  EXPECT_NE(text.find(R"(streamhouse_build_info{build_type="Debug",compiler="cc",version="1.2.3"} 1)"),
            std::string::npos)
      << text;
}

}  // namespace
}  // namespace sh::api
