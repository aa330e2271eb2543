// Helpers of the minilm tests: the reference data files of tests/minilm/data (written by
// samples/minilm/make_reference.py) and the model directory, when installed.
#pragma once

#include <cstdint>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace tessel::minilm::testing {

inline std::string data_path(const std::string& name) {
  return std::string(TESSEL_MINILM_TEST_DATA) + "/" + name;
}

inline std::string from_hex(const std::string& hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2)
    out += char(std::stoi(hex.substr(i, 2), nullptr, 16));
  return out;
}

// One line of a reference file: the sentence's bytes and the numbers after the tab.
template <class T> struct Row {
  std::string text;
  std::vector<T> values;
};

template <class T> std::vector<Row<T>> read_rows(const std::string& name) {
  std::ifstream in(data_path(name));
  std::vector<Row<T>> rows;
  std::string line;
  while (std::getline(in, line)) {
    size_t tab = line.find('\t');
    Row<T> r{from_hex(line.substr(0, tab)), {}};
    std::istringstream nums(line.substr(tab + 1));
    for (T v; nums >> v;)
      r.values.push_back(v);
    rows.push_back(std::move(r));
  }
  return rows;
}

} // namespace tessel::minilm::testing
