// The tenant admin API on the consumer role, over TenantAdmin
// (tenant_admin.h). Only when the server has a credential store: in trust
// mode these routes do not exist (404).
//
//   POST   /admin/tenants                          {tenant, role?, password?} -> 201
//   GET    /admin/tenants
//   GET    /admin/tenants/{tenant}
//   DELETE /admin/tenants/{tenant}[?force=1]
//   POST   /admin/tenants/{tenant}/hibernate
//   POST   /admin/tenants/{tenant}/roles           {role, password?} -> 201
//   POST   /admin/tenants/{tenant}/roles/{role}/rotate   {password?}
//   DELETE /admin/tenants/{tenant}/roles/{role}
//   POST   /admin/tokens                           {scope, label?} -> 201 {id, token}
//   GET    /admin/tokens
//   DELETE /admin/tokens/{id}
//   POST   /admin/tenants/{tenant}/import[?role=R] a PGlite dumpDataDir() archive as the
//          body (Content-Type application/gzip or application/x-tar) -> 201 {tenant, role,
//          password}; the body is streamed to a file (Router::AddUpload)
//   GET    /admin/tenants/{tenant}/export[?gzip=1] the data directory as an archive
//          PGlite's loadDataDir() reads
//
// A generated password or a token's secret is in the reply once, never
// again. Errors: 400 invalid_argument, 404 not_found, 409 already_exists,
// 503 unavailable (a delete that timed out waiting for a transaction).
// Access: an admin bearer token only; the check is the HTTP server's
// (http_access), not this file's.
//
// TenantAdmin blocks (SQL in the tenant, fsyncs, a delete waiting for a
// transaction): each request runs on `blocking`, never on an io thread.
// Thread-safe; `admin` and `blocking` must outlive it.
#pragma once

#include <boost/asio/thread_pool.hpp>

#include "server/http_router.h"
#include "server/tenant_admin.h"

namespace pgthaw::server {

class AdminService {
 public:
  // `scratch`: where exported archives are made before they are sent.
  AdminService(TenantAdmin& admin, boost::asio::thread_pool& blocking, std::string scratch)
      : admin_(admin), blocking_(blocking), scratch_(std::move(scratch)) {}

  // Adds the routes above to `router` (the consumer's).
  void AddRoutes(Router& router);

 private:
  TenantAdmin& admin_;
  boost::asio::thread_pool& blocking_;
  const std::string scratch_;
};

}  // namespace pgthaw::server
