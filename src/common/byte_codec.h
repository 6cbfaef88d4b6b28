// ByteWriter / ByteReader: a little-endian binary encoding for snapshot state.
// The reader checks every bound and reports a truncated or malformed input as
// Status::Corruption instead of reading past the end.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "common/status.h"

namespace pgthaw {

class ByteWriter {
 public:
  void u8(uint8_t v) { raw(&v, 1); }
  void u32(uint32_t v) { raw(&v, 4); }
  void u64(uint64_t v) { raw(&v, 8); }
  void f64(double v) { raw(&v, 8); }
  void bytes(std::string_view b) {
    u64(b.size());
    out_.append(b);
  }
  void raw(const void* p, size_t n) { out_.append(static_cast<const char*>(p), n); }
  std::string& str() { return out_; }

 private:
  std::string out_;
};

class ByteReader {
 public:
  explicit ByteReader(std::string_view in) : in_(in) {}
  bool ok() const { return ok_; }
  bool at_end() const { return pos_ == in_.size(); }
  uint8_t u8() { return get<uint8_t>(); }
  uint32_t u32() { return get<uint32_t>(); }
  uint64_t u64() { return get<uint64_t>(); }
  double f64() { return get<double>(); }
  std::string_view bytes() { return take(u64()); }
  // The next n bytes, without a length before them.
  std::string_view take(uint64_t n) {
    if (!ok_ || n > in_.size() - pos_) return fail();
    std::string_view v = in_.substr(pos_, n);
    pos_ += n;
    return v;
  }
  // Copies exactly n bytes to dst.
  bool raw(void* dst, size_t n) {
    if (!ok_ || n > in_.size() - pos_) return fail(), false;
    std::memcpy(dst, in_.data() + pos_, n);
    pos_ += n;
    return true;
  }
  Status status(const std::string& what) const {
    return ok_ ? Status::Ok() : Status::Corruption(what + ": truncated or malformed");
  }

 private:
  template <typename T>
  T get() {
    T v{};
    raw(&v, sizeof v);
    return v;
  }
  std::string_view fail() {
    ok_ = false;
    return {};
  }
  std::string_view in_;
  size_t pos_ = 0;
  bool ok_ = true;
};

}  // namespace pgthaw
