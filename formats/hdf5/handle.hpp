// RAII for HDF5 identifiers: one move-only owner that closes with the right H5*close.
#pragma once
#include <hdf5.h>

#include <utility>

namespace h5p::h5 {

using CloseFn = herr_t (*)(hid_t);

class Handle {
 public:
  Handle() = default;
  Handle(hid_t id, CloseFn close) : id_(id), close_(close) {}
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  Handle(Handle&& o) noexcept : id_(std::exchange(o.id_, H5I_INVALID_HID)), close_(o.close_) {}
  Handle& operator=(Handle&& o) noexcept {
    if (this != &o) {
      reset();
      id_ = std::exchange(o.id_, H5I_INVALID_HID);
      close_ = o.close_;
    }
    return *this;
  }
  ~Handle() { reset(); }

  hid_t get() const { return id_; }
  operator hid_t() const { return id_; }  // NOLINT: handles pass straight to the C API
  bool valid() const { return id_ >= 0; }
  // Gives up ownership, for callers that must check the result of closing (H5Fclose).
  hid_t release() { return std::exchange(id_, H5I_INVALID_HID); }
  void reset() {
    if (id_ >= 0 && close_) close_(id_);  // errors on close are ignored in destructors
    id_ = H5I_INVALID_HID;
  }

 private:
  hid_t id_ = H5I_INVALID_HID;
  CloseFn close_ = nullptr;
};

inline Handle file_handle(hid_t id) { return Handle(id, H5Fclose); }
inline Handle group_handle(hid_t id) { return Handle(id, H5Gclose); }
inline Handle dataset_handle(hid_t id) { return Handle(id, H5Dclose); }
inline Handle space_handle(hid_t id) { return Handle(id, H5Sclose); }
inline Handle type_handle(hid_t id) { return Handle(id, H5Tclose); }
inline Handle plist_handle(hid_t id) { return Handle(id, H5Pclose); }
inline Handle attr_handle(hid_t id) { return Handle(id, H5Aclose); }
inline Handle object_handle(hid_t id) { return Handle(id, H5Oclose); }

}  // namespace h5p::h5
