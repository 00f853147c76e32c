#include "tests/e2e/support/served_store.h"

#include <fstream>

namespace sh::testing {

CommandResult segment_write(const std::string& store, const std::string& topic, int partition,
                            const std::string& input, const std::vector<std::string>& extra) {
  std::vector<std::string> argv = {streamhouse_binary(), "segment", "write", "--store", store,
                                   "--topic", topic, "--partition", std::to_string(partition)};
  argv.insert(argv.end(), extra.begin(), extra.end());
  return run_command(argv, input);
}

bool flip_byte(const std::string& file, std::streamoff pos, char mask) {
  std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
  if (!f.good()) return false;
  f.seekg(pos);
  char c = 0;
  f.read(&c, 1);
  c = static_cast<char>(c ^ mask);
  f.seekp(pos);
  f.write(&c, 1);
  return f.good();
}

}  // namespace sh::testing
