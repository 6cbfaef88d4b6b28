// collect_results: a state machine over backend messages; format_unaligned.
#include "pgwire/result.h"

#include "pgwire/wire_format.h"

namespace pgthaw::pgwire {
namespace {

// Builds results from messages in order.
class Collector {
 public:
  explicit Collector(ReplyInfo* info) : info_(info) {}

  Status add(const MessageView& m);
  std::vector<StatementResult> finish();

 private:
  void close_current() {
    results_.push_back(std::move(current_));
    current_ = StatementResult();
  }
  // True if the open result holds anything but notices.
  bool current_has_content() const {
    return !current_.fields.empty() || !current_.rows.empty() ||
           !current_.parameter_type_oids.empty() || current_.copy_out || current_.copy_in;
  }

  ReplyInfo* info_;
  std::vector<StatementResult> results_;
  StatementResult current_;
};

Status Collector::add(const MessageView& m) {
  namespace t = backend_type;
  switch (m.type) {
    case t::kRowDescription: {
      Result<std::vector<FieldDescription>> f = decode_row_description(m.payload);
      if (!f.ok()) return f.status();
      current_.fields = std::move(f).value();
      return Status::Ok();
    }
    case t::kDataRow: {
      Result<Row> row = decode_data_row(m.payload);
      if (!row.ok()) return row.status();
      current_.rows.push_back(std::move(row).value());
      return Status::Ok();
    }
    case t::kCommandComplete: {
      Result<std::string> tag = decode_command_complete(m.payload);
      if (!tag.ok()) return tag.status();
      current_.command_tag = std::move(tag).value();
      close_current();
      return Status::Ok();
    }
    case t::kEmptyQueryResponse:
    case t::kPortalSuspended:
      PGTHAW_RETURN_IF_ERROR(decode_empty(m));
      (m.type == t::kEmptyQueryResponse ? current_.empty_query : current_.suspended) = true;
      close_current();
      return Status::Ok();
    case t::kErrorResponse: {
      Result<ErrorFields> e = decode_error_fields(m.payload);
      if (!e.ok()) return e.status();
      current_.error = std::move(e).value();
      close_current();
      return Status::Ok();
    }
    case t::kNoticeResponse: {
      Result<ErrorFields> e = decode_error_fields(m.payload);
      if (!e.ok()) return e.status();
      current_.notices.push_back(std::move(e).value());
      return Status::Ok();
    }
    case t::kReadyForQuery: {
      Result<TransactionStatus> s = decode_ready_for_query(m.payload);
      if (!s.ok()) return s.status();
      if (info_) info_->ready_status = *s;
      return Status::Ok();
    }
    case t::kParameterDescription: {
      Result<std::vector<uint32_t>> oids = decode_parameter_description(m.payload);
      if (!oids.ok()) return oids.status();
      current_.parameter_type_oids = std::move(oids).value();
      return Status::Ok();
    }
    case t::kCopyOutResponse:
    case t::kCopyBothResponse:
    case t::kCopyInResponse: {
      Result<CopyResponse> c = decode_copy_response(m.payload);
      if (!c.ok()) return c.status();
      (m.type == t::kCopyInResponse ? current_.copy_in : current_.copy_out) = *c;
      return Status::Ok();
    }
    case t::kCopyData:
      current_.copy_out_data.append(m.payload);
      return Status::Ok();
    case t::kParameterStatus: {
      Result<ParameterStatus> p = decode_parameter_status(m.payload);
      if (!p.ok()) return p.status();
      if (info_) info_->parameter_statuses.push_back(std::move(p).value());
      return Status::Ok();
    }
    case t::kNotificationResponse: {
      Result<Notification> n = decode_notification(m.payload);
      if (!n.ok()) return n.status();
      if (info_) info_->notifications.push_back(std::move(n).value());
      return Status::Ok();
    }
    case t::kParseComplete:
    case t::kBindComplete:
    case t::kCloseComplete:
    case t::kNoData:
    case t::kCopyDone:
      return decode_empty(m);
    case t::kBackendKeyData:
      return decode_backend_key_data(m.payload).status();
    case t::kAuthentication:
      return decode_authentication(m.payload).status();
    case t::kNegotiateProtocolVersion:
      return decode_negotiate_protocol_version(m.payload).status();
    default:
      return Status::InvalidArgument("unexpected backend message " + describe_type(m.type));
  }
}

std::vector<StatementResult> Collector::finish() {
  if (current_has_content()) {
    current_.complete = false;
    close_current();
  } else if (!current_.notices.empty()) {
    if (info_) info_->trailing_notices = std::move(current_.notices);
  }
  return std::move(results_);
}

}  // namespace

Result<std::vector<StatementResult>> collect_results(std::string_view backend_bytes,
                                                     ReplyInfo* info) {
  if (info) *info = ReplyInfo();
  Result<std::vector<MessageView>> messages = split_messages(backend_bytes);
  if (!messages.ok()) return messages.status();
  Collector c(info);
  for (const MessageView& m : *messages) PGTHAW_RETURN_IF_ERROR(c.add(m));
  return c.finish();
}

std::string format_unaligned(const StatementResult& result) {
  std::string out;
  for (const Row& row : result.rows) {
    if (row.empty()) continue;
    for (size_t i = 0; i < row.size(); ++i) {
      if (i > 0) out.push_back('|');
      if (row[i]) out.append(*row[i]);
    }
    out.push_back('\n');
  }
  return out;
}

}  // namespace pgthaw::pgwire
