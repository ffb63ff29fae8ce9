// SHA-256 of files and buffers through OpenSSL's EVP interface, as lowercase hex.
#pragma once
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

namespace h5p {

// An incremental hash, for data that passes through in pieces (e.g. a copy being made).
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void update(const void* data, std::size_t size);
  std::string hex_digest();  // ends the hash

 private:
  struct Ctx;
  std::unique_ptr<Ctx> ctx_;
};

// Hashes the whole file; sets *bytes to its size. Throws OutputError when unreadable. `hashed`,
// when given, grows by each piece as it is hashed (another thread may report it as progress).
std::string sha256_file(const std::string& path, std::uint64_t* bytes = nullptr,
                        std::atomic<std::uint64_t>* hashed = nullptr);

// The same, from an open descriptor (from offset 0, with pread: the descriptor's position is
// left as it is). `name` is for the error message.
std::string sha256_descriptor(int fd, const std::string& name, std::uint64_t* bytes = nullptr,
                              std::atomic<std::uint64_t>* hashed = nullptr);

std::string sha256_bytes(const void* data, std::size_t size);

}  // namespace h5p
