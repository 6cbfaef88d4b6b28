#include "server/pg_sql_scan.h"

#include <cctype>
#include <string>

namespace pgthaw::server {
namespace {

struct Token {
  enum Kind { kWord, kQuotedIdent, kString, kPunct, kOther } kind = kOther;
  std::string text;  // kWord lowercased; kString/kQuotedIdent unquoted; kPunct the char
  size_t begin = 0;  // where it starts in the text
  size_t end = 0;    // where it ends
};

bool is_ident_start(char c) {
  return std::isalpha(static_cast<unsigned char>(c)) != 0 || c == '_' ||
         static_cast<unsigned char>(c) >= 0x80;
}
bool is_ident_char(char c) {
  return is_ident_start(c) || std::isdigit(static_cast<unsigned char>(c)) != 0 || c == '$';
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Splits `sql` into statements of tokens. Comments vanish; an unterminated
// string or comment runs to the end of the text.
std::vector<std::vector<Token>> scan(std::string_view sql) {
  std::vector<std::vector<Token>> statements(1);
  int depth = 0;
  size_t i = 0;
  const size_t n = sql.size();
  size_t start = 0;
  auto push = [&](Token::Kind kind, std::string text) {
    statements.back().push_back(Token{kind, std::move(text), start, start});
  };
  // A token's end is where the scan stands after the step that made it.
  auto set_end = [&] {
    if (!statements.back().empty() && statements.back().back().begin == start) {
      statements.back().back().end = i;
    }
  };
  while (i < n) {
    set_end();
    start = i;
    char c = sql[i];
    if (std::isspace(static_cast<unsigned char>(c)) != 0) {
      ++i;
    } else if (c == '-' && i + 1 < n && sql[i + 1] == '-') {
      while (i < n && sql[i] != '\n') ++i;
    } else if (c == '/' && i + 1 < n && sql[i + 1] == '*') {
      int nest = 0;  // Postgres block comments nest
      do {
        if (sql.compare(i, 2, "/*") == 0) {
          ++nest;
          i += 2;
        } else if (sql.compare(i, 2, "*/") == 0) {
          --nest;
          i += 2;
        } else {
          ++i;
        }
      } while (i < n && nest > 0);
    } else if (c == '\'' || ((c == 'e' || c == 'E') && i + 1 < n && sql[i + 1] == '\'')) {
      bool backslash_escapes = c != '\'';
      if (backslash_escapes) ++i;
      ++i;
      std::string text;
      while (i < n) {
        if (backslash_escapes && sql[i] == '\\' && i + 1 < n) {
          text += sql[i + 1];
          i += 2;
        } else if (sql[i] == '\'' && i + 1 < n && sql[i + 1] == '\'') {
          text += '\'';
          i += 2;
        } else if (sql[i] == '\'') {
          ++i;
          break;
        } else {
          text += sql[i++];
        }
      }
      push(Token::kString, std::move(text));
    } else if (c == '"') {
      ++i;
      std::string text;
      while (i < n) {
        if (sql[i] == '"' && i + 1 < n && sql[i + 1] == '"') {
          text += '"';
          i += 2;
        } else if (sql[i] == '"') {
          ++i;
          break;
        } else {
          text += sql[i++];
        }
      }
      push(Token::kQuotedIdent, std::move(text));
    } else if (c == '$' && i + 1 < n && (sql[i + 1] == '$' || is_ident_start(sql[i + 1]))) {
      // $tag$ ... $tag$; `$1` (a parameter) is not a dollar quote.
      size_t end = i + 1;
      while (end < n && sql[end] != '$' && is_ident_char(sql[end])) ++end;
      if (end < n && sql[end] == '$') {
        std::string_view tag = sql.substr(i, end - i + 1);
        size_t close = sql.find(tag, end + 1);
        size_t body = end + 1;
        size_t stop = close == std::string_view::npos ? n : close;
        push(Token::kString, std::string(sql.substr(body, stop - body)));
        i = close == std::string_view::npos ? n : close + tag.size();
      } else {
        push(Token::kOther, std::string(sql.substr(i, end - i)));
        i = end;
      }
    } else if (is_ident_start(c)) {
      size_t start = i;
      while (i < n && is_ident_char(sql[i])) ++i;
      push(Token::kWord, lower(sql.substr(start, i - start)));
    } else if (c == ';' && depth == 0) {
      if (!statements.back().empty()) statements.emplace_back();
      ++i;
    } else if (c == '(' || c == ')' || c == ',' || c == '.' || c == ';') {
      if (c == '(') ++depth;
      if (c == ')' && depth > 0) --depth;
      push(Token::kPunct, std::string(1, c));
      ++i;
    } else {
      push(Token::kOther, std::string(1, c));
      ++i;
    }
  }
  set_end();
  if (statements.back().empty()) statements.pop_back();
  return statements;
}

bool is_word(const std::vector<Token>& t, size_t i, std::string_view word) {
  return i < t.size() && t[i].kind == Token::kWord && t[i].text == word;
}
}  // namespace

std::vector<ListenChange> listen_changes(std::string_view sql) {
  constexpr size_t kMaxNameBytes = 63;  // NAMEDATALEN - 1: Postgres truncates
  std::vector<ListenChange> out;
  for (const std::vector<Token>& statement : scan(sql)) {
    const bool listen = is_word(statement, 0, "listen");
    if (!listen && !is_word(statement, 0, "unlisten")) continue;
    if (statement.size() < 2) continue;
    const Token& name = statement[1];
    if (!listen && name.kind == Token::kOther && name.text == "*") {
      out.push_back(ListenChange{false, ""});
    } else if (name.kind == Token::kWord || name.kind == Token::kQuotedIdent) {
      out.push_back(ListenChange{listen, name.text.substr(0, kMaxNameBytes)});
    }
  }
  return out;
}

std::vector<SqlStatementName> sql_statement_names(std::string_view sql) {
  std::vector<SqlStatementName> out;
  auto name_at = [](const std::vector<Token>& t, size_t i) {
    return i < t.size() && (t[i].kind == Token::kWord || t[i].kind == Token::kQuotedIdent);
  };
  auto add = [&](const std::vector<Token>& t, size_t i, SqlStatementName::Use use) {
    SqlStatementName found;
    found.use = use;
    found.name = t[i].text;
    found.begin = t[i].begin;
    found.end = t[i].end;
    found.statement_begin = t.front().begin;
    found.statement_end = t.back().end;
    out.push_back(std::move(found));
  };
  for (const std::vector<Token>& t : scan(sql)) {
    if (t.empty()) continue;
    if (is_word(t, 0, "prepare") && name_at(t, 1)) {
      add(t, 1, SqlStatementName::kPrepare);
    } else if (is_word(t, 0, "execute") && name_at(t, 1)) {
      add(t, 1, SqlStatementName::kExecute);
    } else if (is_word(t, 0, "deallocate")) {
      size_t i = is_word(t, 1, "prepare") ? 2 : 1;
      if (is_word(t, i, "all")) {
        add(t, i, SqlStatementName::kDeallocateAll);
      } else if (name_at(t, i)) {
        add(t, i, SqlStatementName::kDeallocate);
      }
    } else if (is_word(t, 0, "explain") || is_word(t, 0, "create")) {
      // EXPLAIN [options] EXECUTE name; CREATE TABLE ... AS EXECUTE name.
      for (size_t i = 1; i + 1 < t.size(); ++i) {
        if (is_word(t, i, "execute") && name_at(t, i + 1) &&
            (is_word(t, 0, "explain") || is_word(t, i - 1, "as"))) {
          add(t, i + 1, SqlStatementName::kExecute);
          break;
        }
      }
    }
  }
  return out;
}

}  // namespace pgthaw::server
