#include "dumpfile/sql_script.h"

#include <array>
#include <string_view>

#include "dumpfile/script_input.h"

namespace pgthaw::dumpfile {

namespace {

constexpr int kEnd = ScriptInput::kEnd;
// Longer "tags" are taken for ordinary text (Postgres sets no limit, but no
// dump has such a tag, and the tag is held while the quote is open).
constexpr size_t kMaxDollarTagBytes = 4096;

bool is_space(int c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}
bool is_digit(int c) { return c >= '0' && c <= '9'; }
// Postgres' ident_start and ident_cont (scan.l); bytes >= 0x80 are letters.
bool is_ident_start(int c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c >= 0x80;
}
bool is_ident_cont(int c) { return is_ident_start(c) || is_digit(c) || c == '$'; }
// A dollar quote's tag: like an identifier, without '$'.
bool is_tag_cont(int c) { return is_ident_start(c) || is_digit(c); }

std::string lower_ascii(std::string_view word) {
  std::string out(word);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

// Splits one SQL statement off the input, following the lexical rules of
// Postgres' scanner that decide where a statement ends, and psql's rules
// for parentheses and BEGIN ... END bodies.
class StatementLexer {
 public:
  StatementLexer(ScriptInput& input, size_t max_bytes) : in_(input), max_bytes_(max_bytes) {}

  enum class Outcome { kStatement, kMetaCommand, kEnd };

  // Reads up to the end of a statement, or to a backslash that starts a
  // meta-command (consumed), or to the end of the file.
  Result<Outcome> Run();

  ScriptStatement& statement() { return statement_; }

 private:
  enum class State {
    kNormal,
    kLineComment,
    kBlockComment,
    kQuoted,        // '...'
    kEscapeQuoted,  // E'...'
    kIdentifier,    // "..."
    kDollarTag,     // after a '$' that may open a dollar quote
    kDollarQuoted,
  };

  void Append(int c) {
    if (has_content_) statement_.text.push_back(static_cast<char>(c));
  }
  // The first byte of the statement itself (not whitespace or a comment).
  void StartContent() {
    if (has_content_) return;
    has_content_ = true;
    statement_.line = in_.line();
  }
  // Any token but a word: "FROM" must be right before "stdin".
  void OtherToken() {
    last_word_from_ = false;
    begin_pending_ = false;
  }
  void EndWord();
  bool InRoutineDefinition() const;
  Status EndOfFileInside(const char* what) const;
  // Handles `c` in the normal state; false when it ends the statement.
  bool Normal(int c);

  ScriptInput& in_;
  size_t max_bytes_;
  ScriptStatement statement_;
  State state_ = State::kNormal;
  bool has_content_ = false;
  int previous_ = 0;  // the byte before `c` in the normal state
  int paren_depth_ = 0;
  int begin_depth_ = 0;
  bool begin_pending_ = false;  // the last word was BEGIN
  int comment_depth_ = 0;
  bool in_word_ = false;
  std::string word_;
  int word_count_ = 0;
  std::array<std::string, 4> first_words_;  // lower case
  bool last_word_from_ = false;
  std::string tag_;         // of the open dollar quote
  int close_matched_ = -1;  // tag bytes matched after a '$' inside it
  int pending_ = kEnd - 1;  // a byte to handle again, if >= kEnd
  bool meta_command_ = false;
};

bool StatementLexer::InRoutineDefinition() const {
  auto routine = [](const std::string& w) { return w == "function" || w == "procedure"; };
  return first_words_[0] == "create" &&
         (routine(first_words_[1]) ||
          (first_words_[1] == "or" && first_words_[2] == "replace" && routine(first_words_[3])));
}

void StatementLexer::EndWord() {
  in_word_ = false;
  const std::string word = lower_ascii(word_);
  if (word_count_ < static_cast<int>(first_words_.size())) first_words_[word_count_] = word;
  ++word_count_;
  // psql's heuristic: in CREATE [OR REPLACE] FUNCTION|PROCEDURE, a BEGIN
  // ATOMIC outside parentheses opens a body that ends at its END, with
  // CASE ... END nested inside. (psql takes any BEGIN; requiring ATOMIC
  // also lets a function be named begin.)
  const bool after_begin = begin_pending_;
  begin_pending_ = false;
  if (InRoutineDefinition() && paren_depth_ == 0) {
    if (word == "begin") {
      begin_pending_ = true;
    } else if (word == "atomic") {
      if (after_begin) ++begin_depth_;
    } else if (word == "case") {
      if (begin_depth_ > 0) ++begin_depth_;
    } else if (word == "end") {
      if (begin_depth_ > 0) --begin_depth_;
    }
  }
  if (first_words_[0] == "copy" && paren_depth_ == 0) {
    if (last_word_from_ && word == "stdin") statement_.copy_from_stdin = true;
    last_word_from_ = word == "from";
  } else {
    last_word_from_ = false;
  }
}

Status StatementLexer::EndOfFileInside(const char* what) const {
  return Status::Corruption(in_.path() + ": the file ends inside " + what +
                            " of the statement at line " + std::to_string(statement_.line));
}

bool StatementLexer::Normal(int c) {
  if (in_word_) {
    if (is_ident_cont(c)) {
      word_.push_back(static_cast<char>(c));
      Append(c);
      previous_ = c;
      return true;
    }
    if (c == '\'' && (word_ == "e" || word_ == "E")) {
      // E'...': the E belongs to the literal, it is no word.
      in_word_ = false;
      OtherToken();
      Append(c);
      state_ = State::kEscapeQuoted;
      return true;
    }
    EndWord();
  }
  const int before = previous_;
  previous_ = c;
  if (is_space(c)) {
    Append(c);
    return true;
  }
  if (c == '-' && in_.Peek() == '-') {
    Append(c);
    Append(in_.Get());
    state_ = State::kLineComment;
    return true;
  }
  if (c == '/' && in_.Peek() == '*') {
    Append(c);
    Append(in_.Get());
    comment_depth_ = 1;
    state_ = State::kBlockComment;
    return true;
  }
  if (!has_content_ && c == '\\') {
    meta_command_ = true;
    return false;
  }
  StartContent();
  Append(c);
  if (is_ident_start(c) && !is_digit(before)) {
    in_word_ = true;
    word_.assign(1, static_cast<char>(c));
    return true;
  }
  switch (c) {
    case '\'':
      OtherToken();
      state_ = State::kQuoted;
      return true;
    case '"':
      OtherToken();
      state_ = State::kIdentifier;
      return true;
    case '$':
      OtherToken();
      tag_.clear();
      state_ = State::kDollarTag;
      return true;
    case '(':
      OtherToken();
      ++paren_depth_;
      return true;
    case ')':
      OtherToken();
      if (paren_depth_ > 0) --paren_depth_;
      return true;
    case ';':
      OtherToken();
      return paren_depth_ > 0 || begin_depth_ > 0;
    default:
      if (!is_digit(c)) OtherToken();
      return true;
  }
}

Result<StatementLexer::Outcome> StatementLexer::Run() {
  for (;;) {
    int c;
    if (pending_ >= kEnd) {
      c = pending_;
      pending_ = kEnd - 1;
    } else {
      c = in_.Get();
    }
    if (statement_.text.size() > max_bytes_) {
      return Status::InvalidArgument(in_.path() + ": the statement at line " +
                                     std::to_string(statement_.line) + " is longer than " +
                                     std::to_string(max_bytes_) + " bytes");
    }
    if (c == kEnd) {
      PGTHAW_RETURN_IF_ERROR(in_.status());
      switch (state_) {
        case State::kNormal:
        case State::kLineComment:
        case State::kDollarTag:
          break;
        case State::kBlockComment:
          if (!has_content_) break;  // a dangling comment after the last statement
          return EndOfFileInside("a /* comment */");
        case State::kQuoted:
        case State::kEscapeQuoted:
          return EndOfFileInside("a string literal");
        case State::kIdentifier:
          return EndOfFileInside("a quoted identifier");
        case State::kDollarQuoted:
          return EndOfFileInside("a dollar-quoted string");
      }
      if (in_word_) EndWord();
      if (!has_content_) return Outcome::kEnd;
      while (!statement_.text.empty() && is_space(statement_.text.back())) {
        statement_.text.pop_back();
      }
      return Outcome::kStatement;
    }
    switch (state_) {
      case State::kNormal:
        if (!Normal(c)) return meta_command_ ? Outcome::kMetaCommand : Outcome::kStatement;
        break;
      case State::kLineComment:
        Append(c);
        if (c == '\n') state_ = State::kNormal;
        break;
      case State::kBlockComment:
        Append(c);
        if (c == '/' && in_.Peek() == '*') {
          Append(in_.Get());
          ++comment_depth_;
        } else if (c == '*' && in_.Peek() == '/') {
          Append(in_.Get());
          if (--comment_depth_ == 0) state_ = State::kNormal;
        }
        break;
      case State::kQuoted:
      case State::kIdentifier: {
        Append(c);
        const int quote = state_ == State::kQuoted ? '\'' : '"';
        if (c == quote) {
          if (in_.Peek() == quote) {
            Append(in_.Get());  // doubled: part of the text
          } else {
            state_ = State::kNormal;
          }
        }
        break;
      }
      case State::kEscapeQuoted:
        Append(c);
        if (c == '\\') {
          if (int next = in_.Get(); next != kEnd) Append(next);
        } else if (c == '\'') {
          if (in_.Peek() == '\'') {
            Append(in_.Get());
          } else {
            state_ = State::kNormal;
          }
        }
        break;
      case State::kDollarTag:
        if (c == '$') {
          Append(c);
          close_matched_ = -1;
          state_ = State::kDollarQuoted;
        } else if (is_tag_cont(c) && !(tag_.empty() && is_digit(c)) &&
                   tag_.size() < kMaxDollarTagBytes) {
          Append(c);
          tag_.push_back(static_cast<char>(c));
        } else {
          // Not a dollar quote ($1 is a parameter): what followed the '$'
          // is ordinary text, and `c` is handled as such.
          state_ = State::kNormal;
          previous_ = tag_.empty() ? '$' : tag_.back();
          pending_ = c;
        }
        break;
      case State::kDollarQuoted:
        Append(c);
        if (close_matched_ >= 0) {
          if (static_cast<size_t>(close_matched_) == tag_.size()) {
            if (c == '$') {
              state_ = State::kNormal;
              previous_ = c;
              break;
            }
            close_matched_ = -1;
          } else if (c == tag_[close_matched_]) {
            ++close_matched_;
            break;
          } else {
            close_matched_ = -1;
          }
        }
        if (c == '$') close_matched_ = 0;
        break;
    }
  }
}

}  // namespace

Result<std::unique_ptr<SqlScript>> SqlScript::Open(const std::string& path,
                                                   size_t max_statement_bytes) {
  auto input = ScriptInput::Open(path);
  if (!input.ok()) return input.status();
  return std::unique_ptr<SqlScript>(new SqlScript(std::move(input).value(), max_statement_bytes));
}

SqlScript::SqlScript(std::unique_ptr<ScriptInput> input, size_t max_statement_bytes)
    : input_(std::move(input)), max_statement_bytes_(max_statement_bytes) {}

SqlScript::~SqlScript() = default;

Result<std::optional<ScriptStatement>> SqlScript::Next() {
  if (in_copy_) {
    // The caller did not want the rest of the COPY data.
    std::string skipped;
    for (;;) {
      skipped.clear();
      auto more = ReadCopyData(skipped, 1024 * 1024);
      if (!more.ok()) return more.status();
      if (!*more) break;
    }
  }
  StatementLexer lexer(*input_, max_statement_bytes_);
  auto outcome = lexer.Run();
  if (!outcome.ok()) return outcome.status();
  if (*outcome == StatementLexer::Outcome::kEnd) return std::optional<ScriptStatement>();
  if (*outcome == StatementLexer::Outcome::kMetaCommand) {
    auto meta = ReadMetaCommand();
    if (!meta.ok()) return meta.status();
    return std::optional<ScriptStatement>(std::move(meta).value());
  }
  ScriptStatement& statement = lexer.statement();
  if (statement.copy_from_stdin) {
    PGTHAW_RETURN_IF_ERROR(FinishCopyStatementLine());
    in_copy_ = true;
    copy_at_line_start_ = true;
    copy_line_ = statement.line;
  }
  return std::optional<ScriptStatement>(std::move(statement));
}

// The rest of a line whose backslash the lexer consumed.
Result<ScriptStatement> SqlScript::ReadMetaCommand() {
  ScriptStatement meta;
  meta.line = input_->line();
  meta.text = "\\";
  for (int c; (c = input_->Get()) != kEnd && c != '\n';) {
    meta.text.push_back(static_cast<char>(c));
    if (meta.text.size() > max_statement_bytes_) {
      return Status::InvalidArgument(input_->path() + ": the meta-command at line " +
                                     std::to_string(meta.line) + " is longer than " +
                                     std::to_string(max_statement_bytes_) + " bytes");
    }
  }
  PGTHAW_RETURN_IF_ERROR(input_->status());
  if (!meta.text.empty() && meta.text.back() == '\r') meta.text.pop_back();
  size_t name_end = 1;
  while (name_end < meta.text.size() && !is_space(meta.text[name_end])) ++name_end;
  const std::string_view name = std::string_view(meta.text).substr(1, name_end - 1);
  if (name == "restrict" || name == "unrestrict") {
    meta.kind = ScriptStatementKind::kRestrict;
  } else if (name == "connect" || name == "c") {
    meta.kind = ScriptStatementKind::kConnect;
  } else {
    meta.kind = ScriptStatementKind::kMeta;
  }
  return meta;
}

// COPY data starts on the line after "COPY ... FROM stdin;".
Status SqlScript::FinishCopyStatementLine() {
  const uint64_t line = input_->line();
  for (int c; (c = input_->Get()) != kEnd && c != '\n';) {
    if (!is_space(c)) {
      return Status::Corruption(input_->path() + ": line " + std::to_string(line) +
                                ": text after COPY ... FROM stdin; where its data should begin");
    }
  }
  return input_->status();
}

Result<bool> SqlScript::ReadCopyData(std::string& chunk, size_t max_bytes) {
  if (!in_copy_) {
    return Status::InvalidArgument(input_->path() +
                                   ": no COPY ... FROM stdin statement has data to read");
  }
  if (max_bytes == 0) max_bytes = 1;
  ScriptInput& in = *input_;
  size_t added = 0;
  while (added < max_bytes) {
    if (copy_at_line_start_) {
      // The data ends at a line that is exactly "\." (psql also takes "\.\r").
      if (in.Peek(0) == '\\' && in.Peek(1) == '.') {
        const int after = in.Peek(2);
        size_t length = 0;
        if (after == '\n' || after == kEnd) {
          length = after == '\n' ? 3 : 2;
        } else if (after == '\r' && (in.Peek(3) == '\n' || in.Peek(3) == kEnd)) {
          length = in.Peek(3) == '\n' ? 4 : 3;
        }
        if (length > 0) {
          for (size_t i = 0; i < length; ++i) in.Get();
          in_copy_ = false;
          return false;
        }
      }
    }
    bool ended_line = false;
    const size_t n = in.ReadLinePart(chunk, max_bytes, ended_line);
    if (n == 0) {
      PGTHAW_RETURN_IF_ERROR(in.status());
      return Status::Corruption(in.path() + ": line " + std::to_string(in.line()) +
                                ": the file ends in the COPY data of the statement at line " +
                                std::to_string(copy_line_) + ", before its \\. line");
    }
    added += n;
    copy_at_line_start_ = ended_line;
  }
  return true;
}

}  // namespace pgthaw::dumpfile
