#include "server/fenced_object_store.h"

namespace pgthaw::server {

Status FencedObjectStore::Put(std::string_view key, std::string_view bytes) {
  if (Status st = may_write_(); !st.ok()) return st;
  return inner_->Put(key, bytes);
}

Status FencedObjectStore::PutIfAbsent(std::string_view key, std::string_view bytes) {
  if (Status st = may_write_(); !st.ok()) return st;
  return inner_->PutIfAbsent(key, bytes);
}

Status FencedObjectStore::Delete(std::string_view key) {
  if (Status st = may_write_(); !st.ok()) return st;
  return inner_->Delete(key);
}

}  // namespace pgthaw::server
