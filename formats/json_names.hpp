// Names that are not valid UTF-8 (HDF5 link names and file paths are bytes) in JSON, which
// holds only UTF-8: carried losslessly by a documented escape (docs/CLI.md, "Names").
#pragma once
#include <string>

#include <nlohmann/json.hpp>

namespace h5p {

bool is_valid_utf8(const std::string& s);

// `s` with every byte that is a control character or not part of valid UTF-8 written as
// \xHH: safe to print on a terminal (messages), not meant to be read back.
std::string printable(const std::string& s);

// Before dumping: every string member KEY whose value is not valid UTF-8 gets the printable
// form, and a sibling KEY_hex with the raw bytes in hex; an array of strings with such an
// element gets KEY_hex, an array of hex strings (null for the valid ones). Valid strings are
// untouched, so a file of only UTF-8 names is written exactly as before.
nlohmann::json json_safe(nlohmann::json j);

// After parsing: the inverse (KEY takes the bytes of KEY_hex, which is removed).
nlohmann::json json_restore(nlohmann::json j);

}  // namespace h5p
