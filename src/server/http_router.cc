#include "server/http_router.h"

namespace pgthaw::server {

namespace {

std::vector<std::string> split_path(const std::string& path) {
  std::vector<std::string> segments;
  size_t start = path.starts_with('/') ? 1 : 0;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string::npos) end = path.size();
    segments.push_back(path.substr(start, end - start));
    start = end + 1;
  }
  return segments;
}

bool is_param(const std::string& segment) {
  return segment.size() > 2 && segment.front() == '{' && segment.back() == '}';
}

}  // namespace

namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::string percent_decode(std::string_view text) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size()) {
      int high = hex_value(text[i + 1]), low = hex_value(text[i + 2]);
      if (high >= 0 && low >= 0) {
        out += static_cast<char>(high << 4 | low);
        i += 2;
        continue;
      }
    }
    out += text[i];
  }
  return out;
}

std::optional<std::string> query_param(std::string_view query, std::string_view name) {
  size_t start = 0;
  while (start <= query.size()) {
    size_t end = query.find('&', start);
    if (end == std::string_view::npos) end = query.size();
    std::string_view pair = query.substr(start, end - start);
    size_t eq = pair.find('=');
    if (pair.substr(0, eq) == name) {
      if (eq == std::string_view::npos) return std::string();
      std::string value(pair.substr(eq + 1));
      for (char& c : value) c = c == '+' ? ' ' : c;  // form encoding's space
      return percent_decode(value);
    }
    start = end + 1;
  }
  return std::nullopt;
}

void Router::AddUpload(const std::string& method, const std::string& path, RouteAccess access,
                       Handler handler) {
  Add(method, path, std::move(access), std::move(handler));
  std::string label;
  std::map<std::string, std::string> params;
  auto* methods = const_cast<Methods*>(Match(path, &label, &params));
  methods->at(method).upload = true;
}

bool Router::Uploads(const std::string& method, const std::string& path) const {
  std::string label;
  std::map<std::string, std::string> params;
  const Methods* methods = Match(path, &label, &params);
  if (methods == nullptr) return false;
  auto found = methods->find(method);
  return found != methods->end() && found->second.upload;
}

void Router::Add(const std::string& method, const std::string& path, RouteAccess access,
                 Handler handler) {
  Route route{std::move(access), std::move(handler)};
  if (path.find('{') == std::string::npos) {
    routes_[path][method] = std::move(route);
    return;
  }
  for (Pattern& pattern : patterns_) {
    if (pattern.path == path) {
      pattern.methods[method] = std::move(route);
      return;
    }
  }
  patterns_.push_back(Pattern{path, split_path(path), {}});
  patterns_.back().methods[method] = std::move(route);
}

const Router::Methods* Router::Match(const std::string& path, std::string* label,
                                     std::map<std::string, std::string>* params) const {
  auto route = routes_.find(path);
  if (route != routes_.end()) {
    *label = path;
    return &route->second;
  }
  const std::vector<std::string> segments = split_path(path);
  for (const Pattern& pattern : patterns_) {
    if (pattern.segments.size() != segments.size()) continue;
    std::map<std::string, std::string> found;
    bool match = true;
    for (size_t i = 0; i < segments.size() && match; ++i) {
      const std::string& want = pattern.segments[i];
      if (is_param(want)) {
        match = !segments[i].empty();
        found[want.substr(1, want.size() - 2)] = percent_decode(segments[i]);
      } else {
        match = want == segments[i];
      }
    }
    if (!match) continue;
    *label = pattern.path;
    *params = std::move(found);
    return &pattern.methods;
  }
  return nullptr;
}

const RouteAccess* Router::Access(const std::string& method, const std::string& path) const {
  std::string label;
  std::map<std::string, std::string> params;
  const Methods* methods = Match(path, &label, &params);
  if (methods == nullptr) return nullptr;
  auto found = methods->find(method);
  return found == methods->end() ? nullptr : &found->second.access;
}

std::string Router::Dispatch(const Request& request, Respond respond) const {
  std::string label;
  std::map<std::string, std::string> params;
  const Methods* methods = Match(request.path, &label, &params);
  if (methods == nullptr) {
    respond(error_reply(404, "not_found", "no route " + request.path));
    return "unmatched";
  }
  if (params.empty()) return Answer(*methods, label, request, std::move(respond));
  Request with_params = request;
  with_params.params = std::move(params);
  return Answer(*methods, label, with_params, std::move(respond));
}

std::string Router::Answer(const Methods& methods, const std::string& label, const Request& request,
                           Respond respond) {
  auto found = methods.find(request.method);
  if (found == methods.end()) {
    std::string allow;
    for (const auto& [method, unused] : methods) {
      allow += (allow.empty() ? "" : ", ") + method;
    }
    Reply reply = error_reply(405, "method_not_allowed",
                              request.method + " " + request.path + ": use " + allow);
    reply.headers.emplace_back("Allow", allow);
    respond(std::move(reply));
    return label;
  }
  found->second.handler(request, std::move(respond));
  return label;
}

}  // namespace pgthaw::server
