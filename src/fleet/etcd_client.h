// EtcdClient: the calls pgthaw makes to etcd, through etcd's v3 JSON gateway
// (HTTP/1.1 POST of JSON to /v3/kv/..., /v3/lease/...; etcd 3.4 serves
// them under /v3, older releases under /v3beta).
//
// Keys and values are bytes: the gateway carries them as base64, this client
// takes and returns them raw. The gateway writes 64-bit integers as JSON
// strings ("revision":"12") and leaves out fields that hold their default
// (a false `succeeded`, a zero lease); both are read as etcd means them.
//
// Endpoints: several may be given ("http://10.0.0.1:2379"); a request goes
// to the one that answered last and, when it cannot be reached or does not
// answer in time, to the next. A request that timed out after it was sent
// may have been applied by that endpoint, so a retried put or txn can be
// applied twice: callers write txns whose second application is harmless
// (Placement's claim sees its own key).
//
// An HTTP answer is never retried elsewhere: an etcd error is the cluster's
// answer. Every response body is bounded (Options::max_response_bytes).
//
// Thread-safe: each request uses its own connection.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"

namespace pgthaw::fleet {

struct EtcdEndpoint {
  std::string host;
  uint16_t port = 2379;
  std::string ToString() const { return "http://" + host + ":" + std::to_string(port); }
};

// "http://HOST:PORT" (PORT defaults to 2379); https is not supported.
Result<EtcdEndpoint> ParseEtcdEndpoint(std::string_view url);
// A comma-separated list of such URLs, as --etcd takes it.
Result<std::vector<EtcdEndpoint>> ParseEtcdEndpoints(std::string_view urls);

// One key as etcd stores it.
struct KeyValue {
  std::string key;
  std::string value;
  int64_t create_revision = 0;
  int64_t mod_revision = 0;
  int64_t version = 0;
  int64_t lease = 0;  // 0: bound to no lease
};

struct RangeResult {
  int64_t revision = 0;  // the store's revision when it was read
  std::vector<KeyValue> kvs;
  int64_t count = 0;  // keys in the range (more than kvs.size() when limited)
  bool more = false;
};

// A txn's condition on one key. A key that does not exist has version,
// create_revision, mod_revision and lease 0 and an empty value.
struct Compare {
  enum class Target { kVersion, kCreateRevision, kModRevision, kValue, kLease };
  // etcd's "result" field: how the key's target relates to the operand.
  enum class Relation { kEqual, kNotEqual, kGreater, kLess };

  std::string key;
  Target target = Target::kVersion;
  Relation relation = Relation::kEqual;
  int64_t number = 0;  // for every target but kValue
  std::string value;   // for kValue

  static Compare CreateRevisionIs(std::string key, int64_t revision);
  static Compare ModRevisionIs(std::string key, int64_t revision);
  static Compare ValueIs(std::string key, std::string value);
  static Compare LeaseIs(std::string key, int64_t lease);
};

// One operation of a txn's branch.
struct TxnOp {
  enum class Kind { kPut, kRange, kDelete };
  Kind kind = Kind::kRange;
  std::string key;
  std::string range_end;  // kRange, kDelete: empty for the key alone
  std::string value;      // kPut
  int64_t lease = 0;      // kPut

  static TxnOp Put(std::string key, std::string value, int64_t lease = 0);
  static TxnOp Get(std::string key);
  static TxnOp Delete(std::string key);
};

// What one op of the branch that ran returned, in the order of the ops.
struct TxnOpResult {
  TxnOp::Kind kind = TxnOp::Kind::kRange;
  std::vector<KeyValue> kvs;  // kRange
  int64_t deleted = 0;        // kDelete
};

struct TxnResult {
  bool succeeded = false;  // every compare held: the success branch ran
  int64_t revision = 0;
  std::vector<TxnOpResult> responses;
};

struct Lease {
  int64_t id = 0;
  int64_t ttl_seconds = 0;  // what etcd granted (it may raise a too small TTL)
};

// The end of the range of every key that starts with `prefix` (etcd's
// range_end convention); "\0" for an empty prefix (every key).
std::string PrefixRangeEnd(std::string_view prefix);

class EtcdClient {
 public:
  struct Options {
    std::vector<EtcdEndpoint> endpoints;
    // Per endpoint tried: connecting and the whole exchange.
    std::chrono::milliseconds connect_timeout{1000};
    std::chrono::milliseconds request_timeout{3000};
    size_t max_response_bytes = 8 << 20;
  };

  explicit EtcdClient(Options options);

  // Put returns the store's revision after it.
  Result<int64_t> Put(std::string_view key, std::string_view value, int64_t lease = 0);
  // `range_end` empty: the key alone; limit 0: no limit.
  Result<RangeResult> Range(std::string_view key, std::string_view range_end = {},
                            int64_t limit = 0);
  Result<RangeResult> RangePrefix(std::string_view prefix) {
    return Range(prefix, PrefixRangeEnd(prefix));
  }
  // The number of keys deleted.
  Result<int64_t> DeleteRange(std::string_view key, std::string_view range_end = {});
  Result<TxnResult> Txn(const std::vector<Compare>& compares, const std::vector<TxnOp>& success,
                        const std::vector<TxnOp>& failure);

  Result<Lease> LeaseGrant(int64_t ttl_seconds);
  // The lease's TTL after the renewal; 0 when etcd no longer knows the lease
  // (it expired or was revoked). `timeout`, when given, bounds the whole
  // call over every endpoint tried (the renewal must not outlast a fence).
  Result<int64_t> LeaseKeepAlive(int64_t lease_id,
                                 std::optional<std::chrono::milliseconds> timeout = {});
  // NotFound when etcd does not know the lease.
  Status LeaseRevoke(int64_t lease_id);
  // The seconds left; -1 when etcd does not know the lease.
  Result<int64_t> LeaseTimeToLive(int64_t lease_id);

  const std::vector<EtcdEndpoint>& endpoints() const { return options_.endpoints; }

 private:
  // POSTs `body` to `path`, trying the endpoints in turn, and returns the
  // parsed JSON body of a 200 answer as text; an etcd error answer becomes
  // the Status its gRPC code maps to. Defined in the .cc (nlohmann stays
  // out of this header).
  Result<std::string> Post(std::string_view path, const std::string& body,
                           std::optional<std::chrono::milliseconds> total_timeout);

  const Options options_;
  // The endpoint that answered last: tried first.
  std::atomic<size_t> preferred_endpoint_{0};
};

}  // namespace pgthaw::fleet
