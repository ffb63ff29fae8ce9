// SHA-256 of files and buffers through OpenSSL's EVP interface, as lowercase hex.
#pragma once
#include <cstdint>
#include <string>

namespace h5p {

// Hashes the whole file; sets *bytes to its size. Throws OutputError when unreadable.
std::string sha256_file(const std::string& path, std::uint64_t* bytes = nullptr);

std::string sha256_bytes(const void* data, std::size_t size);

}  // namespace h5p
